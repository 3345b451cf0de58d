#!/usr/bin/env bash
# Sending only what changed, for image packages (docs/fleet-updates.md): a podman
# image of ~SIZE_MIB MiB (busybox and four layers of random data) whose 2.1.0 changes
# only a 1 MiB app layer.
#
#   1. N devices (berthd each, each with a podman store of its own) install 2.0.0
#      from a registry on 127.0.0.1, then 2.1.0: the bytes the registry sent per
#      device (its access log) for each, and the time until all run 2.1.0. The peer:
#      `podman pull` of the same two images from the same registry into a store that
#      has 2.0.0, which fetches only the changed layer too (gzip'd).
#   2. The same upgrade as a file: `berth pack --delta-from` — the delta's size
#      against the full package's, and `berthctl install` of each on a device
#      running 2.0.0.
#
# Issue 24's target: per device, at most 1.1 times the changed layer plus the
# package's head. Every store, container, daemon and file is removed at the end.
# Run as root.
#
#   N=3 SIZE_MIB=100 BIN_DIR=target/debug RESULT=out.json bash bench/delta.sh
#
# BIN_DIR: binaries to use (default: a release build with --features device-registry).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-3}
size_mib=${SIZE_MIB:-100}
source bench/lib.sh
fleet_bins
for tool in podman docker-registry python3; do
  command -v "$tool" >/dev/null || { echo "delta.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
work=${BENCH_DIR:-/var/tmp/berth-bench}/delta-$$
mkdir -p "$work"
now_ms() { date +%s%3N; }

# A podman store of its own under $1 (vfs: no mounts to leave behind).
store() {
  mkdir -p "$1"
  printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/graph"\nrunroot = "%s/run"\n' "$1" "$1" >"$1/storage.conf"
}
pod() {
  local dir=$1
  shift
  CONTAINERS_STORAGE_CONF=$dir/storage.conf podman "$@"
}

berthd_pids=()
registry_pid=
cleanup() {
  set +e
  for i in $(seq 1 "$n"); do
    [ -S "$work/d$i/berthd.sock" ] &&
      timeout 60 "$bin/berthctl" --socket "$work/d$i/berthd.sock" uninstall delta-app >/dev/null 2>&1
  done
  for pid in "${berthd_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${berthd_pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
  done
  [ -n "$registry_pid" ] && kill -KILL "$registry_pid" 2>/dev/null
  for s in "$work"/*/storage.conf; do
    [ -f "$s" ] || continue
    pod "$(dirname "$s")" rm -fa >/dev/null 2>&1
    pod "$(dirname "$s")" rmi -af >/dev/null 2>&1
  done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
}
trap cleanup EXIT

# The images, built in a store of their own.
build=$work/build
store "$build"
mkdir -p "$build/ctx/rootfs/bin"
cp /bin/busybox "$build/ctx/rootfs/bin/"
ln -sf busybox "$build/ctx/rootfs/bin/sh"
ln -sf busybox "$build/ctx/rootfs/bin/sleep"
tar -C "$build/ctx/rootfs" -cf "$build/rootfs.tar" .
pod "$build" import -q --change 'CMD ["/bin/sleep", "1000000"]' "$build/rootfs.tar" localhost/delta-busybox:1 >/dev/null
random_file() { python3 -c 'import random, sys; random.seed(int(sys.argv[2])); open(sys.argv[1], "wb").write(random.randbytes(int(sys.argv[3])))' "$@"; }
layer_bytes=$(( size_mib * 1048576 / 4 ))
{
  echo "FROM localhost/delta-busybox:1"
  for k in 1 2 3 4; do
    random_file "$build/ctx/base$k.bin" "$k" "$layer_bytes"
    echo "COPY base$k.bin /base$k.bin"
  done
} >"$build/ctx/Containerfile.base"
pod "$build" build -q --pull=never --network none -f "$build/ctx/Containerfile.base" -t localhost/delta-base:1 "$build/ctx" >/dev/null
for v in 2.0.0 2.1.0; do
  seed=$([ "$v" = 2.0.0 ] && echo 100 || echo 200)
  mkdir -p "$build/ctx-$v"
  random_file "$build/ctx-$v/app.bin" "$seed" 1048576
  printf 'FROM localhost/delta-base:1\nCOPY app.bin /app.bin\n' >"$build/ctx-$v/Containerfile"
  pod "$build" build -q --pull=never --network none -t "localhost/delta-app:$v" "$build/ctx-$v" >/dev/null
  pod "$build" save -q --format docker-archive -o "$build/$v.tar" "localhost/delta-app:$v"
  cat >"$work/manifest-$v.json" <<EOF
{"package_id": "delta-app", "version": "$v", "runtime": "podman", "device_types": ["bench"],
 "create_args": "--init --network none",
 "registration_defaults": {"autostart": true, "monitor": true, "probation": 0,
   "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}}}
EOF
done
"$bin/berth" pack --manifest "$work/manifest-2.0.0.json" --payload "$build/2.0.0.tar" --output-dir "$work/pkg-2.0.0" >/dev/null
full1=$(ls "$work"/pkg-2.0.0/*.tar.gz)
"$bin/berth" pack --json --manifest "$work/manifest-2.1.0.json" --payload "$build/2.1.0.tar" \
  --output-dir "$work/pkg-2.1.0" --delta-from "$full1" >"$work/pack-2.1.0.json"
read -r full2 delta_file delta_size full2_size < <(python3 -c '
import json, os, sys
r = json.load(open(sys.argv[1]))
print(r["package"]["path"], r["delta"]["path"], r["delta"]["size_bytes"], os.path.getsize(r["package"]["path"]))' "$work/pack-2.1.0.json")
app_layer=$(python3 - "$build/2.1.0.tar" <<'PY'
import json, sys, tarfile
t = tarfile.open(sys.argv[1])
m = json.load(t.extractfile("manifest.json"))
print(t.getmember(m[0]["Layers"][-1]).size)
PY
)

# The registry, logging every request with the bytes it sent.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
disown "$registry_pid"
for _ in $(seq 1 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
base=docker://127.0.0.1:$port/delta
"$bin/berth" push "$full1" "$base/app:2.0.0" >/dev/null
"$bin/berth" push "$full2" "$base/app:2.1.0" --json >"$work/push-2.1.0.json"
head_size=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["parts"]["head_size"])' "$work/push-2.1.0.json")
for v in 2.0.0 2.1.0; do
  pod "$build" push -q --tls-verify=false "localhost/delta-app:$v" "docker://127.0.0.1:$port/delta/image:$v"
done
# The bytes the registry sent in its access log lines after line $1 ("… STATUS BYTES …").
log_lines() { wc -l <"$work/registry.log"; }
sent_since() {
  tail -n +"$(( $1 + 1 ))" "$work/registry.log" |
    python3 -c '
import re, sys
total = 0
for line in sys.stdin:
    m = re.search(r"\" (\d{3}) (\d+) ", line)
    if m:
        total += int(m.group(2))
print(total)'
}

# The devices.
for i in $(seq 1 "$n"); do
  d=$work/d$i
  store "$d/podman"
  cat >"$d/berthd.conf" <<EOF
{"version": 1,
 "service": {"working_path": "$d", "monitor_interval": 10},
 "api": {"socket": "$d/berthd.sock"}}
EOF
  CONTAINERS_STORAGE_CONF=$d/podman/storage.conf "$bin/berthd" --config "$d/berthd.conf" >"$d/berthd.log" 2>&1 &
  berthd_pids+=("$!")
  disown "$!"
done
for i in $(seq 1 "$n"); do
  for _ in $(seq 1 400); do [ -S "$work/d$i/berthd.sock" ] && break; sleep 0.05; done
done
ctl() {
  local i=$1
  shift
  "$bin/berthctl" --socket "$work/d$i/berthd.sock" "$@"
}
# install_all REF: every device installs REF at once; prints the milliseconds.
install_all() {
  local start pids=()
  start=$(now_ms)
  for i in $(seq 1 "$n"); do
    ctl "$i" install "$1" >"$work/d$i/install.out" 2>&1 &
    pids+=("$!")
  done
  for i in $(seq 1 "$n"); do
    wait "${pids[$((i - 1))]}" || { echo "delta.sh: device $i: $(cat "$work/d$i/install.out")" >&2; exit 1; }
  done
  echo $(( $(now_ms) - start ))
}

# 1. From the registry.
l0=$(log_lines)
first_ms=$(install_all "$base/app:2.0.0")
first_bytes=$(sent_since "$l0")
l0=$(log_lines)
upgrade_ms=$(install_all "$base/app:2.1.0")
upgrade_bytes=$(sent_since "$l0")
upgrade_per_device=$(( upgrade_bytes / n ))
for i in $(seq 1 "$n"); do
  grep -q "from the registry's parts: fetched 1 " "$work/d$i/berthd.log" ||
    { echo "delta.sh: device $i did not upgrade from the parts: $(grep parts "$work/d$i/berthd.log")" >&2; exit 1; }
done
# The peer: podman pulls 2.0.0, then 2.1.0.
peer=$work/peer
store "$peer"
pod "$peer" pull -q --tls-verify=false "docker://127.0.0.1:$port/delta/image:2.0.0" >/dev/null
l0=$(log_lines)
start=$(now_ms)
pod "$peer" pull -q --tls-verify=false "docker://127.0.0.1:$port/delta/image:2.1.0" >/dev/null
peer_ms=$(( $(now_ms) - start ))
peer_bytes=$(sent_since "$l0")

# 2. As a file, on device 1: the full package, then the delta, each over 2.0.0.
file_install() {
  ctl 1 uninstall delta-app >/dev/null
  ctl 1 install "$full1" >/dev/null
  local start
  start=$(now_ms)
  ctl 1 install "$1" >/dev/null
  echo $(( $(now_ms) - start ))
}
full_file_ms=$(file_install "$full2")
delta_file_ms=$(file_install "$delta_file")

target=$(python3 -c "print(int(1.1 * $app_layer + $head_size))")
ratio=$(python3 -c "print(round($upgrade_per_device / $peer_bytes, 2))")
echo "image of ~${size_mib} MiB (busybox and 4 random layers), 2.1.0 changes one layer of $app_layer B; $n devices, podman"
echo "1. from the registry: 2.0.0 (first install) $(( first_bytes / n )) B per device in ${first_ms}ms for all;"
echo "   2.1.0 (upgrade) $upgrade_per_device B per device in ${upgrade_ms}ms for all (target <= $target B: 1.1 x the layer + the head $head_size B)"
echo "   peer, podman pull of 2.1.0 over 2.0.0: $peer_bytes B in ${peer_ms}ms; berth/podman bytes: $ratio"
echo "2. as a file: full package $full2_size B, delta $delta_size B ($(python3 -c "print(round($delta_size / $full2_size * 100, 2))")%);"
echo "   berthctl install over 2.0.0: full ${full_file_ms}ms, delta ${delta_file_ms}ms (the delta rebuilds the payload from podman's export of 2.0.0)"
if [ -n "${RESULT:-}" ]; then
  cat >"$RESULT" <<EOF
{"devices": $n, "size_mib": $size_mib, "app_layer_bytes": $app_layer, "head_bytes": $head_size,
 "first_bytes_per_device": $(( first_bytes / n )), "first_ms": $first_ms,
 "upgrade_bytes_per_device": $upgrade_per_device, "upgrade_ms": $upgrade_ms, "target_bytes": $target,
 "peer_bytes": $peer_bytes, "peer_ms": $peer_ms,
 "full_package_bytes": $full2_size, "delta_bytes": $delta_size,
 "full_file_install_ms": $full_file_ms, "delta_file_install_ms": $delta_file_ms}
EOF
fi
