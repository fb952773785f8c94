# Tracehouse: `make run` starts everything, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin/tracehouse

.PHONY: deps build run run-tracehouse test fuzz bench soak fmt clean

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

# Every Go fuzz target of the repository (each `func FuzzX(f *testing.F)` in
# a _test.go file, found anew each run, in every module), FUZZTIME each
# (FUZZTIME=10m for a longer run). `make test` runs their seed corpora
# (f.Add and testdata/fuzz/FuzzX/); a failing input is written there, to
# be kept as a seed once fixed.
FUZZTIME ?= 60s
fuzz: deps
	@failed=""; \
	while read -r file; do \
	  dir=$$(dirname "$$file"); mod=$$dir; \
	  while [ ! -f "$$mod/go.mod" ]; do mod=$$(dirname "$$mod"); done; \
	  for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*\*testing\.F).*/\1/p' "$$file"); do \
	    echo "== $$name in $$dir for $(FUZZTIME)"; \
	    (cd "$$mod" && $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) "./$${dir#$$mod/}") || failed="$$failed $$name"; \
	  done; \
	done < <(git ls-files '*_test.go' | sed 's|^|./|' | xargs grep -l '^func Fuzz' | sort); \
	if [ -n "$$failed" ]; then echo "fuzz targets that failed:$$failed"; exit 1; fi

# Engine inserts and trace-by-id, query latency at 1M and 10M spans and logs
# (about 25 minutes; BENCH_QUERY_SIZES=1000000 for a quick run), ingest
# against the contrib exporter with the memory and the persistent queue (32
# senders, as bench/ingest/README.md's durable-mode table; about 12 minutes a
# round; BENCH_INGEST_FLAGS to change), then query latency on Tracehouse's, contrib's
# and Jaeger v2's layouts of the same data (bench/query: about 10 minutes at
# 1M and 65 more for 10M on a quiet machine; BENCH_PEERS_SIZES=1000000 for
# 1M alone).
BENCH_QUERY_SIZES ?= 1000000,10000000
BENCH_PEERS_SIZES ?= 1000000,10000000
BENCH_INGEST_FLAGS ?= -workers 32
bench: deps build
	$(GO) run ./internal/bench $(BENCH_FLAGS)
	$(GO) run ./internal/bench/query --spans $(BENCH_QUERY_SIZES) --runs 50
	cd bench/ingest && $(GO) run . -tracehouse ../../$(BIN) $(BENCH_INGEST_FLAGS)
	cd bench/query && $(GO) run . -tracehouse ../../$(BIN) -spans $(BENCH_PEERS_SIZES) $(BENCH_PEERS_FLAGS)

# all-in-one as a real process under five exactly-counting senders and the
# sample shop, with SIGKILLs, a minute at twice the rate and heavy 7-day log
# searches; prints sent / acknowledged / stored / lost / duplicates per
# signal, peak RSS and ack-to-visible latency; exits 1 on anything lost or
# stored twice (10 minutes; SOAK_FLAGS='--duration 1h' for longer,
# SOAK_FLAGS='--mode gateway' for clickhouse + collector + query with the
# engine killed and stopped; internal/soak/README.md). Short versions of
# both run in `make test`.
soak: deps build
	$(GO) run ./internal/soak --tracehouse $(BIN) $(SOAK_FLAGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
