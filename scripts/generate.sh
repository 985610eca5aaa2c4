#!/usr/bin/env bash
# Regenerates gen/ from proto/ with buf and local plugins. Deterministic: running
# it on a clean checkout must leave `git status` clean (CI checks that).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf gen/ts gen/python
find gen/go -name '*.pb.go' -delete 2>/dev/null || true
npx buf generate
# The vendored gRPC protos are only needed by the TypeScript server; Python and Go
# users get them from grpcio / grpc-go, and a gen/python/grpc would shadow grpcio.
rm -rf gen/python/grpc gen/go/grpc
# The documented image for server reflection (grpcurl describe shows the doc comments).
image="$(mktemp)"
trap 'rm -f "$image"' EXIT
npx buf build -o "$image#format=binpb"
node scripts/embed-image.mjs "$image" gen/ts/proto-image.ts
