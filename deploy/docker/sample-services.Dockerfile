# syntax=docker/dockerfile:1.7
# The demo shop: gateway, auth, order, payment, the broker, the fulfillment
# worker and the load generator.
#
#   docker build -f deploy/docker/sample-services.Dockerfile -t tracehouse/sample-services:dev .
#   docker run tracehouse/sample-services:dev gateway --listen :8000 --otlp-endpoint collector:4317
#
# sample-services does not import purego, so CGO_ENABLED=0 makes it fully
# static and distroless/static suffices.
#
# healthcheck belongs to the deploy module (deploy/go.mod), hence `go -C
# deploy`; it imports only the standard library, so it builds without
# downloading that module's test dependencies.

FROM golang:1.26.8-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w" -o /out/sample-services ./sample-services \
 && CGO_ENABLED=0 GOOS=linux go -C deploy build -trimpath -ldflags "-s -w" -o /out/healthcheck ./docker/healthcheck

FROM gcr.io/distroless/static-debian13:nonroot
COPY --from=build /out/sample-services /out/healthcheck /usr/local/bin/
USER 65532:65532
EXPOSE 8000 8001 8002 8003 8004 8005 4222
ENTRYPOINT ["/usr/local/bin/sample-services"]
CMD ["--help"]
