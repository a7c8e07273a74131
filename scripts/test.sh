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
# The Kubernetes tests' control plane, kubelet and helm (KUBE_BIN_DIR) take ~15 minutes to build
# on a machine that has never built them: they build in the background, at the lowest CPU
# priority, while everything that does not need them runs; the files that do run last.
kube_build=""
counts="$(mktemp -d)" # each test run's TAP output, for the total at the end
# A stopped test command stops the build too (it runs in a process group of its own).
trap 'rm -rf "$counts"; [ -z "$kube_build" ] || kill -- "-$kube_build" 2>/dev/null || true' EXIT
if kube_binaries_fresh; then
  say "Kubernetes test binaries present ($KUBE_BIN_DIR)"
else
  mkdir -p "$KUBE_CACHE_DIR" || die "cannot create $KUBE_CACHE_DIR"
  kube_log="$KUBE_CACHE_DIR/build.log"
  say "building the Kubernetes test binaries in the background, first time only (log: $kube_log)"
  ROOT="$ROOT" setsid nice -n 19 bash -c '. "$ROOT/scripts/lib/ensure.sh"; . "$ROOT/scripts/lib/kube.sh"; ensure_kube_binaries' >"$kube_log" 2>&1 &
  kube_build=$!
fi
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
kube_files=() other_files=()
for f in test/unit/**/*.test.ts test/integration/**/*.test.ts test/e2e/*.test.ts; do
  if [[ $f == test/integration/*kubernetes* ]]; then kube_files+=("$f"); else other_files+=("$f"); fi
done
run_files() {
  node --import tsx --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$counts/$1.tap" "${@:2}"
}
failed=0
say "running ${#other_files[@]} test files, then the ${#kube_files[@]} that need a Kubernetes control plane"
run_files other "${other_files[@]}" || failed=1
if [ -n "$kube_build" ]; then
  say "waiting for the Kubernetes test binaries (log: $kube_log)"
  wait "$kube_build" || { tail -n 30 "$kube_log" >&2; die "building the Kubernetes test binaries failed (log: $kube_log)"; }
  kube_build=""
  tail -n 12 "$kube_log"
fi
run_files kubernetes "${kube_files[@]}" || failed=1
total() { awk -v k="$1" '$1 == "#" && $2 == k { n += $3 } END { print n + 0 }' "$counts"/*.tap; }
say "all ${#other_files[@]}+${#kube_files[@]} test files: $(total tests) tests, $(total pass) passed, $(total fail) failed, $(total skipped) skipped"
exit "$failed"
