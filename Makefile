# consort: make demo | make test | make build | make install | make bench | make lint | make proto
GO ?= go
BIN := bin/consort
PKGS := ./...

.PHONY: all build install demo test lint bench bench-short proto fuzz clean test-simd

all: build

build:
	$(GO) build -o $(BIN) ./cmd/consort

# consort on your PATH: go install puts it in $(go env GOBIN), or
# $(go env GOPATH)/bin when GOBIN is unset.
install:
	$(GO) install ./cmd/consort
	@dir=$$($(GO) env GOBIN); [ -n "$$dir" ] || dir=$$($(GO) env GOPATH)/bin; \
	echo "installed $$dir/consort"; \
	case ":$$PATH:" in *":$$dir:"*) ;; *) echo "add it to your PATH: export PATH=\"$$dir:\$$PATH\"";; esac

# The main job: a federation trained on bundled data.
demo: build
	./$(BIN) demo

# All tests; stays under 10 minutes on 2 cores.
test:
	$(GO) test -count=1 -timeout 15m $(PKGS)

# The kernels' other builds: the SIMD experiment (Go 1.26 simd/archsimd) and
# the portable build without assembly (-tags purego).
test-simd:
	GOEXPERIMENT=simd $(GO) vet ./kernels/...
	GOEXPERIMENT=simd $(GO) test -count=1 ./kernels/...
	$(GO) test -count=1 -tags purego ./kernels/...

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)
	$(GO) test -count=1 ./internal/deps/

# Benchmarks print throughput and ratios to the limits measured in the same run.
bench: build
	./$(BIN) bench all

bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./bench/ ./kernels/

proto:
	@command -v protoc >/dev/null || { echo "protoc missing: sudo apt-get install -y protobuf-compiler"; exit 1; }
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --go_out=. --go_opt=module=github.com/consort-ml/consort $$(find proto -name '*.proto' | sort)

clean:
	rm -rf bin
