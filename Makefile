# vela-agent: `make demo` shows it working, `make test` checks it.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/vela-agent/vela-agent/agent.Version=$(VERSION)
BIN     := bin

.PHONY: all build demo test test-long test-short vet bench fuzz clean

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

test-short:
	$(GO) test -short -count=1 ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...

# Whole-process and Go benchmarks; results go to docs/benchmarks.md by hand.
bench: build
	$(BIN)/vela-bench -bin $(BIN)

clean:
	rm -rf $(BIN)
