package kernel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ktstr-go/ktstr/internal/fileutil"
)

// DefaultMirror follows kernel.org's layout: MIRROR/v6.x/linux-6.12.117.tar.xz
// next to MIRROR/v6.x/sha256sums.asc.
const DefaultMirror = "https://cdn.kernel.org/pub/linux/kernel"

// mirrorListing is the sha256 list of one major series on a mirror:
// tarball name → sha256.
type mirrorListing map[string]string

var sumLine = regexp.MustCompile(`^([0-9a-f]{64})\s+(linux-\d+\.\d+(?:\.\d+)?\.tar\.xz)$`)

// parseSums parses a sha256sums(.asc) file; PGP armour lines are ignored.
func parseSums(r io.Reader) (mirrorListing, error) {
	l := mirrorListing{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if m := sumLine.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			l[m[2]] = m[1]
		}
	}
	return l, sc.Err()
}

// pick returns the tarball for version: the exact release for "6.12.117",
// the highest patch release for "6.12".
func (l mirrorListing) pick(version string) (name, sum string, ok bool) {
	if strings.Count(version, ".") >= 2 {
		name = "linux-" + version + ".tar.xz"
		sum, ok = l[name]
		return name, sum, ok
	}
	best := -1
	for n, s := range l {
		rest, found := strings.CutPrefix(n, "linux-"+version)
		if !found {
			continue
		}
		rest = strings.TrimSuffix(rest, ".tar.xz")
		patch := 0
		if rest != "" {
			p, err := strconv.Atoi(strings.TrimPrefix(rest, "."))
			if err != nil || !strings.HasPrefix(rest, ".") {
				continue
			}
			patch = p
		}
		if patch > best {
			best, name, sum = patch, n, s
		}
	}
	return name, sum, best >= 0
}

// downloader fetches kernel tarballs from a mirror into the cache.
type downloader struct {
	mirror   string
	dir      string
	client   *http.Client
	progress io.Writer
	tty      bool
	// keyring is a GnuPG keyring holding the key that signs the mirror's
	// sha256sums.asc (kernel.org's checksum autosigner); empty: the
	// signature is not checked, and progress says so.
	keyring string
	// lock, if set, serialises downloads of one tarball across processes:
	// they share its .part file.
	lock func(ctx context.Context, name string) (unlock func(), err error)
	// attempts bounds the tries of one request (default 5); backoff is the
	// wait before the second, doubled for each further one (default 2 s,
	// at most 30 s).
	attempts int
	backoff  time.Duration
}

// fetch downloads the tarball for version, verifies its sha256 against the
// mirror's list and returns its path, sha256 and URL. A verified earlier
// download is reused; an interrupted one (the .part file beside it) is
// resumed where it stopped.
func (d *downloader) fetch(ctx context.Context, version string) (path, sum, url string, err error) {
	major := strings.SplitN(version, ".", 2)[0]
	base := strings.TrimRight(d.mirror, "/") + "/v" + major + ".x/"
	listing, err := d.listing(ctx, base+"sha256sums.asc")
	if err != nil {
		return "", "", "", err
	}
	name, sum, ok := listing.pick(version)
	if !ok {
		return "", "", "", &SpecError{version, fmt.Sprintf("unknown version: %s lists no %s tarball", base, version)}
	}
	url = base + name
	path = filepath.Join(d.dir, name)
	if got, err := fileutil.SHA256(path); err == nil && got == sum {
		return path, sum, url, nil
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return "", "", "", err
	}
	if d.lock != nil {
		unlock, err := d.lock(ctx, name)
		if err != nil {
			return "", "", "", err
		}
		defer unlock()
		// Another process may have finished it while this one waited.
		if got, err := fileutil.SHA256(path); err == nil && got == sum {
			return path, sum, url, nil
		}
	}
	part := path + ".part"
	// A .part that is whole already (a run stopped before the rename)
	// needs no request.
	if got, err := fileutil.SHA256(part); err != nil || got != sum {
		if err := d.get(ctx, url, part); err != nil {
			return "", "", "", err
		}
	}
	got, err := fileutil.SHA256(part)
	if err != nil {
		return "", "", "", err
	}
	if got != sum {
		// Resuming a file that does not match would only grow the
		// mismatch: start afresh next time.
		os.Remove(part)
		return "", "", "", fmt.Errorf("download %s: sha256 %s does not match the mirror's %s (removed the download)", url, got, sum)
	}
	if err := os.Rename(part, path); err != nil {
		return "", "", "", err
	}
	return path, sum, url, nil
}

