#!/usr/bin/env bash
# berth image build against the umoci path meta-virtualization takes, side by side in
# one run, on a ~1.2 GiB rootfs of real binaries (/usr/bin, /usr/lib/x86_64-linux-gnu)
# with a small app under /opt/app.
#
#   cold build, one layer:  berth image build --no-cache  vs  umoci init/new/unpack/copy/repack   target >= 4x
#   rebuild after one small file of the app layer changed (cache warm):
#                           berth image build --layer app:directories:/opt/app --rest-layer base
#                                                          target <= 10% of the cold build
#   a podman package from the built image:
#                           berth pack --image  vs  skopeo copy oci:… docker-archive:… + berth pack
#                                                          the ratio printed
#                           and against pack --image of the same image without berth's
#                           size annotations (each layer inflated into a spool first)
#
#   cold build, zstd layers: berth image build --compression zstd  vs  the umoci path
#                           target >= 4x, and the layer no bigger than gzip -6 of the same tar;
#                           and against tar | zstd -3 -T0 (the machine's limit for it)
#
#   cold build as a fraction of the machine's limit (the rootfs read once as a tar +
#   libdeflate-gzip -5 of it on every core, bench/lib.sh)  target >= 0.9
#
# Each measurement runs RUNS times (default 1); the median is printed. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet --bin berth
berth=$PWD/target/release/berth
work=${BENCH_DIR:-/var/tmp/berth-bench-build}
mkdir -p "$work"
rootfs=$work/rootfs
if [ ! -d "$rootfs/opt/app" ]; then
  echo "making the rootfs: /usr/bin and /usr/lib/x86_64-linux-gnu, and /opt/app"
  rm -rf "$rootfs" && mkdir -p "$rootfs/usr/lib" "$rootfs/opt/app"
  cp -a /usr/bin "$rootfs/usr/bin"
  cp -a /usr/lib/x86_64-linux-gnu "$rootfs/usr/lib/x86_64-linux-gnu"
  for i in $(seq 20); do head -c 100000 /dev/urandom > "$rootfs/opt/app/data$i"; done
  echo "version 1" > "$rootfs/opt/app/VERSION"
fi
printf 'rootfs: %s (%s), %s CPUs\n\n' "$rootfs" "$(du -sh "$rootfs" | cut -f1)" "$(nproc)"
runs=${RUNS:-1}
out=$work/out
mkdir -p "$out"
source bench/lib.sh

cat > "$work/umoci-build.sh" <<SH
set -e
umoci init --layout $out/umoci
umoci new --image $out/umoci:1
umoci unpack --image $out/umoci:1 $out/umoci-bundle
cp -a $rootfs/. $out/umoci-bundle/rootfs/
umoci repack --image $out/umoci:1 $out/umoci-bundle
SH
find "$rootfs" -type f -exec cat {} + > /dev/null   # the page cache warm for both
# The machine's limit for the one-layer build: the rootfs read once as a tar, and that
# tar compressed by libdeflate at berth's default level on every core (bench/lib.sh).
level=5
tar -C "$rootfs" -cf "$work/rootfs.tar" .
limit_slices "$work/rootfs.tar"
rm -f "$work/rootfs.tar"
limit_deflate limit_build "tar -C '$rootfs' -cf - ."
rm -rf "$work/limit"
# The limit for the zstd build: the rootfs read once as a tar into zstd -3 (berth's
# default level) on every core.
measure limit_build_zstd "" bash -c "tar -C '$rootfs' -cf - . | zstd -q -3 -T0 -c > /dev/null"
measure umoci_build "rm -rf $out/umoci $out/umoci-bundle" bash "$work/umoci-build.sh"
measure berth_build "rm -rf $out/berth" "$berth" image build --no-cache --rootfs "$rootfs" "oci:$out/berth:1"
measure berth_build_zstd "rm -rf $out/zstd" "$berth" image build --no-cache --compression zstd --rootfs "$rootfs" "oci:$out/zstd:1"
# The one layer's size in a built layout.
layer_size() {
  python3 - "$1" <<'PY'
import json, sys
d = sys.argv[1]
top = json.load(open(f"{d}/index.json"))["manifests"][0]["digest"].split(":")[1]
print(json.load(open(f"{d}/blobs/sha256/{top}"))["layers"][0]["size"])
PY
}
size_zstd=$(layer_size "$out/zstd")
size_berth_gzip=$(layer_size "$out/berth")
size_gzip6=$(tar -C "$rootfs" -cf - . | gzip -6 | wc -c)
split="--layer app:directories:/opt/app --rest-layer base --cache-dir $work/cache"
measure berth_split_cold "rm -rf $out/split $work/cache" "$berth" image build $split --rootfs "$rootfs" "oci:$out/split:1"
measure berth_split_rebuild "rm -rf $out/split; echo \"version \$RANDOM\" > $rootfs/opt/app/VERSION" \
  "$berth" image build $split --rootfs "$rootfs" "oci:$out/split:1"
