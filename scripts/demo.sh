#!/usr/bin/env bash
# berth's main job, end to end: build a small container image from busybox-static,
# pack it into a signed package, inspect and verify the package, then load its
# payload into podman and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet --bin berth
berth=$PWD/target/release/berth

out=$PWD/demo-out
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
image=localhost/berth-demo:1

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build an image from busybox-static"
mkdir -p "$work/rootfs/bin"
cp /bin/busybox "$work/rootfs/bin/busybox"
for applet in $("$work/rootfs/bin/busybox" --list); do
  [ -e "$work/rootfs/bin/$applet" ] || ln -s busybox "$work/rootfs/bin/$applet"
done
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
podman rmi -f "$image" >/dev/null 2>&1 || true
podman import -q --change 'CMD ["/bin/sh", "-c", "echo hello from a berth package"]' \
  "$work/rootfs.tar" "$image" >/dev/null
podman save -q --format docker-archive -o "$work/image.tar" "$image"
ls -l "$work/image.tar"

step "write a manifest"
cat > "$work/manifest.json" <<JSON
{
  "name": "berth-demo",
  "friendly_name": "berth demo",
  "version": "1.0.0",
  "runtime": "podman",
  "create_args": "--name berth-demo $image",
  "registration_defaults": {
    "autostart": true,
    "monitor": true,
    "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}
  },
  "device_types": ["ccmp25-dvk"],
  "description": "busybox demo container"
}
JSON

step "make a signing key"
"$berth" keygen --out "$out/demo-key"

step "berth pack --sign"
pkg=$("$berth" pack --manifest "$work/manifest.json" --payload "$work/image.tar" \
        --output-dir "$out" --sign "$out/demo-key.key")
echo "$pkg"

step "berth inspect"
"$berth" inspect "$pkg"

step "berth verify --trust"
"$berth" verify "$pkg" --trust "$out/demo-key.pub"

step "podman load + podman run of the payload"
podman rmi -f "$image" >/dev/null 2>&1 || true
tar -xzf "$pkg" -C "$work" payload/image.tar
podman load -q -i "$work/payload/image.tar"
podman run --rm "$image"
echo
echo "demo complete: package in $pkg"
