# Tollgate — two commands on a fresh machine with only Go:
#   make run    start the gateway in demo mode (simulated providers)
#   make test   run every test (race detector, shuffled)

GO        ?= go
BIN       ?= bin/tollgate
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOVULNCHECK := golang.org/x/vuln/cmd/govulncheck@v1.9.0
# Snapshot of the Go vulnerability database (its OSV files) from the module
# proxy, used when vuln.go.dev cannot be reached; bump it with the tools.
VULNDB      := golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018
TEST_FLAGS ?= -race -shuffle=on -count=1 -timeout 15m

.PHONY: help run build test test-short bench bench-overhead cluster-demo lint vulncheck fmt clean soak

help: ## show the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-16s %s\n", $$1, $$2}'

run: build ## start the gateway in demo mode (simulated providers, key printed on start)
	./$(BIN) serve

build: ## build bin/tollgate
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tollgate

test: sdk-deps ## run every test with -race -shuffle=on
	$(GO) vet ./...
	$(GO) test $(TEST_FLAGS) ./...

SDK_DIR := test/sdk

.PHONY: sdk-deps
sdk-deps: ## install the Node SDK suite's clients (npm ci in test/sdk) when its lockfile changed
	@if command -v npm >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(SDK_DIR)/node_modules/.package-lock.json; \
	else \
	  echo "sdk-deps: npm not found: the Node SDK suite (core TestSDKNode) will be skipped; install Node.js >= 20 to run it"; \
	fi

$(SDK_DIR)/node_modules/.package-lock.json: $(SDK_DIR)/package-lock.json
	npm ci --prefix $(SDK_DIR) --no-audit --no-fund
	@touch $@

DURATION  ?= 10m
SOAK_OUT  ?= bin/soak-result.md

soak: ## reliability soak, docs/RELIABILITY.md §6 (DURATION=10m, loopback): fails on growth or lost money
	@mkdir -p $(dir $(SOAK_OUT))
	TOLLGATE_SOAK=$(DURATION) TOLLGATE_SOAK_OUT=$(abspath $(SOAK_OUT)) $(GO) test -count=1 -timeout 0 -v -run '^TestSoak$$' ./cmd/tollgate/

test-short: ## quick tests without the race detector
	$(GO) test -short -count=1 ./...

bench: ## run the Go benchmarks (results in docs/BENCHMARKS.md)
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

BENCH_TG  := tollgate=http://127.0.0.1:18080/api/v1,key=sk-tg-bench-overhead-0001,model=bench/chat
BENCH_OUT ?= bench-results

bench-overhead: build ## SPEC §9 overhead table: direct vs floor vs Tollgate on one mock (≈ 2 min)
	@mkdir -p $(BENCH_OUT)
	@set -e; for run in "overhead --rate 5000" "overhead-stream --stream --mock-token-gap 2ms --rate 500 --peak-concurrency -1"; do \
	  set -- $$run; name=$$1; shift; rm -rf /tmp/tollgate-bench-data; \
	  ./$(BIN) serve --config bench/tollgate-overhead.yaml & pid=$$!; sleep 2; \
	  ./$(BIN) bench overhead --mock-addr 127.0.0.1:19000 --target $(BENCH_TG) --seed 1 --rounds 5 --round 2s \
	    --md $(BENCH_OUT)/$$name.md --json-out $(BENCH_OUT)/$$name.json --plot $(BENCH_OUT)/$$name.svg "$$@" || { kill $$pid; exit 1; }; \
	  kill $$pid; wait $$pid 2>/dev/null || true; \
	done

CLUSTER_DEMO_DIR ?= tollgate-cluster-demo

cluster-demo: build ## run a 3-node cluster on this machine with a mock provider (Ctrl-C stops it)
	@set -e; dir=$(CLUSTER_DEMO_DIR); mkdir -p $$dir; \
	key=$$(head -c 32 /dev/urandom | base64); \
	for i in 1 2 3; do \
	  join=$$(for j in 1 2 3; do [ $$j = $$i ] || printf '"127.0.0.1:710%s", ' $$j; done); \
	  printf '%s\n' \
	    "node: {name: node$$i, region: local, data_dir: $$dir/node$$i}" \
	    "listen: {api: 127.0.0.1:810$$i, admin: 127.0.0.1:820$$i}" \
	    "admin_key: demo-admin-key" \
	    "log: {level: warn}" \
	    "cluster: {enabled: true, bind: 127.0.0.1:710$$i, join: [$${join%, }], profile: local, secret_key: \"$$key\", label: tollgate-demo}" \
	    "providers: [{name: mock, base_url: \"http://127.0.0.1:8089/v1\"}]" \
	    "models: [{id: demo/chat, context_length: 8192, endpoints: [{provider: mock, upstream_model: mock-chat, pricing: {prompt: 1, completion: 2}}]}]" \
	    "accounts: [{name: demo, credits: 10, keys: [{name: demo, key: sk-tg-demo-cluster-0123456789abcdef}]}]" \
	    > $$dir/node$$i.yaml; \
	done; \
	pids=; trap 'kill $$pids 2>/dev/null; wait' INT TERM EXIT; \
	./$(BIN) mock --addr 127.0.0.1:8089 >$$dir/mock.log 2>&1 & pids="$$pids $$!"; \
	for i in 1 2 3; do ./$(BIN) serve --config $$dir/node$$i.yaml 2>$$dir/node$$i.log & pids="$$pids $$!"; done; \
	for i in 1 2 3; do \
	  until ./$(BIN) cluster members --server http://127.0.0.1:820$$i --admin-key demo-admin-key --json 2>/dev/null | grep -q '"members_alive":3'; do sleep 0.2; done; \
	done; \
	./$(BIN) cluster members --server http://127.0.0.1:8201 --admin-key demo-admin-key; \
	echo; \
	echo "3 nodes up: API http://127.0.0.1:8101 | 8102 | 8103 (admin 8201 | 8202 | 8203), key sk-tg-demo-cluster-0123456789abcdef"; \
	echo "configs and logs in $$dir/; Ctrl-C stops everything"; \
	wait

lint: ## go vet + staticcheck + govulncheck (pinned)
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@$(MAKE) --no-print-directory vulncheck

# GOTOOLCHAIN=auto: the standard library is checked as of go.mod's toolchain
# line (fetched through the module proxy), not the older local Go.
vulncheck: export GOTOOLCHAIN = auto
vulncheck: ## govulncheck against vuln.go.dev, else the pinned DB snapshot; skipped if neither is reachable
	@if curl -sfI -m 5 https://vuln.go.dev/index/db.json.gz >/dev/null 2>&1; then \
	  echo "govulncheck: database vuln.go.dev"; $(GO) run $(GOVULNCHECK) ./...; \
	elif dir=$$($(GO) mod download -json $(VULNDB) 2>/dev/null | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p') && [ -d "$$dir/data/osv" ]; then \
	  echo "govulncheck: database $(VULNDB) (vuln.go.dev unreachable)"; $(GO) run $(GOVULNCHECK) -db "file://$$dir/data/osv" ./...; \
	else \
	  echo "govulncheck skipped: vuln DB unreachable (neither vuln.go.dev nor $(VULNDB) through the module proxy)"; \
	fi

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

clean: ## remove build output
	rm -rf bin
