# syntax=docker/dockerfile:1.7
# The Tracehouse product binary: collector, query API + UI, migrate.
#
#   docker build -f deploy/docker/tracehouse.Dockerfile -t tracehouse/tracehouse:dev .
#
# Built from the repository root with CGO_ENABLED=0. The embedded ClickHouse
# engine (libchdb) is loaded with purego only by `all-in-one` and
# `clickhouse`, so this image ships without it and runs the server-backed
# commands: collector, query, migrate.
#
# Why a glibc base (distroless/base) and not distroless/static or alpine:
# purego links its dlopen shim even without cgo, so the binary has an ELF
# interpreter and needs libc.so.6, libdl.so.2 and libpthread.so.0
# (`readelf -d bin/tracehouse | grep NEEDED`); musl cannot run it.
# Distroless has no shell or wget: the health checks call the static
# `healthcheck` binary built beside it (deploy/docker/healthcheck). It
# belongs to the deploy module (deploy/go.mod), hence `go -C deploy`; it
# imports only the standard library, so it builds without downloading that
# module's test dependencies.

FROM golang:1.26.8-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/tracehouse/tracehouse/collector.Version=${VERSION}" \
      -o /out/tracehouse . \
 && CGO_ENABLED=0 GOOS=linux go -C deploy build -trimpath -ldflags "-s -w" -o /out/healthcheck ./docker/healthcheck \
 && mkdir -p /out/queue

FROM gcr.io/distroless/base-debian13:nonroot
COPY --from=build /out/tracehouse /out/healthcheck /usr/local/bin/
COPY collector/configs/ /etc/tracehouse/
# The gateway's persistent queue; a fresh named volume takes this owner.
COPY --from=build --chown=65532:65532 /out/queue /var/lib/tracehouse/queue
USER 65532:65532
# OTLP gRPC, OTLP HTTP, JSON-lines logs, query API + UI, collector health, collector metrics
EXPOSE 4317 4318 4319 8080 13133 8888
ENTRYPOINT ["/usr/local/bin/tracehouse"]
# No default command: `all-in-one` needs libchdb, which this image omits.
CMD ["help"]
