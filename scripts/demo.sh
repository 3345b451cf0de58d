#!/usr/bin/env bash
# berth's main job, end to end: build a small container image from busybox-static,
# pack it into a signed package, inspect and verify it, then start berthd (the
# embedded defaults, plus the demo key as trusted) and install, run, inspect,
# upgrade, crash (restarted by policy) and uninstall it with berthctl; then the
# same image on Docker Engine, an LXC bundle, and an OCI runtime bundle under runc.
# On the way the image goes through a local registry (berth image copy, inspect,
# unpack) and the package through it too (berth push, berth pull); a device follows a
# tag through a staged rollout, fetching only what changed, and installs a delta
# package; and BitBake runs meta-berth's image types.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --quiet -p berth-cli -p berthd -p berthctl --features berthd/device-registry
berth=$PWD/target/release/berth
berthd=$PWD/target/release/berthd
berthctl=$PWD/target/release/berthctl

out=$PWD/demo-out
rm -rf "$out" && mkdir -p "$out"
work=$(mktemp -d)
registry_pid=
trap '[ -z "$registry_pid" ] || kill $registry_pid; rm -rf "$work"' EXIT
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
podman import -q --change 'CMD ["/bin/sh", "-c", "echo hello from a berth package; exec sleep infinity"]' \
  "$work/rootfs.tar" "$image" >/dev/null
podman save -q --format docker-archive -o "$work/image.tar" "$image"
ls -l "$work/image.tar"

step "a local registry (Debian's docker-registry) on a free loopback port"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' \
  "$work/registry" "$port" > "$work/registry.yml"
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do sleep 0.1; done
reg=127.0.0.1:$port
echo "registry on $reg"

step "berth image copy: the docker-archive into the registry, then pinned back out as Isar stores it (zstd)"
"$berth" image copy --quiet "docker-archive:$work/image.tar" "docker://$reg/demo/busybox:1"
digest=$("$berth" image inspect --json "docker://$reg/demo/busybox:1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
"$berth" image copy "docker://$reg/demo/busybox;digest=$digest;tag=1" "docker-archive:$out/busybox_1.tar.zst:demo/busybox:1"
"$berth" image copy "docker://$reg/demo/busybox;digest=$digest;tag=1" "oci:$work/layout:1"
echo "a wrong pin is refused (exit 2), naming the digest the tag has:"
"$berth" image copy "docker://$reg/demo/busybox;digest=sha256:$(printf '0%.0s' $(seq 64));tag=1" "oci:$work/nope" || true

step "berth image inspect (what skopeo inspect shows)"
"$berth" image inspect "docker://$reg/demo/busybox:1"

step "berth image unpack: a runtime bundle as umoci unpack writes it"
"$berth" image unpack "oci:$work/layout:1" "$work/unpacked"
ls "$work/unpacked" && python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); print("process.args:", c["process"]["args"])' "$work/unpacked/config.json"

