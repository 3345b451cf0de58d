#!/usr/bin/env bash
# berth pack and verify against their peers, side by side in one run, on a ~1 GiB
# docker-archive of real binaries and libraries (a podman image of /usr/bin and
# /usr/lib/x86_64-linux-gnu).
#
#   berth pack    vs  pigz -6 (parallel gzip, the fair peer)   target: >= 1x as fast, no larger
#   berth pack    vs  tar -czf (GNU tar + gzip -6)            target: >= 8x faster, <= 1.00x its size
#   berth pack    peak RSS                                    target: <= 64 MiB
#   berth verify  vs  pigz -dc PKG | sha256sum (fair peer)    target: >= 1x as fast
#   berth verify  vs  gzip -dc PKG | sha256sum                target: >= 4x faster
#   pack and verify as a fraction of the machine's limit     target: >= 0.9 each
#     (writing: the payload read once + libdeflate-gzip at berth's level, one process
#      per core on equal slices; verifying: libdeflate inflate of the slices on every
#      core + one SHA-256 pass, OpenSSL's; see bench/lib.sh)
#
# Each measurement runs RUNS times (default 3) and the median is printed. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet --bin berth
berth=$PWD/target/release/berth

work=${BENCH_DIR:-/var/tmp/berth-bench}
mkdir -p "$work"
image=localhost/berth-bench:1

if [ ! -s "$work/image.tar" ]; then
  echo "making the payload: podman image of /usr/bin and /usr/lib/x86_64-linux-gnu"
  tar -C / -cf "$work/rootfs.tar" usr/bin usr/lib/x86_64-linux-gnu 2>/dev/null || true
  podman rmi -f "$image" >/dev/null 2>&1 || true
  podman import -q "$work/rootfs.tar" "$image" >/dev/null
  podman save -q --format docker-archive -o "$work/image.tar.part" "$image"
  mv "$work/image.tar.part" "$work/image.tar"
  rm -f "$work/rootfs.tar"
  podman rmi -f "$image" >/dev/null
fi
cat > "$work/manifest.json" <<'JSON'
{
  "package_id": "bench", "version": "1.0.0", "runtime": "podman",
  "create_args": "--name bench localhost/berth-bench:1",
  "registration_defaults": {"autostart": false, "monitor": true,
    "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}},
  "device_types": ["bench"]
}
JSON

payload_bytes=$(stat -c %s "$work/image.tar")
printf 'payload: %s (%.2f GiB), %s CPUs\n\n' "$work/image.tar" "$(echo "$payload_bytes / 1073741824" | bc -l)" "$(nproc)"

runs=${RUNS:-3}
source bench/lib.sh
# berth pack's default level (libdeflate's 5): the limits compress at the same.
level=5

cat "$work/image.tar" > /dev/null  # warm the page cache for every contender alike
rm -rf "$work/out" && mkdir -p "$work/out"
limit_slices "$work/image.tar"
measure tar_czf "" tar -C "$work" -czf "$work/out/peer.tar.gz" image.tar
measure pigz_6 "" bash -c "tar -C '$work' -cf - image.tar | pigz -6 > '$work/out/pigz.tar.gz'"
limit_deflate limit_write "cat '$work/image.tar'"
measure berth_pack "" "$berth" pack --manifest "$work/manifest.json" --payload "$work/image.tar" --output-dir "$work/out"
pkg="$work/out/bench-podman-bench.tar.gz"
measure gzip_sha256 "" bash -c "gzip -dc '$pkg' | sha256sum"
measure pigz_sha256 "" bash -c "pigz -dc '$pkg' | sha256sum"
limit_inflate limit_verify "$work/image.tar"
measure berth_verify "" "$berth" verify "$pkg"
rm -rf "$work/limit"

size_peer=$(stat -c %s "$work/out/peer.tar.gz")
size_berth=$(stat -c %s "$pkg")
echo
size_pigz=$(stat -c %s "$work/out/pigz.tar.gz")
printf 'sizes: tar -czf %d bytes, pigz -6 %d bytes, berth pack %d bytes (%+.2f%% vs tar -czf, %+.2f%% vs pigz)\n' \
  "$size_peer" "$size_pigz" "$size_berth" \
  "$(echo "($size_berth - $size_peer) * 100 / $size_peer" | bc -l)" \
  "$(echo "($size_berth - $size_pigz) * 100 / $size_pigz" | bc -l)"
printf 'pack:   berth/pigz -6 speed %.2fx (target >= 1x); berth/tar -czf %.2fx (target >= 8x)\n' \
  "$(echo "$t_pigz_6 / $t_berth_pack" | bc -l)" "$(echo "$t_tar_czf / $t_berth_pack" | bc -l)"
printf 'pack:   peak RSS %.1f MiB (target <= 64 MiB)\n' "$(echo "$m_berth_pack / 1024" | bc -l)"
printf 'pack:   %.2f of the machine'"'"'s limit (libdeflate -%d on %d cores + one read: %.2f s; target >= 0.9)\n' \
  "$(of_limit "$t_berth_pack" "$t_limit_write")" "$level" "$(nproc)" "$t_limit_write"
printf 'verify: berth vs pigz -dc | sha256sum %.2fx (target >= 1x); vs gzip -dc | sha256sum %.2fx (target >= 4x)\n' \
  "$(echo "$t_pigz_sha256 / $t_berth_verify" | bc -l)" "$(echo "$t_gzip_sha256 / $t_berth_verify" | bc -l)"
printf 'verify: %.2f of the machine'"'"'s limit (libdeflate inflate on %d cores + one SHA-256 pass: %.2f s; target >= 0.9)\n' \
  "$(of_limit "$t_berth_verify" "$t_limit_verify")" "$(nproc)" "$t_limit_verify"
