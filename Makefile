# ktstr (Go): see README.md.
#
#   make build   static tools into bin/
#   make test    the whole suite: host deps, unit tests, a short fuzz run,
#                the sched_ext kernels (6.12 and a variant of it; built
#                once, then cached) and the end-to-end tests that boot
#                them under QEMU
#   make unit    unit tests only (no VM, no kernel)
#   make lint    go vet, goimports (formatting and imports), staticcheck,
#                actionlint (.github/workflows)
#   make release static linux/amd64 tools in $(DIST)/linux-amd64 with a
#                $(DIST)/SHA256SUMS, checked with sha256sum -c
#   make fuzz    a short run of every fuzz target (FUZZTIME each)
#   make fuzz-long  every fuzz target for FUZZTIME_LONG (10m) each; not
#                part of make test (33 targets: about 5.5 hours; split it
#                over shells or hosts with FUZZ_SHARD=0/2 and 1/2)
#   make bench   the benchmarks that print ratios against their goals:
#                scripts/bench-telemetry.sh (worker bookkeeping overhead, no
#                VM) and scripts/bench-boot.sh (probe jobs restored, PVH-
#                booted and bzImage-booted vs a bare QEMU boot, BENCH_RUNS
#                rounds on BENCH_TOPOLOGY, then two catalog gauntlets, as
#                before fast starts and restored: about 15 minutes on 2
#                cores; GAUNTLET=0 skips them). Not run here:
#                scripts/bench-kernel.sh (a 35-minute defconfig build) and
#                scripts/bench-tcg-patching.sh (needs a kernel with
#                JUMP_LABEL, i.e. a defconfig build); run them by hand.

GO        ?= go
BIN       := $(CURDIR)/bin
FUZZTIME  ?= 5s
FUZZTIME_LONG ?= 10m
BENCH_RUNS ?= 5
BENCH_TOPOLOGY ?= 1,2,2,1
E2E_TIMEOUT ?= 75m
# The linters, Go modules run at these versions (nothing to install by hand;
# the first run downloads them): the GitHub Actions linter, goimports
# (gofmt's formatting plus the import groups) and staticcheck (2026.2.2).
ACTIONLINT ?= v1.7.7
GOIMPORTS ?= v0.53.0
STATICCHECK ?= v0.8.2
# Tools are static (CGO_ENABLED=0): ktstr-boot copies itself into the guest
# initramfs as /init, where there is no C library.
GOBUILD   := CGO_ENABLED=0 $(GO) build -buildvcs=auto -trimpath -ldflags="-s -w"

DIST      ?= $(CURDIR)/dist

.PHONY: all build test unit lint fuzz fuzz-long fuzz-run deps kernel e2e bench fixture clean release

all: build

build:
	@mkdir -p $(BIN)
	$(GOBUILD) -o $(BIN)/ ./cmd/...

deps:
	scripts/install-deps.sh