step "write a manifest (Digi's DCP form: create_args holds podman options; berthd adds the payload's image)"
cat > "$work/manifest.json" <<JSON
{
  "package_id": "berth-demo",
  "friendly_name": "berth demo",
  "version": "1.0.0",
  "runtime": "podman",
  "create_args": "--init --network host --tty",
  "registration_defaults": {
    "autostart": true,
    "monitor": true,
    "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1},
    "health": {"cmd": ["/bin/sh", "-c", "test -e /proc/1"], "interval": 2},
    "probation": 6
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

step "berth push / berth pull: the package through the registry as an OCI artifact (its signature as a referrer)"
"$berth" push "$pkg" "docker://$reg/demo/packages:1.0.0"
"$berth" pull "docker://$reg/demo/packages:1.0.0" --output-dir "$work/pulled"
cmp "$pkg" "$work/pulled/$(basename "$pkg")" && echo "pulled byte for byte"
pkg=$work/pulled/$(basename "$pkg")

step "start berthd (embedded defaults; the demo key trusted and required)"
podman rmi -f "$image" >/dev/null 2>&1 || true
cat > "$out/berthd.conf" <<JSON
{"trust": {"keys": ["$out/demo-key.pub"], "require_signature": true},
 "device": {"id": "demo-device"},
 "updates": {"interval": 2, "jitter": 0}}
JSON
"$berthd" --config "$out/berthd.conf" --check-config >/dev/null
sock=/run/berth/berthd.sock
if "$berthctl" info >/dev/null 2>&1; then
  echo "a berthd already answers on $sock; stop it first (systemctl stop berthd)" >&2
  exit 1
fi
# Docker Engine for the Docker part: started here when none answers, stopped at the end.
dockerd_pid=$(bash scripts/dockerd.sh start)
"$berthd" --config "$out/berthd.conf" 2>"$out/berthd.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null || true; [ -z "$dockerd_pid" ] || bash scripts/dockerd.sh stop "$dockerd_pid"; kill $registry_pid; rm -rf "$work"' EXIT
for _ in $(seq 100); do "$berthctl" info >/dev/null 2>&1 && break; sleep 0.1; done
"$berthctl" info

step "berthctl install (the package streams into podman, checked as it goes)"
"$berthctl" uninstall berth-demo >/dev/null 2>&1 || true
"$berthctl" install "$pkg"
"$berthctl" list

step "it runs: status, logs, stats"
"$berthctl" status berth-demo
podman inspect --format 'podman runs {{.ImageName}} with network {{.HostConfig.NetworkMode}}, tty {{.Config.Tty}}' berth-demo
sleep 1
"$berthctl" logs berth-demo
"$berthctl" stats berth-demo

step "an unsigned package is refused on this device"
unsigned_dir=$work/unsigned && mkdir -p "$unsigned_dir"
unsigned=$("$berth" pack --manifest "$work/manifest.json" --payload "$work/image.tar" --output-dir "$unsigned_dir")
"$berthctl" install "$unsigned" || echo "(refused, exit code $?)"

step "upgrade to 1.1.0: the old container runs until the new one is created; berthctl waits out its probation (6 s, healthy at the end)"
sed -i 's/"version": "1.0.0"/"version": "1.1.0"/' "$work/manifest.json"
mkdir -p "$work/v2"
pkg2=$("$berth" pack --manifest "$work/manifest.json" --payload "$work/image.tar" \
         --output-dir "$work/v2" --sign "$out/demo-key.key")
"$berthctl" install "$pkg2"
"$berthctl" list
"$berthctl" info | sed -n '/kept for rollback/,$p'

step "roll back to 1.0.0 (kept stopped since the upgrade), and upgrade again without waiting"
"$berthctl" rollback berth-demo
"$berthctl" status berth-demo
"$berthctl" install --no-wait "$pkg2"
"$berthctl" status berth-demo
for _ in $(seq 60); do
  "$berthctl" status berth-demo | grep -q "on probation" || break; sleep 0.5
done
"$berthctl" status berth-demo

step "a crash: berthd notices it at once and restarts the container (restart policy)"
podman kill berth-demo >/dev/null
for _ in $(seq 50); do
  "$berthctl" status berth-demo | grep -q "restarted once" && break; sleep 0.2
done
"$berthctl" status berth-demo

step "config set, stop, start, uninstall"
"$berthctl" config set berth-demo restart.max_retries 5
"$berthctl" stop berth-demo
"$berthctl" start berth-demo
"$berthctl" uninstall berth-demo

step "berthctl install docker://: berthd fetches the pushed package from the registry itself (signature checked)"
"$berthctl" install "docker://$reg/demo/packages:1.0.0"
"$berthctl" uninstall berth-demo

step "fleet updates: berthd follows a tag (one HEAD request per check, every 2 s here); 1.1.0 staged at 0%, then raised to 100%"
"$berth" push "$pkg" "docker://$reg/demo/packages:stable"
"$berthctl" install "docker://$reg/demo/packages:stable" --follow
"$berth" push "$pkg2" "docker://$reg/demo/packages:stable" --rollout 0
sleep 3
"$berthctl" updates
"$berth" rollout "docker://$reg/demo/packages:stable" 100
for _ in $(seq 60); do
  "$berthctl" updates | grep -q "installed 1.1.0" && break; sleep 0.5
done
"$berthctl" updates

step "only what changed: that upgrade fetched the package's head and no layer (the image was the same); a delta package as a file"
grep "from the registry's parts" "$out/berthd.log" | tail -1
"$berthctl" uninstall berth-demo
mkdir -p "$work/v2d"
"$berth" pack --manifest "$work/manifest.json" --payload "$work/image.tar" --output-dir "$work/v2d" \
  --sign "$out/demo-key.key" --delta-from "$pkg" > "$work/v2d/paths"
delta=$(tail -1 "$work/v2d/paths")
echo "full package $(stat -c %s "$(head -1 "$work/v2d/paths")") B, delta from 1.0.0 $(stat -c %s "$delta") B"
"$berthctl" install "$pkg"
"$berthctl" install "$delta"
"$berthctl" uninstall berth-demo

step "the same image on Docker Engine (runtime \"docker\", berth's extension): streamed into dockerd"
sed -e 's/"version": "1.1.0"/"version": "1.0.0"/' -e 's/"runtime": "podman"/"runtime": "docker"/' \
    -e 's/"berth-demo"/"berth-docker-demo"/' "$work/manifest.json" > "$work/docker-manifest.json"
mkdir -p "$work/docker-out"
docker_pkg=$("$berth" pack --manifest "$work/docker-manifest.json" --payload "$work/image.tar" \
               --output-dir "$work/docker-out" --sign "$out/demo-key.key")
"$berthctl" uninstall berth-docker-demo >/dev/null 2>&1 || true
"$berthctl" install "$docker_pkg"
docker inspect --format 'docker runs {{.Config.Image}} with network {{.HostConfig.NetworkMode}}, restart policy {{.HostConfig.RestartPolicy.Name}}' berth-docker-demo
docker kill berth-docker-demo >/dev/null
for _ in $(seq 50); do
  "$berthctl" status berth-docker-demo | grep -q "restarted once" && break; sleep 0.2
done
"$berthctl" status berth-docker-demo
"$berthctl" logs berth-docker-demo
"$berthctl" stats berth-docker-demo
"$berthctl" uninstall berth-docker-demo

step "an LXC bundle (busybox-static, host network: this host has no lxcbr0)"
lxc=$work/lxc && mkdir -p "$lxc/berth-lxc-demo/rootfs/bin"
cp -r "$work/rootfs/." "$lxc/berth-lxc-demo/rootfs/"
mkdir -p "$lxc/berth-lxc-demo/rootfs/"{proc,sys,dev,tmp}
printf '#!/bin/sh\necho hello from an LXC bundle\nexec sleep infinity\n' > "$lxc/berth-lxc-demo/rootfs/init.sh"
cat > "$lxc/berth-lxc-demo/config" <<CONF
lxc.uts.name = berth-lxc-demo
lxc.net.0.type = none
lxc.init.cmd = /bin/sh /init.sh
lxc.mount.auto = proc:mixed sys:ro
CONF
tar -C "$lxc" -czf "$work/bundle.tar.gz" berth-lxc-demo
cat > "$work/lxc-manifest.json" <<JSON
{"package_id": "berth-lxc-demo", "version": "1.0.0", "runtime": "lxc",
 "registration_defaults": {"autostart": true, "monitor": true,
   "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}},
 "device_types": ["ccmp25-dvk"]}
JSON
mkdir -p "$work/lxc-out"
lxc_pkg=$("$berth" pack --manifest "$work/lxc-manifest.json" --payload "$work/bundle.tar.gz" \
            --output-dir "$work/lxc-out" --sign "$out/demo-key.key")
"$berthctl" uninstall berth-lxc-demo >/dev/null 2>&1 || true
"$berthctl" install "$lxc_pkg"
sleep 1
"$berthctl" status berth-lxc-demo
"$berthctl" stats berth-lxc-demo
"$berthctl" logs berth-lxc-demo --since 1m
"$berthctl" uninstall berth-lxc-demo

step "an OCI runtime bundle (runtime \"runc\", berth's extension): config.json from \`runc spec\`"
oci=$work/oci/berth-runc-demo && mkdir -p "$oci"
cp -r "$work/rootfs" "$oci/rootfs"
runc spec --bundle "$oci"
python3 - "$oci/config.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["process"]["args"] = ["/bin/sh", "-c", "trap 'exit 0' TERM; echo hello from an OCI bundle under runc; sleep 1000 & wait"]
json.dump(spec, open(sys.argv[1], "w"), indent=2)
PY
tar -C "$work/oci" -czf "$work/oci-bundle.tar.gz" berth-runc-demo
sed -e 's/"runtime": "lxc"/"runtime": "runc"/' -e 's/berth-lxc-demo/berth-runc-demo/' \
    "$work/lxc-manifest.json" > "$work/runc-manifest.json"
mkdir -p "$work/runc-out"
runc_pkg=$("$berth" pack --manifest "$work/runc-manifest.json" --payload "$work/oci-bundle.tar.gz" \
             --output-dir "$work/runc-out" --sign "$out/demo-key.key")
"$berth" inspect "$runc_pkg" | grep -i -e runtime -e payload
"$berthctl" uninstall berth-runc-demo >/dev/null 2>&1 || true
"$berthctl" install "$runc_pkg"
sleep 1
"$berthctl" status berth-runc-demo
"$berthctl" stats berth-runc-demo
"$berthctl" logs berth-runc-demo
"$berthctl" restart berth-runc-demo
"$berthctl" uninstall berth-runc-demo

step "berth image build: an image from a root filesystem (reproducible, layer cache), then one image into both of Digi's package kinds"
"$berth" image build --rootfs "$work/rootfs" --layer shell:files:/bin/busybox+/bin/sh --rest-layer applets \
  --cmd '["/bin/sh", "-c", "echo hello from a built image, $(uname -m); exec sleep infinity"]' \
  --cache-dir "$work/cache" "oci:$work/built:1"
"$berth" image build --rootfs "$work/rootfs" --layer shell:files:/bin/busybox+/bin/sh --rest-layer applets \
  --cmd '["/bin/sh", "-c", "echo hello from a built image, $(uname -m); exec sleep infinity"]' \
  --cache-dir "$work/cache" --json "oci:$work/built:1" |
  python3 -c 'import json, sys; r = json.load(sys.stdin); print("the same build again:", ", ".join(l["name"] + (" from the cache" if l["cached"] else " built") for l in r["layers"]), "->", r["digest"])'
for kind in podman lxc; do
  sed -e "s/\"runtime\": \"lxc\"/\"runtime\": \"$kind\"/" -e "s/berth-lxc-demo/berth-built-$kind/" \
      "$work/lxc-manifest.json" > "$work/built-$kind.json"
done
python3 - "$work/built-podman.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1])); m["create_args"] = "--tty"
json.dump(m, open(sys.argv[1], "w"), indent=2)
PY
for kind in podman lxc; do
  built_pkg=$("$berth" pack --manifest "$work/built-$kind.json" --image "oci:$work/built:1" \
                --output-dir "$work/built-out" --sign "$out/demo-key.key")
  "$berthctl" uninstall "berth-built-$kind" >/dev/null 2>&1 || true
  "$berthctl" install "$built_pkg"
done
sleep 1
for kind in podman lxc; do
  "$berthctl" logs "berth-built-$kind"
  "$berthctl" uninstall "berth-built-$kind"
done

step "berth bundle: a device bundle as RDK's BundleGen makes it (Dobby's config.json, libraries matched against the device's)"
mkdir -p "$work/device/lib" "$work/templates"
cp -a /usr/arm-linux-gnueabihf/lib/. "$work/device/lib/"
"$berth" bundle platform-libs "$work/device" -o "$work/templates/demo_libs.json"
python3 -c "import json, sys; l = json.load(open(sys.argv[1]))['libs']; print(len(l), 'libraries in the device', sys.argv[1].rsplit('/', 1)[1], 'e.g.', l[0])" "$work/templates/demo_libs.json"
cat > "$work/templates/demo.json" <<'JSON'
{"platformName": "demo", "os": "linux", "arch": {"arch": "amd64"},
 "rdk": {"version": "2024Q1", "supportedFeatures": []}, "hardware": {"graphics": false, "maxRam": "64M"},
 "network": {"options": ["nat", "open"]}, "envvar": ["PLATFORM=demo"],
 "storage": {"persistent": {"storageDir": "/opt/persistent", "maxSize": "16M"}},
 "dobby": {"pluginDependencies": ["/lib/libc.so.6"]},
 "logging": {"mode": "file", "logDir": "/var/log/apps", "limit": 65536}}
JSON
cat > "$work/app.json" <<'JSON'
{"id": "com.example.demo", "type": "application/vnd.rdk-app.dac.native", "graphics": false,
 "network": {"type": "nat"}, "storage": {"persistent": [{"size": "8M", "path": "/home/private"}]},
 "resources": {"ram": "32M"}, "capabilities": {"add": ["CAP_SYS_TIME"]}}
JSON
"$berth" bundle generate -y -p demo -s "$work/templates" -a "$work/app.json" "oci:$work/built:1" "$work/bundle"
python3 -c "import json, sys; c = json.load(open(sys.argv[1])); print('config.json:', c['ociVersion'], 'rdkPlugins', sorted(c['rdkPlugins']), 'memory limit', c['linux']['resources']['memory']['limit'])" "$work/bundle/config.json"
ls -l "$work/bundle.tar.gz"
step "berth rootfs: containers in a device rootfs at build time (for berthd, and for devices without it)"
dev=$work/device-rootfs
mkdir -p "$dev/etc/berth/keys"
cp "$out/demo-key.pub" "$dev/etc/berth/keys/"
echo '{"trust": {"keys": ["/etc/berth/keys/demo-key.pub"], "require_signature": true}}' > "$dev/etc/berth/berthd.conf"
"$berth" rootfs install --rootfs "$dev" --populate-storage "$pkg"
podman --root "$dev/var/lib/containers/storage" --runroot "$work/runroot" --storage-driver overlay \
  images --format 'podman on the device rootfs holds {{.Repository}}:{{.Tag}} ({{.ID}}) before its first boot'
"$berth" rootfs units --rootfs "$dev" --bundled "$image:docker:unless-stopped" --bundled "$image:podman:external"
systemd-analyze verify "$dev/lib/systemd/system/container-berth-demo.service" && echo "systemd-analyze verify: ok"
"$berth" rootfs loader --rootfs "$dev" --engine podman --quiet "docker-archive:$work/image.tar=$image"
(cd "$dev" && find usr/share etc/systemd lib/systemd -type f -o -type l | sort)

step "meta-berth: BitBake (oe-core's, from ../shared/peers) runs berth's image types on a rootfs: an OCI image and both Digi package kinds, signed"
peers=$(cd .. && pwd)/shared/peers
if [ -x "$peers/bitbake/bin/bitbake" ] && [ -d "$peers/openembedded-core/meta" ]; then
  bb=$work/yocto
  mkdir -p "$bb/meta-demo/conf" "$bb/meta-demo/recipes-demo/images" "$bb/build/conf"
  cat > "$bb/meta-demo/conf/layer.conf" <<'CONF'
BBPATH .= ":${LAYERDIR}"
BBFILES += "${LAYERDIR}/recipes-*/*/*.bb"
BBFILE_COLLECTIONS += "berth-demo"
BBFILE_PATTERN_berth-demo = "^${LAYERDIR}/"
LAYERDEPENDS_berth-demo = "core berth"
LAYERSERIES_COMPAT_berth-demo = "wrynose blacksail"
CONF
  cat > "$bb/build/conf/bblayers.conf" <<CONF
BBPATH = "\${TOPDIR}"
BBLAYERS = "$peers/openembedded-core/meta $PWD/contrib/meta-berth $bb/meta-demo"
CONF
  # No target toolchain here: do_rootfs is skipped and the demo's rootfs stands in for
  # IMAGE_ROOTFS; the prebuilt berth stands in for berth-native; Debian's pseudo for
  # pseudo-native. Everything after do_rootfs runs as in a real build.
  cat > "$bb/build/conf/local.conf" <<CONF
MACHINE = "qemux86-64"
INHERIT:remove = "sanity uninative create-spdx"
BERTH_PREBUILT = "$berth"
FAKEROOTCMD = "/usr/bin/pseudo"
FAKEROOTENV = "PSEUDO_PREFIX=/usr PSEUDO_LIBDIR=/usr/lib/x86_64-linux-gnu/pseudo PSEUDO_LOCALSTATEDIR=\${PSEUDO_LOCALSTATEDIR} PSEUDO_PASSWD=\${PSEUDO_PASSWD} PSEUDO_NOSYMLINKEXP=1 PSEUDO_DISABLED=0"
FAKEROOTBASEENV = "PSEUDO_BINDIR=/usr/bin PSEUDO_LIBDIR=/usr/lib/x86_64-linux-gnu/pseudo PSEUDO_PREFIX=/usr PSEUDO_DISABLED=1"
CONF
  cat > "$bb/meta-demo/recipes-demo/images/berth-demo-image.bb" <<CONF
SUMMARY = "the demo's busybox rootfs as an OCI image and Digi packages"
LICENSE = "MIT"
inherit image berth-image-dcp
IMAGE_ROOTFS = "$work/rootfs"
do_rootfs[noexec] = "1"
IMAGE_FSTYPES = "dcp"
OCI_LAYER_MODE = "multi"
OCI_LAYERS = "shell:files:/bin/busybox+/bin/sh"
OCI_LAYER_REST = "applets"
OCI_IMAGE_ENTRYPOINT = ""
OCI_IMAGE_CMD = "/bin/sh -c 'echo hello from BitBake'"
DCP_NAME = "berth-yocto-demo"
DCP_RUNTIMES = "podman lxc"
CONTAINER_ARTIFACT_VERSION = "1.0.0"
CONTAINER_CREATE_ARGS_PODMAN = "--tty"
CONTAINER_DEVICE_TYPES_JSON = '["ccmp25-dvk"]'
DCP_SIGNING_KEY = "$out/demo-key.key"
CONF
  (cd "$bb/build" && LANG=en_US.UTF-8 PATH="$peers/bitbake/bin:$PATH" \
     bitbake -q -b "$bb/meta-demo/recipes-demo/images/berth-demo-image.bb" -c image_complete)
  deployed=$bb/build/tmp/deploy/images/qemux86-64
  ls "$deployed"
  for kind in podman lxc; do
    "$berth" verify --trust "$out/demo-key.pub" "$deployed/berth-yocto-demo-$kind-ccmp25-dvk.tar.gz"
  done
else
  echo "skipped: BitBake and oe-core are not at $peers (CI has them; see docs/yocto.md)"
fi
echo
echo "demo complete: package in $out, image archive $out/busybox_1.tar.zst"
