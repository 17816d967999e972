package kernel

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mirror is a test kernel mirror: v6.x/sha256sums.asc and one tarball,
// linux-6.12.7.tar.xz, of random bytes; tarball, when set, answers the
// tarball's requests instead of serving it whole.
type mirror struct {
	data    []byte
	sums    string
	tarball func(w http.ResponseWriter, r *http.Request, n int) bool // false: serve normally
	mu      sync.Mutex
	ranges  []string // the Range header of each tarball request
}

func newMirror(t *testing.T, size int) (*mirror, *httptest.Server) {
	t.Helper()
	m := &mirror{data: make([]byte, size)}
	rand.Read(m.data)
	sum := sha256.Sum256(m.data)
	m.sums = fmt.Sprintf("%s  linux-6.12.7.tar.xz\n", hex.EncodeToString(sum[:]))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v6.x/sha256sums.asc":
			w.Write([]byte(m.sums))
		case "/v6.x/linux-6.12.7.tar.xz":
			m.mu.Lock()
			m.ranges = append(m.ranges, r.Header.Get("Range"))
			n := len(m.ranges)
			m.mu.Unlock()
			if m.tarball != nil && m.tarball(w, r, n) {
				return
			}
			http.ServeContent(w, r, "linux-6.12.7.tar.xz", time.Time{}, bytes.NewReader(m.data))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return m, srv
}

func (m *mirror) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ranges...)
}

// dropAfter sends the headers of the whole tarball and its first n bytes,
// then closes the connection.
func (m *mirror) dropAfter(t *testing.T, w http.ResponseWriter, n int) {
	w.Header().Set("Content-Length", fmt.Sprint(len(m.data)))
	w.WriteHeader(http.StatusOK)
	w.Write(m.data[:n])
	w.(http.Flusher).Flush()
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

func testDownloader(srv *httptest.Server, dir string, progress *bytes.Buffer) *downloader {
	d := &downloader{mirror: srv.URL, dir: dir, client: srv.Client(), attempts: 3, backoff: time.Millisecond}
	if progress != nil {
		d.progress = progress
	}
	return d
}

// TestDownloadResumes: the connection drops mid-body; the next try asks
// for the rest with a Range request from what arrived, and the file is the
// mirror's, byte for byte.
func TestDownloadResumes(t *testing.T) {
	m, srv := newMirror(t, 1<<20)
	m.tarball = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n > 1 {
			return false
		}
		m.dropAfter(t, w, 300<<10)
		return true
	}
	var progress bytes.Buffer
	d := testDownloader(srv, t.TempDir(), &progress)
	path, _, _, err := d.fetch(context.Background(), "6.12")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, progress.String())
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, m.data) {
		t.Errorf("the resumed download differs from the mirror's file (%d bytes, want %d)", len(b), len(m.data))
	}
	reqs := m.requests()
	if len(reqs) != 2 || reqs[0] != "" || !strings.HasPrefix(reqs[1], "bytes=") || reqs[1] == "bytes=0-" {
		t.Errorf("tarball requests' Range headers %q; want none, then bytes=N- with N > 0", reqs)
	}
	for _, want := range []string{"try 2 of 3", "resuming linux-6.12.7.tar.xz at "} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, progress.String())
		}
	}
	if parts, _ := filepath.Glob(filepath.Join(d.dir, "*.part*")); len(parts) > 0 {
		t.Errorf("partial downloads left: %v", parts)
	}
}

// TestDownloadResumesNextRun: a run that gives up keeps what arrived and
// says so; the next run asks only for the rest.
func TestDownloadResumesNextRun(t *testing.T) {
	m, srv := newMirror(t, 1<<20)
	var broken atomic.Bool
	broken.Store(true)
	m.tarball = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if !broken.Load() {
			return false
		}
		if r.Header.Get("Range") != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		m.dropAfter(t, w, 200<<10)
		return true
	}
	dir := t.TempDir()
	d := testDownloader(srv, dir, &bytes.Buffer{})
	_, _, _, err := d.fetch(context.Background(), "6.12.7")
	part := filepath.Join(dir, "linux-6.12.7.tar.xz.part")
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 tries") || !strings.Contains(err.Error(), "kept in "+part) ||
		!strings.Contains(err.Error(), "the next run resumes them") {
		t.Fatalf("fetch from a broken mirror: %v; want it to give up and keep %s", err, part)
	}
	st, err := os.Stat(part)
	if err != nil || st.Size() == 0 {
		t.Fatalf("the partial download was not kept: %v", err)
	}
	broken.Store(false)
	path, _, _, err := d.fetch(context.Background(), "6.12.7")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, m.data) {
		t.Error("the download resumed in the next run differs from the mirror's file")
	}
	reqs := m.requests()
	if last := reqs[len(reqs)-1]; last != fmt.Sprintf("bytes=%d-", st.Size()) {
		t.Errorf("the next run asked for %q; want bytes=%d-", last, st.Size())
	}
}

