#!/usr/bin/env bash
# The device binaries' stripped sizes for each device arch (amd64, arm64, armhf;
# ARCHES to choose), without and with the registry client (`--features
# device-registry`, for `berthctl install docker://…`). Target: berthd and berthctl
# together <= 8 MiB with it, on every arch. Each is a crate of its own: the build
# compiles what the device binaries link and nothing of the build host's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
work=${BENCH_DIR:-/var/tmp/berth-bench}/device-size
mkdir -p "$work"
declare -A triple=([amd64]=x86_64-unknown-linux-gnu [arm64]=aarch64-unknown-linux-gnu
                   [armhf]=armv7-unknown-linux-gnueabihf)
declare -A strip=([amd64]=strip [arm64]=aarch64-linux-gnu-strip [armhf]=arm-linux-gnueabihf-strip)
for arch in ${ARCHES:-amd64 arm64 armhf}; do
  for variant in plain device-registry; do
    features=()
    [ "$variant" = device-registry ] && features=(--features berthd/device-registry)
    cargo build --release --quiet -p berthd -p berthctl "${features[@]}" --target "${triple[$arch]}"
    out=target/${triple[$arch]}/release
    "${strip[$arch]}" -o "$work/berthd.$arch.$variant" "$out/berthd"
    "${strip[$arch]}" -o "$work/berthctl.$arch.$variant" "$out/berthctl"
    d=$(stat -c %s "$work/berthd.$arch.$variant")
    c=$(stat -c %s "$work/berthctl.$arch.$variant")
    met='target <= 8192 KiB met'
    if [ $(( d + c )) -gt $(( 8 * 1024 * 1024 )) ]; then
      met='target <= 8192 KiB NOT met'
      over=1
    fi
    printf '%-6s %-16s berthd %9d B  berthctl %9d B  together %6d KiB (%s)\n' "$arch" "$variant" \
      "$d" "$c" $(( (d + c) / 1024 )) "$met"
  done
done
# A size over the target fails the run: printed alone, it went unnoticed for a stop.
[ "${over:-0}" = 0 ]