// listing fetches the mirror's sha256sums.asc and parses it: only the
// signed text when a keyring checks its signature.
func (d *downloader) listing(ctx context.Context, url string) (mirrorListing, error) {
	var body []byte
	err := d.retry(ctx, filepath.Base(url), func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := d.client.Do(req)
		if err != nil {
			return transient(err)
		}
		defer resp.Body.Close()
		if err := statusError(url, resp); err != nil {
			return err
		}
		if body, err = io.ReadAll(io.LimitReader(resp.Body, 8<<20)); err != nil {
			return transient(err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kernel mirror: %w", err)
	}
	if d.keyring == "" {
		d.say("the signature of %s was not checked: no keyring (set %s to a GnuPG keyring with kernel.org's checksum autosigner key); the tarball is checked against its sha256 from it", url, KeyringEnv)
		return parseSums(bytes.NewReader(body))
	}
	signed, signer, err := verifyClearsigned(ctx, d.keyring, body)
	if err != nil {
		return nil, fmt.Errorf("kernel mirror: %s: %w", url, err)
	}
	d.say("%s: good signature by %s (keyring %s)", filepath.Base(url), signer, d.keyring)
	return parseSums(bytes.NewReader(signed))
}

func (d *downloader) say(format string, args ...any) {
	if d.progress != nil {
		fmt.Fprintf(d.progress, "ktstr-kernel: "+format+"\n", args...)
	}
}

// transientError is a failure that another try may not meet: the
// connection dropped or reset, the body ended short, the server was
// unavailable.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

func transient(err error) error { return &transientError{err} }

// statusError is nil for 200 and 206, a transientError for statuses a
// retry may cure (408, 429, 5xx), else a plain error.
func statusError(url string, resp *http.Response) error {
	switch c := resp.StatusCode; {
	case c == http.StatusOK || c == http.StatusPartialContent:
		return nil
	case c == http.StatusRequestTimeout || c == http.StatusTooManyRequests || c >= 500:
		return transient(fmt.Errorf("%s: %s", url, resp.Status))
	default:
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
}

// retry runs try until it succeeds, fails for good, or has failed
// transiently d.attempts times, waiting with exponential backoff between
// tries and saying why on progress.
func (d *downloader) retry(ctx context.Context, what string, try func() error) error {
	attempts, wait := d.attempts, d.backoff
	if attempts <= 0 {
		attempts = 5
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	for i := 1; ; i++ {
		err := try()
		var te *transientError
		if err == nil || !errors.As(err, &te) || ctx.Err() != nil {
			return err
		}
		if i == attempts {
			return fmt.Errorf("%w (gave up after %d tries)", err, attempts)
		}
		d.say("%s: %v; try %d of %d in %s", what, err, i+1, attempts, wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// get downloads url to part with retries, resuming from what part holds
// already (an HTTP Range request). It rejects HTML answers (captive
// portals and error pages served with status 200). On failure part is
// kept, for the next run to resume, and the error says so.
func (d *downloader) get(ctx context.Context, url, part string) error {
	err := d.retry(ctx, filepath.Base(url), func() error { return d.getOnce(ctx, url, part) })
	if err == nil {
		return nil
	}
	if st, serr := os.Stat(part); serr == nil && st.Size() > 0 {
		return fmt.Errorf("download %s: %w (the %d MiB received are kept in %s; the next run resumes them)", url, err, st.Size()>>20, part)
	}
	os.Remove(part)
	return fmt.Errorf("download %s: %w", url, err)
}

// getOnce makes one request for the rest of url beyond what part holds and
// appends the answer to it; a server that ignores the range sends the
// whole file, which replaces part.
func (d *downloader) getOnce(ctx context.Context, url, part string) error {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	offset, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return transient(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// part is not a prefix of the file (longer, or the file
		// changed): start again from nothing.
		if err := f.Truncate(0); err != nil {
			return err
		}
		return transient(fmt.Errorf("%s: %s for bytes %d-: starting again", url, resp.Status, offset))
	}
	if err := statusError(url, resp); err != nil {
		return err
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return fmt.Errorf("the server answered with an HTML page, not a tarball")
	}
	total := resp.ContentLength
	switch {
	case resp.StatusCode == http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			return fmt.Errorf("asked for bytes %d- and got %q", offset, resp.Header.Get("Content-Range"))
		}
		d.say("resuming %s at %d MiB", filepath.Base(url), offset>>20)
		if total >= 0 {
			total += offset
		}
	case offset > 0:
		// 200: the whole file again.
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		offset = 0
	}
	pw := &byteProgress{w: d.progress, tty: d.tty, total: total, n: offset, label: filepath.Base(url), last: time.Now()}
	n, err := io.Copy(io.MultiWriter(f, pw), resp.Body)
	pw.finish()
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return err // the disk, not the network
		}
		return transient(fmt.Errorf("after %d MiB: %w", (offset+n)>>20, err))
	}
	if resp.ContentLength >= 0 && n < resp.ContentLength {
		return transient(fmt.Errorf("short read: %d of %d bytes", n, resp.ContentLength))
	}
	return f.Close()
}

// rangeStart is the first byte of a Content-Range "bytes FIRST-LAST/SIZE".
func rangeStart(h string) (int64, bool) {
	r, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(r, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

type byteProgress struct {
	w     io.Writer
	tty   bool
	total int64
	n     int64
	label string
	last  time.Time
}

func (p *byteProgress) Write(b []byte) (int, error) {
	p.n += int64(len(b))
	interval := 10 * time.Second
	if p.tty {
		interval = 200 * time.Millisecond
	}
	if p.w != nil && time.Since(p.last) > interval {
		p.last = time.Now()
		msg := fmt.Sprintf("ktstr-kernel: downloading %s: %d MiB", p.label, p.n>>20)
		if p.total > 0 {
			msg += fmt.Sprintf(" of %d MiB", p.total>>20)
		}
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K%s", msg)
		} else {
			fmt.Fprintln(p.w, msg)
		}
	}
	return len(b), nil
}

func (p *byteProgress) finish() {
	if p.w != nil && p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
