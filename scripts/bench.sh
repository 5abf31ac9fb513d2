#!/usr/bin/env bash
# Benchmarks `nodeless simulate` end to end on Karpenter's scheduling-benchmark workload
# (best of 3 wall times, pinned to one core, peak RSS, cost/lower bound), then the solver
# alone with criterion. Needs ../shared/bench beside the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/nodeless-target}"
BENCH_SRC="${BENCH_SRC:-../shared/bench}"
OUT="${NODELESS_BENCH_DIR:-$CARGO_TARGET_DIR/bench-workloads}"
export NODELESS_BENCH_DIR="$OUT"
mkdir -p "$OUT"
for n in 1000 5000 20000; do
  [ -f "$OUT/w$n/input.yaml" ] || python3 "$BENCH_SRC/gen_karpenter_bench.py" "$n" "$OUT/w$n"
done
cargo build --release -p nodeless --no-default-features >/dev/null
BIN="$CARGO_TARGET_DIR/release/nodeless"
run() { # name, extra args...
  local dir=$1; shift
  local best=999 rss=0
  for _ in 1 2 3; do
    local t
    t=$( { /usr/bin/time -f "%e %M" taskset -c 0 "$BIN" simulate -f "$dir/input.yaml" "$@" --output json > "$dir/out.json"; } 2>&1 | tail -1)
    read -r secs kb <<<"$t"
    best=$(python3 -c "print(min($best, $secs))"); rss=$kb
  done
  local ratio
  ratio=$(python3 "$BENCH_SRC/lower_bound.py" "$dir/input.yaml" "${CATALOG_FOR_BOUND:-$dir/catalog.json}" "$dir/out.json" | tail -1)
  printf '%-28s best %6.2fs  peak RSS %4d MB  %s\n' "$(basename "$dir") $*" "$best" "$((rss / 1024))" "$ratio"
}
for n in 1000 5000 20000; do run "$OUT/w$n" --catalog "$OUT/w$n/catalog.json"; done
# 5,000 generic pods against the built-in us-east-1 catalog
"$BIN" catalog --builtin --region us-east-1 > "$OUT/us-east-1.json" 2>/dev/null || true
if [ -s "$OUT/us-east-1.json" ]; then CATALOG_FOR_BOUND="$OUT/us-east-1.json" run "$OUT/w5000" --region us-east-1; fi
[ "${SKIP_CRITERION:-}" = 1 ] || cargo bench -p provisioning --bench solve -- --noplot
