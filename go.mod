module github.com/ktstr-go/ktstr

// The lowest Go this module builds with: golang.org/x/sys v0.49.0 requires
// 1.26.0. ktstr's own code needs go1.23 (range over functions,
// slices.Sorted, maps.Keys: -lang and the stdversion analyzer find
// nothing newer). The toolchain line keeps CI (setup-go reads it) on the
// patch release it has been tested with.
go 1.26.0

toolchain go1.26.8

require (
	github.com/alecthomas/kong v1.17.0
	golang.org/x/sys v0.49.0
)

require github.com/klauspost/compress v1.20.3

require (
	github.com/chromedp/cdproto v0.0.0-20250724212937-08a3db8b4327
	github.com/chromedp/chromedp v0.14.2
	github.com/cilium/ebpf v0.22.0
	github.com/creack/pty v1.1.24
	gonum.org/v1/plot v0.17.0
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/chromedp/sysutil v1.1.0 // indirect
	github.com/go-json-experiment/json v0.0.0-20250725192818-e39067aee2d2 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.4.0 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/text v0.28.0 // indirect
)
