#!/usr/bin/env bash
# Peak extra disk of `podman load` of the ~1 GiB benchmark image, from a file and from
# stdin, sampled every 50 ms with statvfs, next to the final growth of podman's storage.
# The numbers an install path for berthd must beat (issue 3). Run as root, after
# bench/pack-verify.sh made the payload.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-/var/tmp/berth-bench}
archive=$work/image.tar
image=localhost/berth-bench:1
[ -s "$archive" ] || { echo "run bench/pack-verify.sh first (it makes $archive)"; exit 1; }

used() { python3 -c 'import os; s=os.statvfs("/var/lib/containers"); print((s.f_blocks-s.f_bfree)*s.f_frsize)'; }

# sample CMD...: runs CMD, prints "peak_extra final_growth" in bytes.
sample() {
  podman rmi -f "$image" >/dev/null 2>&1 || true
  sync; local base; base=$(used)
  "$@" >/dev/null 2>&1 &
  local pid=$! peak=$base u
  while kill -0 "$pid" 2>/dev/null; do
    u=$(used); [ "$u" -gt "$peak" ] && peak=$u
    sleep 0.05
  done
  wait "$pid"
  sync; local after; after=$(used)
  echo "$((peak - base)) $((after - base))"
}

mib() { echo $(( $1 / 1048576 )); }
size=$(stat -c %s "$archive")
read -r pf gf < <(sample podman load -q -i "$archive")
read -r ps gs < <(sample bash -c "podman load -q < '$archive'")
read -r pk gk < <(sample skopeo copy -q "docker-archive:$archive" "containers-storage:$image")
podman rmi -f "$image" >/dev/null 2>&1 || true
largest=$(tar -tvf "$archive" | awk '$6 ~ /\.tar$/ {print $3}' | sort -n | tail -1)
echo "image archive:              $(mib "$size") MiB (largest layer $(mib "${largest:-0}") MiB)"
echo "podman load -i FILE: peak extra $(mib "$pf") MiB, final storage growth $(mib "$gf") MiB"
echo "podman load < stdin: peak extra $(mib "$ps") MiB, final storage growth $(mib "$gs") MiB"
echo "skopeo copy docker-archive:FILE containers-storage: peak extra $(mib "$pk") MiB, final growth $(mib "$gk") MiB"
echo "issue 3 target for berthd install: <= growth + largest layer + 5% = $(mib $(( (gf + ${largest:-0}) * 105 / 100 ))) MiB"