// TestDownloadRetries: 503 twice, then the file; both the checksum list
// and the tarball are retried.
func TestDownloadRetries(t *testing.T) {
	m, srv := newMirror(t, 64<<10)
	m.tarball = func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n > 2 {
			return false
		}
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	}
	var progress bytes.Buffer
	d := testDownloader(srv, t.TempDir(), &progress)
	path, _, _, err := d.fetch(context.Background(), "6.12.7")
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, m.data) {
		t.Error("the download differs from the mirror's file")
	}
	if n := len(m.requests()); n != 3 {
		t.Errorf("%d tarball requests, want 3", n)
	}
	if !strings.Contains(progress.String(), "503 Service Unavailable; try 3 of 3 in ") {
		t.Errorf("progress does not say why and when it tries again:\n%s", progress.String())
	}
}

// TestDownloadGivesUp: a mirror that keeps failing is given up after the
// bounded tries, with the status and the count; a 404 is not retried.
func TestDownloadGivesUp(t *testing.T) {
	m, srv := newMirror(t, 1024)
	m.tarball = func(w http.ResponseWriter, r *http.Request, n int) bool {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return true
	}
	d := testDownloader(srv, t.TempDir(), nil)
	_, _, _, err := d.fetch(context.Background(), "6.12.7")
	if err == nil || !strings.Contains(err.Error(), "502 Bad Gateway (gave up after 3 tries)") {
		t.Errorf("fetch: %v; want 502 and the tries", err)
	}
	if parts, _ := filepath.Glob(filepath.Join(d.dir, "*.part*")); len(parts) > 0 {
		t.Errorf("an empty partial download was left: %v", parts)
	}
	m.tarball = func(w http.ResponseWriter, r *http.Request, n int) bool {
		http.NotFound(w, r)
		return true
	}
	before := len(m.requests())
	_, _, _, err = d.fetch(context.Background(), "6.12.7")
	if err == nil || !strings.Contains(err.Error(), "404 Not Found") || strings.Contains(err.Error(), "gave up") {
		t.Errorf("fetch of a missing file: %v; want 404 at once", err)
	}
	if n := len(m.requests()) - before; n != 1 {
		t.Errorf("a 404 was asked %d times, want once", n)
	}
}

// TestDownloadMismatchRemovesPart: a tarball whose sha256 is not the
// list's is an error, and what was downloaded is removed, not resumed.
func TestDownloadMismatchRemovesPart(t *testing.T) {
	m, srv := newMirror(t, 4096)
	m.sums = strings.Repeat("0", 64) + "  linux-6.12.7.tar.xz\n"
	d := testDownloader(srv, t.TempDir(), nil)
	_, _, _, err := d.fetch(context.Background(), "6.12.7")
	if err == nil || !strings.Contains(err.Error(), "does not match the mirror's "+strings.Repeat("0", 64)+" (removed the download)") {
		t.Errorf("fetch: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(d.dir, "*")); len(left) > 0 {
		t.Errorf("left after a mismatch: %v", left)
	}
}

// gpgHome is a throwaway GnuPG home with one signing key; its agent is
// stopped when the test ends.
type gpgHome struct {
	dir string
	fpr string
}

func newGPGHome(t *testing.T, name string) *gpgHome {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		t.Skip("gpg not installed (Debian: gnupg; scripts/install-deps.sh test): the signature checks are not tested")
	}
	if _, err := exec.LookPath("gpgv"); err != nil {
		t.Skip("gpgv not installed (Debian: gpgv): the signature checks are not tested")
	}
	h := &gpgHome{dir: t.TempDir()}
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", h.dir, "--kill", "all").Run() })
	h.gpg(t, nil, "--quick-gen-key", name+" <"+name+"@ktstr.invalid>", "ed25519", "sign", "never")
	out := h.gpg(t, nil, "--with-colons", "--list-keys")
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Split(l, ":"); len(f) > 9 && f[0] == "fpr" {
			h.fpr = f[9]
			break
		}
	}
	if h.fpr == "" {
		t.Fatalf("no fingerprint in %s", out)
	}
	return h
}

