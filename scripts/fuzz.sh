#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for a bounded time each: the package
# reader, the layer applier, the gzip member reader, manifest and index parsing, the
# WWW-Authenticate parser and reference parsing. cargo-fuzz on the stable toolchain
# (RUSTC_BOOTSTRAP=1 lets it pass its -Z flags), without a sanitizer; installed by
# scripts/setup.sh. A crash fails the run and leaves its input in
# fuzz/artifacts/TARGET/.
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
command -v cargo-fuzz >/dev/null || { echo "fuzz.sh: cargo-fuzz is not installed: run scripts/setup.sh" >&2; exit 1; }
export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none --release >/dev/null
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
# One target per core at a time: each still gets SECONDS of a whole core, and the
# step takes SECONDS x targets / cores instead of SECONDS x targets.
run_target() {
  local target=$1
  # -rss_limit_mb: a bomb that gets past a limit shows as a crash, not a slow machine.
  if cargo fuzz run -s none --release "$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 >"$logs/$target.log" 2>&1; then
    echo "fuzz.sh: $target: $(grep -Eo '^Done [0-9]+ runs in [0-9]+ second\(s\)' "$logs/$target.log" | tail -n 1)"
  else
    touch "$logs/$target.failed"
  fi
}
cores=$(nproc)
for target in $(cargo fuzz list); do
  while [ "$(jobs -rp | wc -l)" -ge "$cores" ]; do wait -n || true; done
  run_target "$target" &
done
wait
failed=0
for f in "$logs"/*.failed; do
  [ -e "$f" ] || continue
  target=$(basename "$f" .failed)
  tail -n 40 "$logs/$target.log" >&2
  echo "fuzz.sh: $target failed; its input is in fuzz/artifacts/$target/" >&2
  failed=1
done
[ "$failed" = 0 ] || exit 1
echo "fuzz.sh: every target ran ${seconds}s without a failure"
