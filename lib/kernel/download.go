package kernel

import (
	"bufio"
	"context"
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
}

// fetch downloads the tarball for version, verifies its sha256 against the
// mirror's list and returns its path, sha256 and URL. A verified earlier
// download is reused.
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
	part := fmt.Sprintf("%s.part-%d", path, os.Getpid())
	defer os.Remove(part)
	if err := d.get(ctx, url, part); err != nil {
		return "", "", "", err
	}
	got, err := fileutil.SHA256(part)
	if err != nil {
		return "", "", "", err
	}
	if got != sum {
		return "", "", "", fmt.Errorf("download %s: sha256 %s does not match the mirror's %s", url, got, sum)
	}
	if err := os.Rename(part, path); err != nil {
		return "", "", "", err
	}
	return path, sum, url, nil
}

func (d *downloader) listing(ctx context.Context, url string) (mirrorListing, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("kernel mirror: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("kernel mirror: %s: %s", url, resp.Status)
	}
	return parseSums(io.LimitReader(resp.Body, 8<<20))
}

// get downloads url to path, reporting progress; it rejects HTML answers
// (captive portals and error pages served with status 200).
func (d *downloader) get(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: %s", url, resp.Status)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return fmt.Errorf("download %s: the server answered with an HTML page, not a tarball", url)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	pw := &byteProgress{w: d.progress, tty: d.tty, total: resp.ContentLength, label: filepath.Base(url), last: time.Now()}
	if _, err := io.Copy(io.MultiWriter(f, pw), resp.Body); err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	pw.finish()
	return f.Close()
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
