#!/usr/bin/env bash
# berth bundle generate against the real RDK BundleGen (BUNDLEGEN_DIR, by default
# ../shared/peers/bundlegen),
# side by side in one run.
#
#   realistic image: busybox, 300 shared libraries of this host (tens of MiB) and
#   ARM libc, app metadata; a platform whose _libs.json lists every one of those
#   libraries (berth bundle platform-libs), gfxLibs and plugin dependencies to match
#                         berth bundle generate  vs  bundlegen generate   target >= 10x faster
#   a ~1.2 GiB image (/usr/bin and /usr/lib/x86_64-linux-gnu): the ratio printed
#
# Each measurement runs RUNS times (default 3; the 1 GiB one once); the median is
# printed. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet --bin berth
berth=$PWD/target/release/berth
# BundleGen's Python dependencies, made by setup.sh above.
export BUNDLEGEN_VENV=${BUNDLEGEN_VENV:-/opt/berth-test/bundlegen-venv}
bundlegen=$(readlink -f "${BUNDLEGEN_DIR:-../shared/peers/bundlegen}/run.sh")
[ -f "$bundlegen" ] || { echo "bench/bundle.sh: no BundleGen run.sh in ${BUNDLEGEN_DIR:-../shared/peers/bundlegen} (set BUNDLEGEN_DIR)" >&2; exit 1; }
work=${BENCH_DIR:-/var/tmp/berth-bench-bundle}
mkdir -p "$work"
runs=${RUNS:-3}
source bench/lib.sh

app='{"id": "com.example.bench", "type": "application/vnd.rdk-app.dac.native", "version": "1.0.0",
 "graphics": true, "network": {"type": "open"},
 "storage": {"persistent": [{"size": "10M", "path": "/home/private"}]},
 "resources": {"ram": "64M"}, "features": []}'

if [ ! -s "$work/small/index.json" ]; then
  echo "making the realistic image: busybox, host libraries, ARM libc"
  rm -rf "$work/small-rootfs" "$work/small"
  mkdir -p "$work/small-rootfs/bin" "$work/small-rootfs/usr/lib" "$work/small-rootfs/lib"
  cp /bin/busybox "$work/small-rootfs/bin/" && ln -s busybox "$work/small-rootfs/bin/sh"
  find /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -name '*.so*' -size -1024k | sort | head -300 |
    xargs -I{} cp -a {} "$work/small-rootfs/usr/lib/"
  cp -a /usr/arm-linux-gnueabihf/lib/. "$work/small-rootfs/lib/"
  echo "$app" > "$work/small-rootfs/appmetadata.json"
  "$berth" image build --no-cache --rootfs "$work/small-rootfs" --cmd '["/bin/sh"]' "oci:$work/small:1" > /dev/null
fi
if [ ! -s "$work/large/index.json" ]; then
  echo "making the 1.2 GiB image: /usr/bin and /usr/lib/x86_64-linux-gnu"
  rm -rf "$work/large-rootfs" "$work/large"
  mkdir -p "$work/large-rootfs/usr/lib"
  cp -a /usr/bin "$work/large-rootfs/usr/bin"
  cp -a /usr/lib/x86_64-linux-gnu "$work/large-rootfs/usr/lib/x86_64-linux-gnu"
  echo "$app" > "$work/large-rootfs/appmetadata.json"
  "$berth" image build --no-cache --rootfs "$work/large-rootfs" --cmd '["/bin/sh"]' "oci:$work/large:1" > /dev/null
fi

# The platform: its libraries are the image's (so every plugin dependency and GPU
# library is matched by versions), listed by berth bundle platform-libs.
templates=$work/templates
mkdir -p "$templates"
"$berth" bundle platform-libs "$work/small-rootfs" -o "$templates/bench_libs.json" 2>/dev/null
deps=$(python3 -c "import json; l=json.load(open('$templates/bench_libs.json'))['libs']; print(json.dumps([x['name'] for x in l if x['name'].startswith('/usr/lib/')][:40]))")
cat > "$templates/bench.json" <<JSON
{"platformName": "bench", "os": "linux", "arch": {"arch": "amd64"},
 "rdk": {"version": "1", "supportedFeatures": []}, "hardware": {"graphics": true, "maxRam": "128M"},
 "storage": {"persistent": {"storageDir": "/opt/persistent", "maxSize": "50M"}},
 "network": {"options": ["open"]}, "envvar": ["PLATFORM=bench"],
 "usersAndGroups": {"user": {"uid": 1000, "gid": 1000},
   "uidMap": [{"containerID": 1000, "hostID": 31000, "size": 1}],
   "gidMap": [{"containerID": 1000, "hostID": 31000, "size": 1}]},
 "gpu": {"extraMounts": [], "envvar": [], "devs": [],
   "gfxLibs": [{"src": "/lib/libc.so.6", "dst": "/lib/libc.so.6"}]},
 "dobby": {"pluginDependencies": $deps},
 "logging": {"mode": "file", "logDir": "/var/log"}}
JSON
n_elf=$(find "$work/small-rootfs" -type f -name '*.so*' | wc -l)
printf 'realistic image: %s (%s files named *.so*), %s CPUs\n\n' "$(du -sh "$work/small-rootfs" | cut -f1)" "$n_elf" "$(nproc)"

bash "$bundlegen" "oci:$work/small:1" "$work/warmup" bench -s "$templates" > "$work/warmup.log" 2>&1 ||
  { tail -5 "$work/warmup.log"; exit 1; }   # BundleGen's venv, once
measure bundlegen_small "rm -rf $work/out-bg $work/out-bg.tar.gz" \
  bash "$bundlegen" "oci:$work/small:1" "$work/out-bg" bench -s "$templates"
measure berth_small "rm -rf $work/out-berth $work/out-berth.tar.gz" \
  "$berth" bundle generate -y -p bench -s "$templates" "oci:$work/small:1" "$work/out-berth"
python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
a = json.load(open(f"{w}/out-bg/config.json")); b = json.load(open(f"{w}/out-berth/config.json"))
for k in ("bounding", "permitted", "effective", "inheritable", "ambient"):
    a["process"]["capabilities"][k].sort(); b["process"]["capabilities"][k].sort()
print("configs equal (capability order aside):", a == b)
PY
runs=1
measure bundlegen_large "rm -rf $work/out-bg $work/out-bg.tar.gz" \
  bash "$bundlegen" "oci:$work/large:1" "$work/out-bg" bench -s "$templates"
measure berth_large "rm -rf $work/out-berth $work/out-berth.tar.gz" \
  "$berth" bundle generate -y -p bench -s "$templates" "oci:$work/large:1" "$work/out-berth"
echo
printf 'realistic image: berth %.1fx faster than BundleGen (target >= 10x)\n' "$(echo "$t_bundlegen_small / $t_berth_small" | bc -l)"
printf '1.2 GiB image:   berth %.1fx faster than BundleGen\n' "$(echo "$t_bundlegen_large / $t_berth_large" | bc -l)"