# The release: linux/amd64 only. The guests are x86_64 (qemu-system-x86_64)
# and the guest agent is ktstr-boot itself, so another architecture's build
# would have no guest to run in (and lib/guest/worker's fork does not
# build for arm64). SHA256SUMS names the files relative to $(DIST), so
# `cd dist && sha256sum -c SHA256SUMS` checks a download.
release:
	rm -rf $(DIST)
	@mkdir -p $(DIST)/linux-amd64
	GOOS=linux GOARCH=amd64 $(GOBUILD) -o $(DIST)/linux-amd64/ ./cmd/...
	cd $(DIST) && sha256sum linux-amd64/* >SHA256SUMS && sha256sum -c --quiet SHA256SUMS
	@echo "release: $(DIST)/linux-amd64 ($$(ls $(DIST)/linux-amd64 | wc -l) static tools), $(DIST)/SHA256SUMS verified"

unit:
	$(GO) test -count=1 ./...

lint:
	$(GO) vet ./...
	@out=$$($(GO) run golang.org/x/tools/cmd/goimports@$(GOIMPORTS) -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')) || exit 1; \
	if [ -n "$$out" ]; then echo "goimports would change (go run golang.org/x/tools/cmd/goimports@$(GOIMPORTS) -w FILE...):"; echo "$$out"; exit 1; fi
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK) ./...
	$(GO) run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT) .github/workflows/*.yml

# Each target runs alone (go test -fuzz takes one). Shrinking a new input is
# capped at 10 s so that the time goes to fuzzing. A target whose run ends
# in go test's own "context deadline exceeded" with no failing input (the
# fuzzing coordinator missing its deadline on a busy host, not a find) runs
# once more. A failing input is saved
# under the package's testdata/fuzz/ and printed; `make fuzz` stops at the
# first failure, `make fuzz-long` goes on to the next target and fails at the
# end (four hours of fuzzing should not end at its first find).
# FUZZ_SHARD=i/n runs every n-th target from the i-th (0-based), so that n
# shells (or hosts) share one long run: `make fuzz-long FUZZ_SHARD=0/2` and
# `make fuzz-long FUZZ_SHARD=1/2` cover every target once.
FUZZ_SHARD ?= 0/1

fuzz:
	@$(MAKE) -s fuzz-run FUZZ_FOR=$(FUZZTIME) FUZZ_KEEP_GOING=

fuzz-long:
	@$(MAKE) -s fuzz-run FUZZ_FOR=$(FUZZTIME_LONG) FUZZ_KEEP_GOING=1

fuzz-run:
	@set -e; shard=$(FUZZ_SHARD); i=$${shard%/*}; n=$${shard#*/}; k=0; failed=; \
	for pkg in $$($(GO) list ./...); do \
	  list=$$($(GO) test -list '^Fuzz' $$pkg 2>&1) || { echo "$$list"; exit 1; }; \
	  for f in $$(echo "$$list" | grep '^Fuzz' || true); do \
	    k=$$((k + 1)); [ $$(( (k - 1) % n )) -eq "$$i" ] || continue; \
	    echo "fuzz $$pkg $$f ($(FUZZ_FOR))"; \
	    ok=; out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_FOR) -fuzzminimizetime 10s $$pkg 2>&1) && ok=1; \
	    if [ -z "$$ok" ] && echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
	      echo "fuzz $$f: go test's fuzzing coordinator hit its own deadline without a failing input (a toolchain flake, seen under load): once more"; \
	      out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZ_FOR) -fuzzminimizetime 10s $$pkg 2>&1) && ok=1; \
	    fi; \
	    if [ -n "$$ok" ]; then \
	      echo "$$out" | grep '^fuzz: elapsed' | tail -n 1; \
	    else \
	      echo "$$out" | grep -v '^fuzz: elapsed'; \
	      [ -n "$(FUZZ_KEEP_GOING)" ] || exit 1; \
	      failed="$$failed $$f"; \
	    fi; \
	  done; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz targets that failed:$$failed"; exit 1; fi

# The sched_ext kernels the end-to-end tests boot, built once, then cached:
# 6.12 (keeping its build tree when this builds it) and the same source with
# e2e/testdata/variant.config, built incrementally in that tree, for the
# multi-kernel tests (scripts/ensure-kernel.sh). A 6.12 cached earlier
# without its tree stays so (ktstr-kernel says so): the variant is then a
# full build, unless 6.12 is rebuilt with --force --keep-tree.
kernel: build
	scripts/ensure-kernel.sh 6.12

e2e: build kernel
	KTSTR_E2E=1 $(GO) test -count=1 -v -timeout $(E2E_TIMEOUT) ./e2e/

test: deps lint build unit fuzz e2e

bench: build kernel
	scripts/bench-telemetry.sh
	scripts/bench-boot.sh $(BENCH_RUNS) $(BENCH_TOPOLOGY)

clean:
	rm -rf $(BIN) $(DIST)

# The fixture scheduler's BPF object is committed; regenerate it after
# changing lib/guest/fixture/src/fixture.bpf.c (needs clang-19, bpftool and the
# built 6.12 kernel's vmlinux, plus linux-source-6.12 for the scx headers).
fixture:
	scripts/build-fixture.sh
