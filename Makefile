# vela-agent: `make demo` shows it working, `make test` checks it.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/vela-agent/vela-agent/agent.Version=$(VERSION)
BIN     := bin

.PHONY: all build demo test test-long test-short vet bench fuzz clean package cross test-package msi

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

# Runs the emulator and the agent on a temporary folder, drops generated
# WAV files into it and shows them arriving in the emulator's S3 store.
demo: build
	$(BIN)/vela-demo -bin $(BIN)

# Everything CI runs: vet (Linux and Windows), the race-enabled tests and a
# short run of every fuzz target's seed corpus (part of go test).
test: vet
	$(GO) test -race -count=1 -timeout 30m ./...

# Longer kill loops than make test's: more files and kills, and the same
# loop on a slow disk (each commit waits up to 100ms), where the windows
# for repeats are widest.
test-long:
	$(GO) test -count=1 -timeout 30m -run 'TestCrashResume$$' ./cmd/vela-agent -crash.files=3000 -crash.kills=100 -v
	$(GO) test -count=1 -timeout 30m -run 'TestCrashResume$$' ./cmd/vela-agent -crash.slowdisk=100ms -v
	$(GO) test -count=1 -timeout 30m -run 'TestFTPVsftpd500' ./cmd/vela-agent -ftp.scale -v
	$(GO) test -count=1 -timeout 30m -run 'TestArchiveInstall' ./cmd/vela-agent -archive.files=100000 -v
	$(GO) test -count=1 -timeout 30m -run 'TestCrashZip$$' ./cmd/vela-agent -crashzip.files=1000 -crashzip.kills=50 -v

test-short:
	$(GO) test -short -count=1 ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...

# Whole-process and Go benchmarks; results go to docs/benchmarks.md by hand.
bench: build
	$(BIN)/vela-bench -bin $(BIN)

# Packages and cross builds go to dist/. nfpm runs as a Go tool at a fixed
# version, built from source by the go command; wixl is Debian's msitools.
DIST        := dist
GOARCH      ?= $(shell $(GO) env GOARCH)
NFPM        ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
WIXL        ?= wixl
# Package versions must start with a digit: v1.2.3 gives 1.2.3, an untagged
# tree 0.0.0~git<commit>, which sorts before any release.
PKG_VERSION ?= $(shell v=$$(git describe --tags --match 'v[0-9]*' 2>/dev/null); \
	if [ -n "$$v" ]; then echo "$${v\#v}" | tr - '~'; else echo "0.0.0~git$$(git rev-parse --short HEAD 2>/dev/null || echo 0)"; fi)
CROSS       := linux/amd64 linux/arm64 windows/amd64 windows/arm64 darwin/amd64 darwin/arm64

# One static binary per OS/architecture: dist/vela-agent_<os>_<arch>[.exe].
cross:
	@mkdir -p $(DIST)
	@set -e; for p in $(CROSS); do os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
	  echo "build $(DIST)/vela-agent_$${os}_$${arch}$$ext"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
	    -o $(DIST)/vela-agent_$${os}_$${arch}$$ext ./cmd/vela-agent; done

$(DIST)/vela-agent_linux_$(GOARCH) $(DIST)/vela-agent_windows_amd64.exe: FORCE
	@mkdir -p $(DIST)
	CGO_ENABLED=0 GOOS=$(word 2,$(subst _, ,$(basename $(notdir $@)))) GOARCH=$(word 3,$(subst _, ,$(basename $(notdir $@)))) \
	  $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/vela-agent

# The .deb and .rpm for GOARCH (amd64 unless set), from packaging/nfpm.yaml.
package: $(DIST)/vela-agent_linux_$(GOARCH)
	@for f in deb rpm; do \
	  BINARY=$(DIST)/vela-agent_linux_$(GOARCH) GOARCH=$(GOARCH) PKG_VERSION='$(PKG_VERSION)' \
	    $(NFPM) package --config packaging/nfpm.yaml --packager $$f --target $(DIST)/ || exit 1; done

# The Windows installer: dist/vela-agent_windows_amd64.msi.
msi: $(DIST)/vela-agent_windows_amd64.exe
	$(WIXL) --arch x64 -D Version=$(shell echo '$(PKG_VERSION)' | sed 's/~.*//') -D SourceDir=. \
	  -o $(DIST)/vela-agent_windows_amd64.msi packaging/windows/vela-agent.wxs

# Builds the packages and checks them on this machine: installs the .deb
# (root, a Debian system), lists the .rpm, builds the MSI.
test-package:
	GO='$(GO)' MAKE='$(MAKE)' packaging/test-package.sh

FORCE:

clean:
	rm -rf $(BIN) $(DIST)
