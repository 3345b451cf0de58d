#!/usr/bin/env bash
# A fleet on one machine: N berthd instances (N=50 by default), each in a network
# namespace of its own with its own working path and device id, joined by veth pairs
# to a bridge in a hub namespace where one registry serves them. Every device
# follows the tag fleet/app:stable (docs/fleet-updates.md):
#
#   1. all install 1.0.0 at once with `berthctl install docker://…:stable --follow`;
#   2. 2.0.0 is pushed to the tag: every device's own check installs it;
#   3. 2.1.0, which changes one 1 MiB file of the bundle, is pushed with --rollout 20:
#      exactly the devices whose draw is below 20 take it (the draw computed here from
#      the documented rule), the others are held back for two more check intervals;
#      then `berth rollout … 100`, and all. Each device fetches the package's head
#      and the changed file only (the registry's parts, docs/registry.md);
#   4. 3.0.0, which exits a second after it starts, is pushed: every device installs
#      it, rolls it back to 2.1.0 on probation, refuses it and never tries it again;
#   5. idle: the registry's requests per device per check interval (target: one
#      HEAD per followed tag), from its access log.
#
# Printed: time until the last device runs each version, bytes the registry sent
# (the hub bridge's transmit counter), registry and berthd peak memory (VmHWM). Only
# addresses inside these namespaces (10.231.0.0/16) and 127.0.0.0/8 are used. Every
# namespace and veth is removed at the end, whatever happens; the run fails if any
# is left. Run as root.
#
#   N=5 BIN_DIR=target/debug RESULT=out.json bash bench/fleet.sh   (what CI runs)
#
# BIN_DIR: binaries to use (default: a release build with --features device-registry).
# INTERVAL: the devices' updates.interval in seconds (default 4; jitter 0-2 s more).
# RESULT: also write the figures there as JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-50}
interval=${INTERVAL:-4}
source bench/lib.sh
fleet_bins
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
log: {level: error, accesslog: {disabled: false}}
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