"$berth" image build $split --rootfs "$rootfs" "oci:$out/split2:1" | tail -1

cat > "$work/manifest.json" <<'JSON'
{"package_id": "bench-build", "version": "1", "runtime": "podman",
 "create_args": "localhost/bench-build:1",
 "registration_defaults": {"autostart": false, "monitor": true,
   "restart": {"enabled": false, "max_retries": 0, "window": 60, "retry_delay": 0}},
 "device_types": ["bench"]}
JSON
cat > "$work/skopeo-pack.sh" <<SH
set -e
skopeo copy --quiet oci:$out/berth:1 docker-archive:$out/skopeo.tar:localhost/bench-build:1
"$berth" pack --manifest $work/manifest.json --payload $out/skopeo.tar --output-dir $out/pkg-skopeo
rm -f $out/skopeo.tar
SH
measure skopeo_then_pack "rm -rf $out/pkg-skopeo $out/skopeo.tar" bash "$work/skopeo-pack.sh"
measure berth_pack_image "rm -rf $out/pkg-berth" "$berth" pack --manifest "$work/manifest.json" \
  --image "oci:$out/berth:1" --image-name localhost/bench-build:1 --output-dir "$out/pkg-berth"
# The same image without berth's size annotations (its blobs hard-linked, the
# manifest rewritten): pack --image inflates each layer into its spool first.
rm -rf "$out/berth-plain" && cp -al "$out/berth" "$out/berth-plain"
python3 - "$out/berth-plain" <<'PY'
import hashlib, json, os, sys
d = sys.argv[1]
index = json.load(open(f"{d}/index.json"))
top = index["manifests"][0]
m = json.load(open(f"{d}/blobs/sha256/{top['digest'].split(':')[1]}"))
for layer in m["layers"]:
    layer.pop("annotations", None)
raw = json.dumps(m, separators=(",", ":")).encode()
digest = hashlib.sha256(raw).hexdigest()
def put(path, data):  # a new file, never through a hard link
    with open(path + ".new", "wb") as f:
        f.write(data)
    os.replace(path + ".new", path)
put(f"{d}/blobs/sha256/{digest}", raw)
top["digest"], top["size"] = f"sha256:{digest}", len(raw)
put(f"{d}/index.json", json.dumps(index).encode())
PY
measure berth_pack_image_spooled "rm -rf $out/pkg-plain" "$berth" pack --manifest "$work/manifest.json" \
  --image "oci:$out/berth-plain:1" --image-name localhost/bench-build:1 --output-dir "$out/pkg-plain"
echo
printf 'cold build:  berth %.2fx faster than the umoci path (target >= 4x)\n' "$(echo "$t_umoci_build / $t_berth_build" | bc -l)"
printf 'cold build:  %.2f of the machine'"'"'s limit (%.2f s; target >= 0.9)\n' \
  "$(of_limit "$t_berth_build" "$t_limit_build")" "$t_limit_build"
printf 'cold build, zstd: berth %.2fx faster than the umoci path (target >= 4x)\n' "$(echo "$t_umoci_build / $t_berth_build_zstd" | bc -l)"
printf 'cold build, zstd: %.2f of the machine'"'"'s limit (%.2f s; target >= 0.9)\n' \
  "$(of_limit "$t_berth_build_zstd" "$t_limit_build_zstd")" "$t_limit_build_zstd"
printf 'layer sizes: zstd %s B, berth gzip -5 %s B, gzip -6 of the same tar %s B; zstd/gzip -6 = %.3f (target <= 1)\n' \
  "$size_zstd" "$size_berth_gzip" "$size_gzip6" "$(echo "$size_zstd / $size_gzip6" | bc -l)"
printf 'split, cold: %.2fx faster than the umoci path\n' "$(echo "$t_umoci_build / $t_berth_split_cold" | bc -l)"
printf 'rebuild after one app file changed: %.1f%% of the cold split build (target <= 10%%)\n' \
  "$(echo "$t_berth_split_rebuild * 100 / $t_berth_split_cold" | bc -l)"
printf 'podman package from the image: berth pack --image %.2fx faster than skopeo copy + berth pack\n' \
  "$(echo "$t_skopeo_then_pack / $t_berth_pack_image" | bc -l)"
printf 'pack --image, sizes annotated: %.2f s; without annotations (layers spooled): %.2f s (%.2fx)\n' \
  "$t_berth_pack_image" "$t_berth_pack_image_spooled" "$(echo "$t_berth_pack_image_spooled / $t_berth_pack_image" | bc -l)"
