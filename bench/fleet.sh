#!/usr/bin/env bash
# A fleet on one machine: N berthd instances (N=50 by default), each in a network
# namespace of its own with its own working path, joined by veth pairs to a bridge in
# a hub namespace where one registry serves them. All install the same package from
# the registry at once (`berthctl install docker://…`), then an upgrade is rolled out
# to all. Printed: time until the last container runs, bytes the registry sent (the
# hub bridge's transmit counter), registry and berthd peak memory (VmHWM). Only
# addresses inside these namespaces (10.231.0.0/16) and 127.0.0.0/8 are used. Every
# namespace and veth is removed at the end, whatever happens; the run fails if any
# is left. Run as root.
#
#   N=5 BIN_DIR=target/debug RESULT=out.json bash bench/fleet.sh   (what CI runs)
#
# BIN_DIR: binaries to use (default: a release build with --features device-registry).
# RESULT: also write the figures there as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-50}
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release --quiet -p berth-cli -p berthd -p berthctl --features berthd/device-registry
  bin=$PWD/target/release
else
  bin=$(cd "$BIN_DIR" && pwd)
fi
for tool in ip nsenter runc docker-registry; do
  command -v "$tool" >/dev/null || { echo "fleet.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
tag=$$
hub=berth-fleet-$tag-hub
work=${BENCH_DIR:-/var/tmp/berth-bench}/fleet-$tag
mkdir -p "$work"
ns() { echo "berth-fleet-$tag-$1"; }
now_ms() { date +%s%3N; }

berthd_pids=()
registry_pid=
cleanup() {
  set +e
  local uninstalls=()
  for i in $(seq 1 "$n"); do
    if [ -S "$work/d$i/berthd.sock" ]; then
      timeout 60 "$bin/berthctl" --socket "$work/d$i/berthd.sock" uninstall fleet-app >/dev/null 2>&1 &
      uninstalls+=("$!")
    fi
  done
  for pid in "${uninstalls[@]}"; do wait "$pid"; done
  for pid in "${berthd_pids[@]}"; do kill -KILL "$pid" 2>/dev/null; done
  [ -n "$registry_pid" ] && kill -KILL "$registry_pid" 2>/dev/null
  for i in $(seq 1 "$n"); do
    # A container berthd did not get to remove: its runc state is under the instance.
    if [ -d "$work/d$i/oci-state" ]; then
      runc --root "$work/d$i/oci-state" delete -f fleet-app >/dev/null 2>&1
    fi
    ip netns delete "$(ns "$i")" 2>/dev/null
  done
  ip netns delete "$hub" 2>/dev/null
  left_ns=$(ip netns list | grep -c "berth-fleet-$tag" || true)
  left_veth=$(ip -o link show | grep -c "bf${tag}" || true)
  echo "clean-up: $left_ns namespaces and $left_veth veth left"
  [ "${KEEP:-0}" = 1 ] || rm -rf "$work"
  [ "$left_ns" = 0 ] && [ "$left_veth" = 0 ]
}
trap cleanup EXIT

# The hub: a bridge and the registry on 10.231.0.1.
ip netns add "$hub"
ip -n "$hub" link set lo up
ip -n "$hub" link add br0 type bridge
ip -n "$hub" addr add 10.231.0.1/16 dev br0
ip -n "$hub" link set br0 up
for i in $(seq 1 "$n"); do
  d=$(ns "$i")
  ip netns add "$d"
  ip -n "$d" link set lo up
  # Both ends made in the device's namespace, the hub's end moved to the hub.
  ip -n "$d" link add eth0 type veth peer name "bf${tag}h$i"
  ip -n "$d" link set "bf${tag}h$i" netns "$hub"
  ip -n "$hub" link set "bf${tag}h$i" master br0 up
  ip -n "$d" addr add "10.231.$(( i / 250 + 1 )).$(( i % 250 + 1 ))/16" dev eth0
  ip -n "$d" link set eth0 up
done

cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: 10.231.0.1:5000}
EOF
ip netns exec "$hub" docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
disown "$registry_pid"  # killed at the end on purpose: no job notice
for _ in $(seq 1 200); do
  ip netns exec "$hub" bash -c 'exec 3<>/dev/tcp/10.231.0.1/5000' 2>/dev/null && break
  sleep 0.05
done

