#!/usr/bin/env bash
# Sets up and runs every test on a fresh machine: the Python venv (moto for the sandbox,
# PyYAML for the scenario checker), the cargo tests of the workspace (unit, property and
# integration), then `nodeless simulate` against our scenario cases and, when the shared
# folder is beside the repo, the contract's example cases and the real-manifest corpus.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Reuse one target dir outside the clone: CI clones afresh, the cache stays warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nodeless-target}"
shared="${NODELESS_SHARED:-$root/../shared}"

scripts/setup-venv.sh
py="$root/.venv/bin/python"

echo "== cargo test (workspace)"
cargo test --workspace

echo "== nodeless simulate: scenario suites"
# `cargo test` built the binary (the CLI's integration tests run it); building it again
# with `cargo build -p nodeless` would resolve other features and recompile everything.
bin="$CARGO_TARGET_DIR/debug/nodeless"
[ -x "$bin" ] || cargo build -p nodeless
status=0
"$py" tests/scenarios/check.py --cmd "$bin simulate" --cases-dir "$root/tests/scenarios/cases" || status=1
if [ -d "$shared/acceptance" ]; then
  "$py" "$shared/acceptance/check.py" --cmd "$bin simulate" --cases-dir "$shared/acceptance/cases" || status=1
  "$py" "$shared/acceptance/check.py" --cmd "$bin simulate" --cases-dir "$shared/acceptance/real/cases" || status=1
else
  echo "note: $shared/acceptance not found; ran only this repo's scenario cases"
fi
exit $status
