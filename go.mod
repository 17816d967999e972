module github.com/ktstr-go/ktstr

go 1.26.8

require (
	github.com/alecthomas/kong v1.17.0
	golang.org/x/sys v0.49.0
)

require github.com/klauspost/compress v1.20.3

require github.com/cilium/ebpf v0.22.0
