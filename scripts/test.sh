#!/usr/bin/env bash
# The one test command (README: `npm ci && npm test`): installs what the tests
# need (scripts/setup.sh is idempotent), then runs every suite: TypeScript (jest),
# Python (pytest), Go (go vet + go test). Stops at the first failing suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/bin:$PATH"

echo "== TypeScript: jest"
node_modules/.bin/jest --ci "$@"

echo "== Python: pytest"
python_suites=(test/python)
[ -d examples/python ] && python_suites+=(examples/python)
.venv/bin/python -m pytest -q "${python_suites[@]}"

echo "== Go: generated stubs build and vet"
(cd gen/go && go build ./... && go vet ./...)
if [ -f examples/go/go.mod ]; then
  echo "== Go: examples/go"
  (cd examples/go && go vet ./... && go test -count=1 ./...)
fi
