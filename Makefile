# Tracehouse: `make run` starts everything, `make test` runs every test.
SHELL := /bin/bash
GO ?= go
BIN := bin/tracehouse

.PHONY: deps build run test bench vet fmt clean

# Installs the embedded ClickHouse engine (libchdb.so) into .deps/chdb.
deps:
	@scripts/install-chdb.sh

build:
	$(GO) build -o $(BIN) .

run: deps build
	$(BIN) all-in-one --data ./data

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...

bench: deps
	$(GO) run ./internal/bench

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
