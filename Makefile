# Tracehouse: `make run` starts everything, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin/tracehouse

.PHONY: deps build run run-tracehouse test bench fmt clean

# Installs the embedded ClickHouse engine (libchdb.so) into .deps/chdb.
deps:
	@scripts/install-chdb.sh

build:
	$(GO) build -o $(BIN) .
	$(GO) build -o bin/sample-services ./sample-services

# The whole stack: all-in-one (embedded ClickHouse, collector, query API and
# UI), the four sample services and a gentle load. Ctrl-C stops everything.
run: deps build
	bin/sample-services demo --tracehouse $(BIN) --data ./data

# Tracehouse alone, without the sample services.
run-tracehouse: deps build
	$(BIN) all-in-one --data ./data

# deploy/ is its own module (its tests need kustomize, k8s.io/api and
# compose-go, the product does not), so ./... stops at deploy/go.mod and it
# gets its own line. bench/ingest and bench/query, also modules of their
# own, have no tests.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

# Engine inserts and trace-by-id, query latency at 1M and 10M spans and logs
# (about 25 minutes; BENCH_QUERY_SIZES=1000000 for a quick run), ingest
# against the contrib exporter, then query latency on Tracehouse's, contrib's
# and Jaeger v2's layouts of the same data (bench/query: about 20 minutes at
# 1M, 2 hours more for 10M; BENCH_PEERS_SIZES=1000000 for 1M alone).
BENCH_QUERY_SIZES ?= 1000000,10000000
BENCH_PEERS_SIZES ?= 1000000,10000000
bench: deps build
	$(GO) run ./internal/bench $(BENCH_FLAGS)
	$(GO) run ./internal/bench/query --spans $(BENCH_QUERY_SIZES) --runs 50
	cd bench/ingest && $(GO) run . -tracehouse ../../$(BIN)
	cd bench/query && $(GO) run . -tracehouse ../../$(BIN) -spans $(BENCH_PEERS_SIZES) $(BENCH_PEERS_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
