#!/usr/bin/env bash
# The device binaries' stripped sizes, without and with the registry client
# (`--features device-registry`, for `berthctl install docker://…`). Target: berthd
# and berthctl together <= 8 MiB with it. Each is a crate of its own: the build
# compiles what the device binaries link and nothing of the build host's.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-/var/tmp/berth-bench}/device-size
mkdir -p "$work"
for variant in plain device-registry; do
  features=()
  [ "$variant" = device-registry ] && features=(--features berthd/device-registry)
  cargo build --release --quiet -p berthd -p berthctl "${features[@]}"
  strip -o "$work/berthd.$variant" target/release/berthd
  strip -o "$work/berthctl.$variant" target/release/berthctl
  d=$(stat -c %s "$work/berthd.$variant")
  c=$(stat -c %s "$work/berthctl.$variant")
  met='target <= 8192 KiB met'
  if [ $(( d + c )) -gt $(( 8 * 1024 * 1024 )) ]; then
    met='target <= 8192 KiB NOT met'
    over=1
  fi
  printf '%-16s berthd %9d B  berthctl %9d B  together %6d KiB (%s)\n' "$variant" "$d" "$c" \
    $(( (d + c) / 1024 )) "$met"
done
# A size over the target fails the run: printed alone, it went unnoticed for a stop.
[ "${over:-0}" = 0 ]
