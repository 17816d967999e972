# ktstr (Go): see README.md.
#
#   make build   static tools into bin/
#   make test    the whole suite: host deps, unit tests, a short fuzz run,
#                the sched_ext kernel (built once, then cached) and the
#                end-to-end tests that boot it under QEMU
#   make unit    unit tests only (no VM, no kernel)
#   make lint    go vet + gofmt check
#   make fuzz    a short run of every fuzz target (FUZZTIME each)

GO        ?= go
BIN       := $(CURDIR)/bin
FUZZTIME  ?= 5s
E2E_TIMEOUT ?= 75m
# Tools are static (CGO_ENABLED=0): ktstr-boot copies itself into the guest
# initramfs as /init, where there is no C library.
GOBUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags="-s -w"

.PHONY: all build test unit lint fuzz deps kernel e2e bench fixture clean

all: build

build:
	@mkdir -p $(BIN)
	$(GOBUILD) -o $(BIN)/ ./cmd/...

deps:
	scripts/install-deps.sh

unit:
	$(GO) test -count=1 ./...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >/dev/null; \
	  done; \
	done

# The sched_ext kernel the end-to-end tests boot: built once, then cached.
kernel: build
	scripts/ensure-kernel.sh 6.12

e2e: build kernel
	KTSTR_E2E=1 $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) ./e2e/

test: deps lint build unit fuzz e2e

clean:
	rm -rf $(BIN)

# The fixture scheduler's BPF object is committed; regenerate it after
# changing lib/fixture/src/fixture.bpf.c (needs clang-19, bpftool and the
# built 6.12 kernel's vmlinux, plus linux-source-6.12 for the scx headers).
fixture:
	scripts/build-fixture.sh
