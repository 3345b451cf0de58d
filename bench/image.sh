#!/usr/bin/env bash
# berth image copy / unpack against skopeo and umoci, side by side in one run, on a
# ~1 GiB image in 4 gzip layers of real binaries and libraries (/usr/bin and
# /usr/lib/x86_64-linux-gnu), served by a local registry (Debian's docker-registry).
#
#   berth image copy docker:// → oci:            vs skopeo copy --preserve-digests   target >= 1.5x faster, same manifest digest
#   berth image copy docker:// → docker-archive: vs skopeo copy                      target >= 2x faster, same manifest digest
#   berth image unpack oci:                      vs umoci unpack                     target >= 2.5x faster
#   berth image copy docker:// → oci:            vs cp of the same blobs (the disk's limit)  the fraction printed
#   peak RSS of each berth command                                                  target <= 64 MiB
#
# Each measurement runs RUNS times (default 3); the median is printed. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet --bin berth
berth=$PWD/target/release/berth

work=${BENCH_DIR:-/var/tmp/berth-bench-image}
mkdir -p "$work"
layout=$work/source

if [ ! -s "$layout/index.json" ]; then
  echo "making the image: 4 layers of /usr/bin and /usr/lib/x86_64-linux-gnu, ~1 GiB"
  rm -rf "$layout"
  python3 - "$work" <<'PY'
import hashlib, json, os, subprocess, sys
work = sys.argv[1]
layout = os.path.join(work, "source")
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs)
files = []
for top in ("usr/bin", "usr/lib/x86_64-linux-gnu"):
    for d, dirs, names in os.walk("/" + top):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if os.path.islink(p) or os.path.isfile(p):
                files.append((p[1:], 0 if os.path.islink(p) else os.path.getsize(p)))
budget, total, groups = 1 << 30, 0, [[] for _ in range(4)]
for path, size in files:
    if total + size > budget:
        continue
    groups[min(3, total * 4 // budget)].append(path)
    total += size
def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
diff_ids, layers = [], []
for i, group in enumerate(groups):
    lst = os.path.join(work, f"layer{i}.list")
    with open(lst, "w") as f:
        f.write("\n".join(group) + "\n")
    tar = os.path.join(work, f"layer{i}.tar")
    subprocess.run(["tar", "-C", "/", "--no-recursion", "-cf", tar, "-T", lst], check=True)
    diff_ids.append("sha256:" + sha(tar))
    subprocess.run(f"pigz -6 -c '{tar}' > '{tar}.gz'", shell=True, check=True)
    digest = sha(tar + ".gz")
    size = os.path.getsize(tar + ".gz")
    os.rename(tar + ".gz", os.path.join(blobs, digest))
    os.remove(tar)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + digest, "size": size})
def put(obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
config = put({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/usr/bin/true"]},
              "rootfs": {"type": "layers", "diff_ids": diff_ids}})
manifest = put({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": dict(mediaType="application/vnd.oci.image.config.v1+json", **config), "layers": layers})
with open(os.path.join(layout, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [dict(mediaType="application/vnd.oci.image.manifest.v1+json",
               annotations={"org.opencontainers.image.ref.name": "1"}, **manifest)]}, f)
print("image:", manifest["digest"], sum(l["size"] for l in layers), "bytes compressed,", total, "uncompressed")
PY
fi

# The registry: on a free loopback port, its storage kept between runs.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$port}
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.1; done
remote=docker://127.0.0.1:$port/bench/img:1
skopeo copy --quiet --dest-tls-verify=false "oci:$layout:1" "$remote"

runs=${RUNS:-3}
out=$work/out
mkdir -p "$out"
source bench/lib.sh

printf 'CPUs: %s; runs: %s\n\n' "$(nproc)" "$runs"
measure skopeo_oci "rm -rf $out/skopeo-oci" skopeo copy --quiet --src-tls-verify=false --preserve-digests "$remote" "oci:$out/skopeo-oci:1"
measure berth_oci "rm -rf $out/berth-oci" "$berth" image copy --quiet "$remote" "oci:$out/berth-oci:1"
# Copying to a layout is bound by the disk: the same blobs copied by cp.
measure cp_blobs "rm -rf $out/cp-blobs" cp -r "$layout/blobs" "$out/cp-blobs"
measure skopeo_archive "rm -f $out/skopeo.tar" skopeo copy --quiet --src-tls-verify=false "$remote" "docker-archive:$out/skopeo.tar:bench/img:1"
measure berth_archive "rm -f $out/berth.tar" "$berth" image copy --quiet "$remote" "docker-archive:$out/berth.tar:bench/img:1"
measure umoci_unpack "rm -rf $out/umoci-bundle" umoci unpack --image "$out/berth-oci:1" "$out/umoci-bundle"
measure berth_unpack "rm -rf $out/berth-bundle" "$berth" image unpack --quiet "oci:$out/berth-oci:1" "$out/berth-bundle"

index_digest() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json"; }
raw_digest() { skopeo inspect --raw "$1" | sha256sum | cut -d' ' -f1; }
echo
d_skopeo=$(index_digest "$out/skopeo-oci"); d_berth=$(index_digest "$out/berth-oci")
printf 'oci layout:     skopeo %s, berth %s: %s\n' "$d_skopeo" "$d_berth" "$([ "$d_skopeo" = "$d_berth" ] && echo same || echo DIFFERENT)"
a_skopeo=$(raw_digest "docker-archive:$out/skopeo.tar"); a_berth=$(raw_digest "docker-archive:$out/berth.tar")
printf 'docker-archive: skopeo sha256:%s, berth sha256:%s: %s\n' "$a_skopeo" "$a_berth" "$([ "$a_skopeo" = "$a_berth" ] && echo same || echo DIFFERENT)"
diff -rq --no-dereference "$out/umoci-bundle/rootfs" "$out/berth-bundle/rootfs" >/dev/null && echo "unpack: rootfs trees have the same content" || echo "unpack: rootfs trees DIFFER"
echo
ratio() { echo "$1 / $2" | bc -l; }
printf 'copy to oci:            %.2fx faster than skopeo (target >= 1.5x)\n' "$(ratio "$t_skopeo_oci" "$t_berth_oci")"
printf 'copy to oci:            %.2f of cp of the same blobs (%.2f s), the disk'"'"'s limit\n' "$(ratio "$t_cp_blobs" "$t_berth_oci")" "$t_cp_blobs"
printf 'copy to docker-archive: %.2fx faster than skopeo (target >= 2x)\n' "$(ratio "$t_skopeo_archive" "$t_berth_archive")"
printf 'unpack:                 %.2fx faster than umoci (target >= 2.5x)\n' "$(ratio "$t_umoci_unpack" "$t_berth_unpack")"
printf 'peak RSS (MiB): copy to oci %.1f, to docker-archive %.1f, unpack %.1f (target <= 64)\n' \
  "$(echo "$m_berth_oci / 1024" | bc -l)" "$(echo "$m_berth_archive / 1024" | bc -l)" "$(echo "$m_berth_unpack / 1024" | bc -l)"
