# Tollgate — two commands on a fresh machine with only Go:
#   make run    start the gateway in demo mode (simulated providers)
#   make test   run every test (race detector, shuffled)

GO        ?= go
BIN       ?= bin/tollgate
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_FLAGS ?= -race -shuffle=on -count=1 -timeout 15m

.PHONY: help run build test test-short bench bench-overhead lint fmt clean

help: ## show the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

run: build ## start the gateway in demo mode (simulated providers, key printed on start)
	./$(BIN) serve

build: ## build bin/tollgate
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tollgate

test: ## run every test with -race -shuffle=on
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...

test-short: ## quick tests without the race detector
	$(GO) test -short -count=1 ./...

bench: ## run the Go benchmarks (results in docs/BENCHMARKS.md)
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

lint: ## go vet + staticcheck (pinned)
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build output
	rm -rf bin
