#!/usr/bin/env bash
# Peak extra disk of installing the ~1 GiB benchmark image: `berthctl install` of a
# berth package through berthd, next to `podman load` from a file and from stdin and
# `skopeo copy`, sampled every 50 ms with statvfs, with the final growth of podman's
# storage. Issue 3's target: berth's peak <= growth + largest layer + 5%.
# Every filesystem an install writes to is sampled (podman's storage, its temporary
# directory, berthd's working path and staging), each counted once. Each figure is the
# median of RUNS runs (default 3). Run as root, after bench/pack-verify.sh made the
# payload.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-/var/tmp/berth-bench}
archive=$work/image.tar
image=localhost/berth-bench:1
[ -s "$archive" ] || { echo "run bench/pack-verify.sh first (it makes $archive)"; exit 1; }
cargo build --release --quiet --bin berth --bin berthd --bin berthctl
bin=$PWD/target/release

runs=${RUNS:-3}
wp=$work/berthd
graphroot=$(podman info --format '{{.Store.GraphRoot}}')
# podman's temporary files: $TMPDIR, else containers.conf's image_copy_tmp_dir, else /var/tmp.
podman_tmp=${TMPDIR:-/var/tmp}
mkdir -p "$wp/work/staging"
written=("$graphroot" "$podman_tmp" "$wp/work" "$wp/work/staging")

# used bytes summed over the distinct filesystems of the paths written to.
used() {
  python3 - "${written[@]}" <<'PY'
import os, sys
seen, total = set(), 0
for p in sys.argv[1:]:
    while not os.path.exists(p):
        p = os.path.dirname(p)
    dev = os.stat(p).st_dev
    if dev in seen:
        continue
    seen.add(dev)
    s = os.statvfs(p)
    total += (s.f_blocks - s.f_bfree) * s.f_frsize
print(total)
PY
}

filesystems() {
  for p in "${written[@]}"; do df --output=target "$p" | tail -1; done | sort -u | tr '\n' ' '
}

# sample CMD...: runs CMD, prints "peak_extra final_growth" in bytes.
sample_once() {
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

# sample CMD...: the median peak and growth of RUNS runs of sample_once, with
# AFTER (a command run after each run, to undo it).
after=true
sample() {
  local peaks=() growths=() p g
  for _ in $(seq "$runs"); do
    read -r p g < <(sample_once "$@")
    peaks+=("$p"); growths+=("$g")
    eval "$after" >/dev/null 2>&1 || true
  done
  echo "$(printf '%s\n' "${peaks[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}') \
$(printf '%s\n' "${growths[@]}" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')"
}

mib() { echo $(( $1 / 1048576 )); }

# The package (outside the sampling: like the archive for podman, it is already on disk).
id=berth-bench
cat > "$work/install-manifest.json" <<JSON
{"package_id": "$id", "version": "1", "runtime": "podman", "create_args": "$image true",
 "registration_defaults": {"autostart": false, "monitor": false,
   "restart": {"enabled": false, "max_retries": 0, "window": 60, "retry_delay": 0}},
 "device_types": ["bench"]}
JSON
rm -rf "$work/pkg" && mkdir -p "$work/pkg"
pkg=$("$bin/berth" pack --manifest "$work/install-manifest.json" --payload "$archive" --output-dir "$work/pkg")
rm -rf "$wp" && mkdir -p "$wp/work/staging"
echo '{"service": {"working_path": "'"$wp"'/work", "podman_load_timeout": 1800}, "api": {"socket": "'"$wp"'/berthd.sock"}}' > "$wp/berthd.conf"
"$bin/berthd" --config "$wp/berthd.conf" 2>"$wp/berthd.log" &
berthd=$!
trap 'kill $berthd 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$wp/berthd.sock" ] && break; sleep 0.1; done
export BERTH_SOCKET=$wp/berthd.sock
size=$(stat -c %s "$archive")
echo "sampling the filesystems of ${written[*]}: $(filesystems)"
after="'$bin/berthctl' uninstall $id"
read -r pb gb < <(sample "$bin/berthctl" install "$pkg")
after=true
read -r pf gf < <(sample podman load -q -i "$archive")
read -r ps gs < <(sample bash -c "podman load -q < '$archive'")
read -r pk gk < <(sample skopeo copy -q "docker-archive:$archive" "containers-storage:$image")
podman rmi -f "$image" >/dev/null 2>&1 || true
largest=$(tar -tvf "$archive" | awk '$6 ~ /\.tar$/ {print $3}' | sort -n | tail -1)
echo "image archive:              $(mib "$size") MiB (largest layer $(mib "${largest:-0}") MiB)"
echo "berthctl install PKG: peak extra $(mib "$pb") MiB, final storage growth $(mib "$gb") MiB (package $(mib "$(stat -c %s "$pkg")") MiB)"
echo "podman load -i FILE: peak extra $(mib "$pf") MiB, final storage growth $(mib "$gf") MiB"
echo "podman load < stdin: peak extra $(mib "$ps") MiB, final storage growth $(mib "$gs") MiB"
echo "skopeo copy docker-archive:FILE containers-storage: peak extra $(mib "$pk") MiB, final growth $(mib "$gk") MiB"
target=$(( (gb + ${largest:-0}) * 105 / 100 ))
echo "issue 3 target for berthd install: <= growth + largest layer + 5% = $(mib "$target") MiB"
echo "berth install peak / target: $(echo "scale=3; $pb / $target" | bc)"
echo "peak ratios: podman load -i FILE / berth = $(echo "scale=2; $pf / $pb" | bc), podman load < stdin / berth = $(echo "scale=2; $ps / $pb" | bc)"