func (h *gpgHome) gpg(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("gpg", append([]string{"--homedir", h.dir, "--batch", "--passphrase", "", "--pinentry-mode", "loopback"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// export writes the public key to a keyring file, binary or armoured.
func (h *gpgHome) export(t *testing.T, armor bool) string {
	t.Helper()
	args := []string{"--export"}
	if armor {
		args = []string{"--armor", "--export"}
	}
	p := filepath.Join(t.TempDir(), "keyring")
	if err := os.WriteFile(p, h.gpg(t, nil, args...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSignedSums: with a keyring the checksum list must carry a good
// signature by one of its keys, and only its signed text counts; without
// one the download says in one line that the signature was not checked.
func TestSignedSums(t *testing.T) {
	signer := newGPGHome(t, "autosigner")
	other := newGPGHome(t, "other")
	m, srv := newMirror(t, 4096)
	clear := string(m.sums)
	signed := string(signer.gpg(t, []byte(clear), "--clearsign"))
	ctx := context.Background()

	for _, armor := range []bool{false, true} {
		m.sums = signed
		var progress bytes.Buffer
		d := testDownloader(srv, t.TempDir(), &progress)
		d.keyring = signer.export(t, armor)
		if _, _, _, err := d.fetch(ctx, "6.12.7"); err != nil {
			t.Errorf("good signature (armoured keyring %v): %v", armor, err)
		}
		if !strings.Contains(progress.String(), "sha256sums.asc: good signature by "+signer.fpr) {
			t.Errorf("progress does not name the signer %s:\n%s", signer.fpr, progress.String())
		}
	}

	// A line before the signed part is not signed: it must not count.
	other8 := strings.Repeat("e", 64) + "  linux-6.12.8.tar.xz\n"
	m.sums = other8 + signed
	d := testDownloader(srv, t.TempDir(), nil)
	d.keyring = signer.export(t, false)
	if _, _, url, err := d.fetch(ctx, "6.12"); err != nil || !strings.HasSuffix(url, "linux-6.12.7.tar.xz") {
		t.Errorf("an unsigned line was taken: got %s, %v; want 6.12.7, the only signed release", url, err)
	}

	refused := []struct {
		name, sums, keyring, want string
	}{
		{"tampered", strings.Replace(signed, clear[:8], "00000000", 1), signer.export(t, false), "bad signature by key "},
		{"other key", string(other.gpg(t, []byte(clear), "--clearsign")), signer.export(t, false), "which the keyring "},
		{"unsigned", clear, signer.export(t, false), "no OpenPGP signature in it; refused"},
		{"no keyring file", signed, filepath.Join(t.TempDir(), "nonexistent.gpg"), KeyringEnv + ": open "},
	}
	for _, c := range refused {
		m.sums = c.sums
		d := testDownloader(srv, t.TempDir(), nil)
		d.keyring = c.keyring
		_, _, _, err := d.fetch(ctx, "6.12.7")
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v; want one line containing %q", c.name, err, c.want)
		}
		if left, _ := filepath.Glob(filepath.Join(d.dir, "*")); len(left) > 0 {
			t.Errorf("%s: downloaded %v after the list was refused", c.name, left)
		}
	}
}

// TestUncheckedSignatureSaid: without a keyring the one line says the
// signature was not checked and how to have it checked; a keyring without
// gpgv is refused, naming gpgv.
func TestUncheckedSignatureSaid(t *testing.T) {
	_, srv := newMirror(t, 1024)
	var progress bytes.Buffer
	d := testDownloader(srv, t.TempDir(), &progress)
	if _, _, _, err := d.fetch(context.Background(), "6.12.7"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "sha256sums.asc was not checked: no keyring (set "+KeyringEnv) {
		t.Errorf("progress %q; want one line saying the signature was not checked and why", lines)
	}
	t.Setenv("PATH", t.TempDir())
	d = testDownloader(srv, t.TempDir(), nil)
	d.keyring = "/nonexistent"
	if _, _, _, err := d.fetch(context.Background(), "6.12.7"); err == nil || !strings.Contains(err.Error(), "needs gpgv, which is not installed") {
		t.Errorf("a keyring without gpgv: %v", err)
	}
}

func TestDearmor(t *testing.T) {
	raw := []byte("\x99\x00\x33some key packets")
	armored := "-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\n\n" + base64Lines(raw) + "=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n"
	if got, err := dearmor([]byte(armored)); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("dearmor = %q, %v", got, err)
	}
	if _, err := dearmor([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n")); err == nil {
		t.Error("a block without its END line was accepted")
	}
}

func base64Lines(b []byte) string {
	var s strings.Builder
	enc := []byte(base64.StdEncoding.EncodeToString(b))
	for len(enc) > 64 {
		s.Write(enc[:64])
		s.WriteByte('\n')
		enc = enc[64:]
	}
	s.Write(enc)
	s.WriteByte('\n')
	return s.String()
}
