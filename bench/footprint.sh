#!/usr/bin/env bash
# berthd's footprint with 20 managed busybox containers: the time of their 20 installs
# and berthd's peak RSS after them (target <= 12 MiB), idle RSS (target <= 10 MiB),
# CPU time per monitor tick (berthd itself, and the runtime commands it runs), and the
# stripped sizes of berthd and berthctl (target: together <= 8 MiB). CPU is measured
# over three windows of TICKS ticks each; the median window is printed. Run as root.
# RUNTIME=lxc: 20 LXC busybox bundles instead, and beside berthd's tick the peer way
# of polling LXC statistics (`lxc-info -S` per container), with the ratio.
# RUNTIME=docker: 20 containers on Docker Engine (dockerd started by scripts/dockerd.sh
# if none answers), peer: `docker stats --no-stream` of all of them; dockerd's own CPU
# is counted on both sides (the CLI asks, dockerd does the work).
# RUNTIME=runc: 20 OCI runtime bundles under runc, peer: `runc events --stats` per
# container.
# HEALTH=cmd: each container has a health check, a command run inside it every
# monitor interval (HEALTH=tcp: a TCP probe berthd sends itself, to a closed port);
# its cost is in the CPU figures (run once without, once with, and compare). For
# podman, `podman exec`'s conmon is not berthd's child: its CPU is not counted.
set -euo pipefail
cd "$(dirname "$0")/.."
# PROFILE=debug measures the test build instead (CI's quick run, issue 29: the
# figures differ from a release build's, but a regression still shows).
profile=${PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --quiet --bin berth --bin berthd --bin berthctl
else
  # The features the test suite builds with: no second compile.
  cargo build --quiet --workspace --all-features
fi
bin=$PWD/target/$profile
echo "footprint: $profile build, ${CONTAINERS:-20} containers, runtime ${RUNTIME:-podman}"
work=${BENCH_DIR:-/var/tmp/berth-bench}/footprint
rm -rf "$work" && mkdir -p "$work/rootfs/bin"
n=${CONTAINERS:-20}
interval=2
ticks=${TICKS:-15}

runtime=${RUNTIME:-podman}
cp /bin/busybox "$work/rootfs/bin/"
for a in sh sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
dockerd_pid=
if [ "$runtime" = docker ]; then
  dockerd_pid=$(bash scripts/dockerd.sh start)
fi
if [ "$runtime" = runc ]; then
  # An OCI runtime bundle: runc's own default config.json, the command set.
  mkdir -p "$work/bundle"
  mv "$work/rootfs" "$work/bundle/rootfs"
  runc spec --bundle "$work/bundle"
  python3 - "$work/bundle/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"]
json.dump(spec, open(sys.argv[1], "w"))
PY
  payload=$work/bundle.tar.gz
  tar -C "$work" -czf "$payload" bundle
  create_field=''
elif [ "$runtime" = lxc ]; then
  # A bundle: config + rootfs, no network (no lxcbr0 on these hosts).
  mkdir -p "$work/bundle" "$work/rootfs/"{proc,sys,dev,tmp}
  printf '#!/bin/sh\nexec sleep 1000000\n' > "$work/rootfs/init.sh"
  mv "$work/rootfs" "$work/bundle/rootfs"
  printf '%s\n' 'lxc.uts.name = fp' 'lxc.net.0.type = none' 'lxc.init.cmd = /bin/sh /init.sh' \
    'lxc.mount.auto = proc:mixed sys:ro' 'lxc.rootfs.path = dir:/unused' > "$work/bundle/config"
  payload=$work/bundle.tar.gz
  tar -C "$work" -czf "$payload" bundle
  create_field=''
else
  tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
  image=localhost/berth-footprint:1
  podman rmi -f "$image" >/dev/null 2>&1 || true
  podman import -q --change 'CMD ["/bin/sh", "-c", "exec sleep infinity"]' "$work/rootfs.tar" "$image" >/dev/null
  payload=$work/image.tar
  podman save -q -o "$payload" "$image"
  create_field="\"create_args\": \"--init $image\","
  [ "$runtime" = docker ] && create_field='"create_args": "--init",'
fi

cat > "$work/berthd.conf" <<JSON
{"service": {"working_path": "$work/wp", "monitor_interval": $interval},
 "api": {"socket": "$work/berthd.sock"}}
JSON
"$bin/berthd" --config "$work/berthd.conf" 2>"$work/berthd.log" &
pid=$!
export BERTH_SOCKET=$work/berthd.sock
cleanup() {
  for i in $(seq "$n"); do "$bin/berthctl" uninstall "fp$i" >/dev/null 2>&1 || true; done
  kill $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  # The image the bench made (the machine is left as it was: scripts/host-guard.sh).
  [ -z "${image:-}" ] || podman rmi -f "$image" >/dev/null 2>&1 || true
  [ -z "$dockerd_pid" ] || bash scripts/dockerd.sh stop "$dockerd_pid"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$BERTH_SOCKET" ] && break; sleep 0.1; done

health_field=''
case "${HEALTH:-none}" in
  cmd) health_field=", \"health\": {\"cmd\": [\"/bin/sh\", \"-c\", \"exit 0\"], \"interval\": $interval, \"timeout\": 10}" ;;
  tcp) health_field=", \"health\": {\"tcp\": \"127.0.0.1:9\", \"interval\": $interval, \"retries\": 1000000}" ;;
  none) ;;
  *) echo "HEALTH must be cmd, tcp or none" >&2; exit 2 ;;
