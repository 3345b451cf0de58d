#!/usr/bin/env bash
# berthd's footprint with 20 managed busybox containers: idle RSS (target <= 10 MiB),
# CPU time per monitor tick (berthd itself, and the podman commands it runs), and the
# stripped sizes of berthd and berthctl (target: together <= 8 MiB). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin berth --bin berthd --bin berthctl
bin=$PWD/target/release
work=${BENCH_DIR:-/var/tmp/berth-bench}/footprint
rm -rf "$work" && mkdir -p "$work/rootfs/bin"
n=${CONTAINERS:-20}
interval=2
ticks=${TICKS:-15}

cp /bin/busybox "$work/rootfs/bin/"
for a in sh sleep; do ln -s busybox "$work/rootfs/bin/$a"; done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
image=localhost/berth-footprint:1
podman rmi -f "$image" >/dev/null 2>&1 || true
podman import -q --change 'CMD ["/bin/sh", "-c", "exec sleep infinity"]' "$work/rootfs.tar" "$image" >/dev/null
podman save -q -o "$work/image.tar" "$image"

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
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$BERTH_SOCKET" ] && break; sleep 0.1; done

for i in $(seq "$n"); do
  cat > "$work/m$i.json" <<JSON
{"package_id": "fp$i", "version": "1", "runtime": "podman", "create_args": "--init $image",
 "registration_defaults": {"autostart": true, "monitor": true,
   "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}},
 "device_types": ["bench"]}
JSON
  mkdir -p "$work/p$i"
  pkg=$("$bin/berth" pack --manifest "$work/m$i.json" --payload "$work/image.tar" --output-dir "$work/p$i")
  "$bin/berthctl" install "$pkg" >/dev/null
done
running=$(podman ps --filter name=fp --format '{{.Names}}' | wc -l)

# clock ticks of berthd ($14 utime, $15 stime) and of its waited-for children ($16, $17)
cpu() { awk '{print $14+$15, $16+$17}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
sleep "$interval"
read -r self0 kids0 < <(cpu)
sleep $((ticks * interval))
read -r self1 kids1 < <(cpu)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")

strip -o "$work/berthd.stripped" "$bin/berthd"
strip -o "$work/berthctl.stripped" "$bin/berthctl"
sd=$(stat -c %s "$work/berthd.stripped")
sc=$(stat -c %s "$work/berthctl.stripped")

echo "containers running:             $running of $n"
echo "berthd idle RSS:                ${rss} KiB (peak ${hwm} KiB; target <= 10240 KiB)"
echo "CPU per monitor tick (berthd):  $(echo "scale=2; ($self1 - $self0) * 1000 / $hz / $ticks" | bc) ms"
echo "CPU per monitor tick (podman ps + stats it runs): $(echo "scale=1; ($kids1 - $kids0) * 1000 / $hz / $ticks" | bc) ms"
echo "stripped: berthd $sd B, berthctl $sc B, together $(( (sd + sc) / 1024 )) KiB (target <= 8192 KiB)"
