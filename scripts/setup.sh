#!/usr/bin/env bash
# Installs every toolchain piece the tests need, pinned, inside the project:
#   node_modules/ (npm ci), .venv/ (Python from requirements.txt), .tools/bin/ (Go tools).
# Safe to re-run: each step is skipped when its pinned result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.0
GRPCURL_VERSION=v1.9.3

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! cmp -s requirements.txt .venv/.requirements.txt; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/.requirements.txt
fi

mkdir -p .tools/bin
export GOBIN="$PWD/.tools/bin"
install_go_tool() { # $1 = binary name, $2 = module path@version
  local stamp=".tools/bin/.$1.version"
  if [ ! -x ".tools/bin/$1" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$2" ]; then
    go install "$2"
    echo "$2" > "$stamp"
  fi
}
install_go_tool protoc-gen-go "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO_VERSION"
install_go_tool protoc-gen-go-grpc "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
install_go_tool grpcurl "github.com/fullstorydev/grpcurl/cmd/grpcurl@$GRPCURL_VERSION"
