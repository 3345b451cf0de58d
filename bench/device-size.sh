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
for arch in ${ARCHES:-amd64 arm64 armhf}; do
  for variant in plain device-registry; do
    features=
    [ "$variant" = device-registry ] && features=berthd/device-registry
    # make device: the same build, triple and strip as a device gets.
    make --no-print-directory -s device ARCH="$arch" DEVICE_FEATURES="$features" >/dev/null
    out=target/$(make --no-print-directory -s -f - <<<'include Makefile
print: ; @echo $(TRIPLE)' print ARCH="$arch")/release
    cp "$out/berthd" "$work/berthd.$arch.$variant"
    cp "$out/berthctl" "$work/berthctl.$arch.$variant"
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
