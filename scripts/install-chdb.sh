#!/usr/bin/env bash
# Installs libchdb.so (the ClickHouse engine as a shared library) from the npm
# registry package @chdb/lib-linux-x64-gnu into .deps/chdb, pinned and checked
# against its integrity hash. Idempotent: does nothing when the pinned
# version is already there.
set -euo pipefail

PACKAGE="@chdb/lib-linux-x64-gnu"
VERSION="26.5.3"
# The npm registry's "dist.integrity" of that version (sha512 of the tarball).
INTEGRITY="sha512-fPrLmRt5Moor9yGz4mazbrNje4t7X9KB2mTGkXFWRxRBs2iKy8yh6jx11xsa0Qr3iDFMU/yHqd+bVdYJXu3QaQ=="

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.deps/chdb"

if [[ -f "$dest/libchdb.so" && "$(cat "$dest/VERSION" 2>/dev/null)" == "$VERSION" ]]; then
  exit 0
fi
for tool in npm node tar; do
  command -v "$tool" >/dev/null || { echo "install-chdb: '$tool' is needed (Node.js 20 + npm)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "install-chdb: fetching $PACKAGE@$VERSION from the npm registry (about 170 MB)..." >&2
(cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tarball="$(ls "$tmp"/*.tgz)"

actual="sha512-$(node -e 'const c=require("crypto"),f=require("fs");process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tarball")"
if [[ "$actual" != "$INTEGRITY" ]]; then
  echo "install-chdb: integrity check FAILED for $PACKAGE@$VERSION" >&2
  echo "  expected $INTEGRITY" >&2
  echo "  got      $actual" >&2
  exit 1
fi

mkdir -p "$tmp/x" "$dest"
tar -xzf "$tarball" -C "$tmp/x" package/libchdb.so
mv "$tmp/x/package/libchdb.so" "$dest/libchdb.so.partial"
mv "$dest/libchdb.so.partial" "$dest/libchdb.so"
echo "$VERSION" > "$dest/VERSION"
echo "install-chdb: installed $dest/libchdb.so ($VERSION, integrity verified)" >&2