# The package: a runc bundle of busybox, version 1 and 2.
mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/"
for a in sh sleep; do ln -sf busybox "$work/bundle/rootfs/bin/$a"; done
runc spec --bundle "$work/bundle"
python3 - "$work/bundle/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"]
json.dump(spec, open(sys.argv[1], "w"))
PY
tar -C "$work" -czf "$work/bundle.tar.gz" bundle
for version in 1.0.0 2.0.0; do
  cat >"$work/manifest-$version.json" <<EOF
{"package_id": "fleet-app", "version": "$version", "runtime": "runc", "device_types": ["fleet"],
 "registration_defaults": {"autostart": true, "monitor": true,
   "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}}}
EOF
  pkg=$("$bin/berth" pack --manifest "$work/manifest-$version.json" --payload "$work/bundle.tar.gz" --output-dir "$work/pkg-$version")
  ip netns exec "$hub" "$bin/berth" push "$pkg" "docker://10.231.0.1:5000/fleet/app:$version" --tls-verify=false >/dev/null
done

# The fleet.
for i in $(seq 1 "$n"); do
  mkdir -p "$work/d$i"
  cat >"$work/d$i/berthd.conf" <<EOF
{"version": 1,
 "service": {"working_path": "$work/d$i", "monitor_interval": 10},
 "api": {"socket": "$work/d$i/berthd.sock"},
 "runtimes": {"oci_runtime": "runc"},
 "registry": {"tls_verify": false}}
EOF
  # nsenter, not `ip netns exec`: that one remounts /sys for the namespace, which
  # hides /sys/fs/cgroup from runc; berthd needs only the network namespace.
  nsenter --net="/run/netns/$(ns "$i")" "$bin/berthd" --config "$work/d$i/berthd.conf" >"$work/d$i/berthd.log" 2>&1 &
  berthd_pids+=("$!")
  disown "$!"
done
for i in $(seq 1 "$n"); do
  for _ in $(seq 1 400); do [ -S "$work/d$i/berthd.sock" ] && break; sleep 0.05; done
done

tx() { ip netns exec "$hub" cat /sys/class/net/br0/statistics/tx_bytes; }

# Installs every instance at once; prints "seconds bytes" once all are running.
roll_out() {
  local version=$1 start bytes0 failed=0
  bytes0=$(tx)
  start=$(now_ms)
  for i in $(seq 1 "$n"); do
    "$bin/berthctl" --socket "$work/d$i/berthd.sock" install "docker://10.231.0.1:5000/fleet/app:$version" \
      >"$work/d$i/install-$version.out" 2>&1 &
  done
  wait || true
  for i in $(seq 1 "$n"); do
    local sock=$work/d$i/berthd.sock
    if ! python3 - "$("$bin/berthctl" --socket "$sock" status fleet-app --json 2>&1)" \
      "$("$bin/berthctl" --socket "$sock" list --json 2>&1)" "$version" <<'PY'
import json, sys
try:
    status, listed = json.loads(sys.argv[1]), json.loads(sys.argv[2])
except ValueError:
    sys.exit(1)
versions = [c["version"] for c in listed if c["id"] == "fleet-app"]
sys.exit(0 if status["running"] and versions == [sys.argv[3]] else 1)
PY
    then
      echo "fleet.sh: instance $i is not running $version: $(cat "$work/d$i/install-$version.out")" >&2
      failed=1
    fi
  done
  [ "$failed" = 0 ] || return 1
  echo "$(( $(now_ms) - start )) $(( $(tx) - bytes0 ))"
}

installed=$(roll_out 1.0.0)
read -r install_ms install_bytes <<<"$installed"
upgraded=$(roll_out 2.0.0)
read -r upgrade_ms upgrade_bytes <<<"$upgraded"
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
registry_kib=$(hwm "$registry_pid")
berthd_kib=$(for pid in "${berthd_pids[@]}"; do hwm "$pid"; done | sort -n)
berthd_max=$(tail -1 <<<"$berthd_kib")
berthd_median=$(sed -n "$(( (n + 1) / 2 ))p" <<<"$berthd_kib")
pkg_bytes=$(stat -c %s "$work"/pkg-1.0.0/*)

echo "fleet of $n berthd, each in its own network namespace, package $pkg_bytes B (runc)"
echo "install 1.0.0 from the registry: all $n running after $(( install_ms ))ms; registry sent $install_bytes B ($(( install_bytes / n )) B per device)"
echo "upgrade to 2.0.0:                all $n running after $(( upgrade_ms ))ms; registry sent $upgrade_bytes B"
echo "peak memory: registry ${registry_kib} KiB; berthd median ${berthd_median} KiB, max ${berthd_max} KiB"
if [ -n "${RESULT:-}" ]; then
  cat >"$RESULT" <<EOF
{"instances": $n, "package_bytes": $pkg_bytes,
 "install_ms": $install_ms, "install_registry_bytes": $install_bytes,
 "upgrade_ms": $upgrade_ms, "upgrade_registry_bytes": $upgrade_bytes,
 "registry_peak_kib": $registry_kib, "berthd_peak_kib_median": $berthd_median, "berthd_peak_kib_max": $berthd_max}
EOF
fi
