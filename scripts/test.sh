#!/usr/bin/env bash
# The README's second command: the whole test suite. Works on a fresh machine on its own: it
# installs and builds what the tests need (the same idempotent steps as setup.sh), and the
# integration tests start the services they use (Podman's API service, servers on loopback).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/lib/ensure.sh"
. "$ROOT/scripts/lib/kube.sh"
cd "$ROOT"

EXTRA_PACKAGES="$TEST_PACKAGES" ensure_all
ensure_python_client
export PYTHON_CLIENT_VENV
ensure_schemathesis
export SCHEMATHESIS_VENV
ensure_kube_binaries # the Kubernetes tests' control plane and helm; exports KUBE_BIN_DIR
say "type-checking the tests"
npx tsc -p test/tsconfig.json || die "type errors in the tests"
say "lint (eslint: typescript-eslint and the import rules of the call direction), format (prettier), unused code (knip)"
npm run -s lint || die "lint errors (npm run lint)"
npm run -s format:check || die "files not formatted (npm run format)"
npm run -s unused || die "unused files, exports or dependencies (npm run unused)"

say "portal: type-check and component tests"
npx tsc -p portal/tsconfig.json || die "type errors in the portal"
npx vitest run --config portal/vite.config.ts || die "portal component tests failed"

# Files run one at a time: integration suites share one Podman engine on two cores.
shopt -s globstar nullglob
files=(test/unit/**/*.test.ts test/integration/**/*.test.ts test/e2e/*.test.ts)
say "running ${#files[@]} test files"
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