# The packages: runc bundles of busybox and a 1 MiB file /app.bin. 1.0.0, 2.0.0 and
# 2.1.0 serve (2.1.0 with another /app.bin); 3.0.0 exits a second after it starts,
# within its 3 s probation.
make_bundle() {
  local dir=$work/bundle-$1 script=$2 seed=${3:-1}
  mkdir -p "$dir/bundle/rootfs/bin"
  cp /bin/busybox "$dir/bundle/rootfs/bin/"
  for a in sh sleep; do ln -sf busybox "$dir/bundle/rootfs/bin/$a"; done
  python3 -c 'import random, sys; random.seed(int(sys.argv[2])); open(sys.argv[1], "wb").write(random.randbytes(1 << 20))' \
    "$dir/bundle/rootfs/app.bin" "$seed"
  runc spec --bundle "$dir/bundle"
  python3 - "$dir/bundle/config.json" "$script" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["args"] = ["/bin/sh", "-c", sys.argv[2]]
json.dump(spec, open(sys.argv[1], "w"))
PY
  tar -C "$dir" -czf "$dir/bundle.tar.gz" bundle
}
make_bundle good "trap 'exit 0' TERM; sleep 1000000 & wait"
make_bundle changed "trap 'exit 0' TERM; sleep 1000000 & wait" 2
make_bundle bad "sleep 1; exit 3"
ref=docker://10.231.0.1:5000/fleet/app:stable
declare -A package_digest
# pack_and_push VERSION good|bad [berth push options]
pack_and_push() {
  local version=$1 payload=$2 pkg
  shift 2
  cat >"$work/manifest-$version.json" <<EOF
{"package_id": "fleet-app", "version": "$version", "runtime": "runc", "device_types": ["fleet"],
 "registration_defaults": {"autostart": true, "monitor": true, "probation": 3,
   "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}}}
EOF
  pkg=$("$bin/berth" pack --manifest "$work/manifest-$version.json" \
    --payload "$work/bundle-$payload/bundle.tar.gz" --output-dir "$work/pkg-$version")
  package_digest[$version]=$(ip netns exec "$hub" "$bin/berth" push "$pkg" "$ref" --tls-verify=false --json "$@" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["package_digest"])')
}

# The fleet.
for i in $(seq 1 "$n"); do
  mkdir -p "$work/d$i"
  cat >"$work/d$i/berthd.conf" <<EOF
{"version": 1,
 "service": {"working_path": "$work/d$i", "monitor_interval": 10},
 "api": {"socket": "$work/d$i/berthd.sock"},
 "runtimes": {"oci_runtime": "runc"},
 "registry": {"tls_verify": false},
 "device": {"id": "fleet-$i"},
 "updates": {"interval": $interval, "jitter": 2, "retry": 1}}
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
ctl() {
  local i=$1
  shift
  "$bin/berthctl" --socket "$work/d$i/berthd.sock" "$@"
}

# The version each device runs now, one line per device (- for none).
versions() {
  for i in $(seq 1 "$n"); do
    ctl "$i" list --json 2>/dev/null | python3 -c '
import json, sys
c = [c for c in json.load(sys.stdin) if c["id"] == "fleet-app"]
print(c[0]["version"] if c else "-")' || echo "-"
  done
}

# wait_all VERSION SECONDS [DEVICES]: waits until every device listed (default: all)
# runs VERSION off probation; prints the milliseconds waited.
wait_all() {
  local version=$1 limit=$2 devices=${3:-$(seq 1 "$n")} start behind
  start=$(now_ms)
  while :; do
    behind=0
    for i in $devices; do
      ctl "$i" status fleet-app --json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s["running"] and s["version"] == sys.argv[1] and not s.get("probation_until") else 1)' "$version" ||
        { behind=1; break; }
    done
    [ "$behind" = 0 ] && break
    if [ $(( $(now_ms) - start )) -gt $(( limit * 1000 )) ]; then
      echo "fleet.sh: not every device runs $version after ${limit}s: $(versions | tr '\n' ' ')" >&2
      return 1
    fi
    sleep 0.5
  done
  echo $(( $(now_ms) - start ))
}

# The devices whose draw for package $1 is below $2 percent (docs/fleet-updates.md).
drawn() {
  python3 - "$1" "$2" "$n" <<'PY'
import hashlib, sys
digest, percent, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(1, n + 1):
    h = hashlib.sha256(f"fleet-{i}\n{digest}".encode()).digest()
    if int.from_bytes(h[:8], "big") % 100 < percent:
        print(i)
PY
}

patience=$(( interval * 3 + 60 ))
quiet=$(( 2 * (interval + 2) ))  # two check intervals, jitter included

# 1. Install and follow, every device at once.
pack_and_push 1.0.0 good
bytes0=$(tx)
start=$(now_ms)
for i in $(seq 1 "$n"); do
  ctl "$i" install "$ref" --follow >"$work/d$i/install.out" 2>&1 &
done
wait || true
wait_all 1.0.0 "$patience" >/dev/null || { cat "$work"/d*/install.out >&2; exit 1; }
install_ms=$(( $(now_ms) - start ))
install_bytes=$(( $(tx) - bytes0 ))

# 2. A new version on the tag: every device's own check takes it.
pack_and_push 2.0.0 good
bytes0=$(tx)
upgrade_ms=$(wait_all 2.0.0 "$patience")
upgrade_bytes=$(( $(tx) - bytes0 ))

# 3. A staged rollout of a one-file change: exactly the devices the draw picks, then all.
bytes0=$(tx)
log0=$(wc -l <"$work/registry.log")
pack_and_push 2.1.0 changed --rollout 20
expected=$(drawn "${package_digest[2.1.0]}" 20 | tr '\n' ' ' | sed 's/ $//')
expected_count=$(wc -w <<<"$expected")
rollout_first_ms=0
if [ "$expected_count" -gt 0 ]; then
  rollout_first_ms=$(wait_all 2.1.0 "$patience" "$expected")
fi
sleep "$quiet"
mapfile -t running < <(versions)
first_wave=()
for i in $(seq 1 "$n"); do
  if [ "${running[$((i - 1))]}" = 2.1.0 ]; then first_wave+=("$i"); fi
done
if [ "${first_wave[*]:-}" != "$expected" ]; then
  echo "fleet.sh: at 20% devices [${first_wave[*]:-}] updated; the draw picks [$expected]" >&2
  exit 1
fi
ip netns exec "$hub" "$bin/berth" rollout "$ref" 100 --tls-verify=false >/dev/null
rollout_rest_ms=$(wait_all 2.1.0 "$patience")
# The push itself is not in the bridge's counter: it runs in the hub namespace, to
# the registry's own address, and never crosses br0. The full package's size, for the
# line below.
pushed_bytes=$(( $(stat -c %s "$work"/pkg-2.1.0/*) ))
change_bytes=$(( $(tx) - bytes0 ))
change_per_device=$(( change_bytes / n ))
# The same step in the registry's access log: blob bytes each device was sent, and
# the blobs a device was sent twice or more (the bridge's counter above also counts
# what TCP sent again; this says which device fetched what).
read -r change_blob_repeats change_blob_lines < <(tail -n +"$((log0 + 1))" "$work/registry.log" |
  python3 -c '
import re, sys
sent, gets = {}, {}
for line in sys.stdin:
    m = re.match(r"(\S+) .*\"GET /v2/\S+/blobs/(\S+) HTTP[^\"]*\" (\d+) (\d+)", line)
    if m and m.group(1) != "10.231.0.1":
        dev, blob, size = m.group(1), m.group(2), int(m.group(4))
        sent[dev] = sent.get(dev, 0) + size
        gets[(dev, blob)] = gets.get((dev, blob), 0) + 1
repeats = sum(1 for n in gets.values() if n > 1)
print(repeats, ", ".join(f"{d} {b} B" for d, b in sorted(sent.items())))')
head_bytes=$(ip netns exec "$hub" python3 - "$work/registry" <<'PY'
import json, os, sys
# The parts head of 2.1.0: the first layer of the parts referrer that names it.
root = os.path.join(sys.argv[1], "docker/registry/v2/blobs/sha256")
best = 0
for d, _, files in os.walk(root):
    if "data" in files:
        p = os.path.join(d, "data")
        try:
            m = json.load(open(p))
        except Exception:
            continue
        if m.get("artifactType") == "application/vnd.berth.parts.v1":
            best = max(best, m["layers"][0]["size"])
print(best)
PY
)

# 4. A version that fails its probation: back on 2.1.0 everywhere, refused, never retried.
pack_and_push 3.0.0 bad
bad=${package_digest[3.0.0]}
start=$(now_ms)
while :; do
  refused=0
  for i in $(seq 1 "$n"); do
    if ctl "$i" updates --json | python3 -c '
import json, sys
u = json.load(sys.stdin)[0]
sys.exit(0 if any(r["digest"] == sys.argv[1] for r in u["refused"]) else 1)' "$bad"; then
      refused=$(( refused + 1 ))
    fi
  done
  [ "$refused" = "$n" ] && break
  if [ $(( $(now_ms) - start )) -gt $(( patience * 1000 )) ]; then
    echo "fleet.sh: 3.0.0 refused by $refused of $n devices" >&2
    exit 1
  fi
  sleep 0.5
done
wait_all 2.1.0 "$patience" >/dev/null
rollback_ms=$(( $(now_ms) - start ))
sleep "$quiet"
for i in $(seq 1 "$n"); do
  tries=$(grep -c "names 3.0.0 (" "$work/d$i/berthd.log" || true)
  if [ "$tries" != 1 ]; then
    echo "fleet.sh: device $i installed 3.0.0 $tries times" >&2
    exit 1
  fi
done
wait_all 2.1.0 10 >/dev/null

# 5. Idle: what the registry is asked while nothing changes (its access log).
idle_s=$(( 3 * interval ))
idle0=$(wc -l <"$work/registry.log")
sleep "$idle_s"
# Both counts from one read of the log: two reads let a request logged between them
# count as a HEAD and not as a request (seen in CI: 11 requests, 12 HEAD).
idle_log=$(tail -n +"$((idle0 + 1))" "$work/registry.log")
idle_requests=$(grep -c '"[A-Z]* /v2/' <<<"$idle_log" || true)
idle_heads=$(grep -c '"HEAD /v2/' <<<"$idle_log" || true)
# A device checks every interval plus 0 to 2 s of jitter (1 s on average).
per_device_interval=$(python3 -c "print(round($idle_requests / $n / ($idle_s / ($interval + 1)), 2))")

hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
registry_kib=$(hwm "$registry_pid")
berthd_kib=$(for pid in "${berthd_pids[@]}"; do hwm "$pid"; done | sort -n)
berthd_max=$(tail -1 <<<"$berthd_kib")
berthd_median=$(sed -n "$(( (n + 1) / 2 ))p" <<<"$berthd_kib")
pkg_bytes=$(stat -c %s "$work"/pkg-1.0.0/*)

echo "fleet of $n berthd in network namespaces of their own, following $ref; package $pkg_bytes B (runc); checks every ${interval}s + 0-2s"
echo "1. install --follow 1.0.0:  all $n running after ${install_ms}ms; registry sent $install_bytes B ($(( install_bytes / n )) B per device)"
echo "2. 2.0.0 pushed to the tag: all $n run it after ${upgrade_ms}ms, by their own checks; registry sent $upgrade_bytes B ($(( upgrade_bytes / n )) B per device)"
echo "3. 2.1.0 at rollout 20%:    devices [$expected] ($expected_count of $n, those the draw picks) after ${rollout_first_ms}ms, the others held back; at 100% all after ${rollout_rest_ms}ms more"
echo "   one 1 MiB file changed:   registry sent $change_bytes B ($change_per_device B per device; the file 1048576 B, the parts head at most $head_bytes B, the full package $pushed_bytes B)"
echo "   blob bytes per device (the registry's access log): ${change_blob_lines:-none}; blobs sent to one device twice: $change_blob_repeats"
echo "4. 3.0.0 fails probation:   installed, rolled back to 2.1.0 and refused on all $n after ${rollback_ms}ms; tried once per device"
echo "5. idle ${idle_s}s:              $idle_requests registry requests ($idle_heads HEAD): $per_device_interval per device per check interval"
echo "peak memory: registry ${registry_kib} KiB; berthd median ${berthd_median} KiB, max ${berthd_max} KiB"
if [ -n "${RESULT:-}" ]; then
  cat >"$RESULT" <<EOF
{"instances": $n, "package_bytes": $pkg_bytes, "interval": $interval,
 "install_ms": $install_ms, "install_registry_bytes": $install_bytes,
 "upgrade_ms": $upgrade_ms, "upgrade_registry_bytes": $upgrade_bytes,
 "rollout_expected": $expected_count, "rollout_first_ms": $rollout_first_ms, "rollout_rest_ms": $rollout_rest_ms,
 "change_registry_bytes": $change_bytes, "change_bytes_per_device": $change_per_device, "parts_head_bytes_max": $head_bytes,
 "change_full_package_bytes": $pushed_bytes, "change_blob_repeats": $change_blob_repeats,
 "rollback_ms": $rollback_ms,
 "idle_seconds": $idle_s, "idle_requests": $idle_requests, "idle_heads": $idle_heads,
 "requests_per_device_interval": $per_device_interval,
 "registry_peak_kib": $registry_kib, "berthd_peak_kib_median": $berthd_median, "berthd_peak_kib_max": $berthd_max}
EOF
fi