esac
echo "health checks: ${HEALTH:-none}"
packages=()
for i in $(seq "$n"); do
  cat > "$work/m$i.json" <<JSON
{"package_id": "fp$i", "version": "1", "runtime": "$runtime", $create_field
 "registration_defaults": {"autostart": true, "monitor": true,
   "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}$health_field},
 "device_types": ["bench"]}
JSON
  mkdir -p "$work/p$i"
  packages+=("$("$bin/berth" pack --manifest "$work/m$i.json" --payload "$payload" --output-dir "$work/p$i")")
done
# The installs, timed apart from the packing; berthd's peak RSS is read after them.
install_start=$(date +%s.%N)
for pkg in "${packages[@]}"; do
  "$bin/berthctl" install "$pkg" >/dev/null
done
install_s=$(echo "$(date +%s.%N) - $install_start" | bc)
install_hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
lxcpath=$work/wp/lxc
runc_root=$work/wp/oci-state
case "$runtime" in
  lxc) running=$(lxc-ls -P "$lxcpath" --running | wc -w) ;;
  docker) running=$(docker ps --filter name=fp -q | wc -l) ;;
  runc) running=$(runc --root "$runc_root" list | grep -c running || true) ;;
  *) running=$(podman ps --filter name=fp --format '{{.Names}}' | wc -l) ;;
esac

# clock ticks of berthd ($14 utime, $15 stime) and of its waited-for children ($16, $17),
# plus dockerd's for Docker (the work behind the CLI's answers is dockerd's)
engine_pid=
[ "$runtime" = docker ] && engine_pid=$(pidof dockerd | awk '{print $1}')
engine_ticks() { if [ -n "$engine_pid" ]; then awk '{print $14+$15}' "/proc/$engine_pid/stat"; else echo 0; fi; }
cpu() { awk -v e="$(engine_ticks)" '{print $14+$15, $16+$17+e}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
sleep "$interval"
# Three windows; each line: "self kids" clock ticks used in it.
windows=()
for _ in 1 2 3; do
  read -r s0 k0 < <(cpu)
  sleep $((ticks * interval))
  read -r s1 k1 < <(cpu)
  windows+=("$((s1 - s0)) $((k1 - k0))")
done
# The median window by berthd's own CPU.
median_window=$(printf '%s\n' "${windows[@]}" | sort -n | sed -n 2p)
self0=0; kids0=0
read -r self1 kids1 <<< "$median_window"
echo "CPU clock ticks per window of $ticks ticks (berthd, its commands): $(printf '[%s] ' "${windows[@]}")"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

strip -o "$work/berthd.stripped" "$bin/berthd"
strip -o "$work/berthctl.stripped" "$bin/berthctl"
sd=$(stat -c %s "$work/berthd.stripped")
sc=$(stat -c %s "$work/berthctl.stripped")

echo "containers running:             $running of $n"
echo "installs of $n packages:         $(printf '%.2f' "$install_s") s (berthd peak RSS after them ${install_hwm} KiB; target <= 12288 KiB)"
echo "berthd idle RSS:                ${rss} KiB (peak ${hwm} KiB; target <= 10240 KiB)"
echo "CPU per monitor tick (berthd):  $(echo "scale=2; ($self1 - $self0) * 1000 / $hz / $ticks" | bc) ms"
kids_ms=$(echo "scale=1; ($kids1 - $kids0) * 1000 / $hz / $ticks" | bc)
# The peer way of getting every container's statistics once, timed in CPU (user +
# system of the command and its children).
peer_cpu_ms() {
  local e0 used
  e0=$(engine_ticks)
  used=$( { /usr/bin/time -f '%U %S' bash -c "$1" _ "$n" "$lxcpath" "$runc_root"; } 2>&1 | tail -1)
  echo "$used" | awk -v e="$(( $(engine_ticks) - e0 ))" -v hz="$hz" '{printf "%.1f", ($1 + $2 + e / hz) * 1000}'
}
case "$runtime" in
  lxc)
    commands="the lxc-ls it runs"
    peer_name="lxc-info -S per container"
    peer_ms=$(peer_cpu_ms 'for i in $(seq "$1"); do lxc-info -P "$2" -n "fp$i" -S -H >/dev/null; done') ;;
  docker)
    commands="the docker ps it runs, and dockerd"
    peer_name="docker stats --no-stream of all"
    peer_ms=$(peer_cpu_ms 'docker stats --no-stream $(for i in $(seq "$1"); do echo "fp$i"; done) >/dev/null') ;;
  runc)
    commands="the runc list it runs"
    peer_name="runc events --stats per container"
    peer_ms=$(peer_cpu_ms 'for i in $(seq "$1"); do runc --root "$3" events --stats "fp$i" >/dev/null; done') ;;
  *)
    commands="podman ps + stats it runs"
    peer_name="" ;;
esac
echo "CPU per monitor tick ($commands): $kids_ms ms"
if [ -n "$peer_name" ]; then
  ours_ms=$(echo "scale=2; (($self1 - $self0) + ($kids1 - $kids0)) * 1000 / $hz / $ticks" | bc)
  echo "peer: $peer_name, $n containers: $peer_ms ms CPU"
  ratio=n/a
  [ "$(echo "$ours_ms > 0" | bc)" = 1 ] && ratio=$(echo "scale=1; $peer_ms / $ours_ms" | bc)
  echo "berthd tick incl. its commands: $ours_ms ms CPU; peer/berth $ratio"
fi
echo "stripped: berthd $sd B, berthctl $sc B, together $(( (sd + sc) / 1024 )) KiB (target <= 8192 KiB)"
