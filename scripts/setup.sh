#!/usr/bin/env bash
# Installs and configures what berth's demo, tests and benchmarks need on Debian 12.
# Idempotent, and quiet when there is nothing to do. Run as root.
set -euo pipefail

packages=(podman catatonit runc crun docker.io skopeo umoci buildah lxc docker-registry zstd busybox-static pigz libdeflate-tools time bc systemd
          python3 python3-venv ca-certificates openssl curl iproute2 apache2-utils libcap2-bin rpm binutils libc6-armhf-cross libc6-arm64-cross
          gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross libc6-dev-armhf-cross
          qemu-user-static lintian ccache
          locales chrpath cpio diffstat gawk pseudo file g++ make patch rpcsvc-proto wget xz-utils lz4 bzip2 git)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs packages with apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# BitBake (meta-berth's tests, ../shared/peers) refuses to start without the
# en_US.UTF-8 locale; oe-core's HOSTTOOLS are the packages above.
if ! locale -a 2>/dev/null | grep -qx 'en_US.utf8'; then
  sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen
  grep -q '^en_US.UTF-8 UTF-8' /etc/locale.gen || echo 'en_US.UTF-8 UTF-8' >> /etc/locale.gen
  locale-gen >/dev/null
  echo "setup.sh: generated the en_US.UTF-8 locale (BitBake needs it)"
fi

# (catatonit is what podman runs for --init; apt brings it only as a recommendation.)
# podman on these hosts (see shared/HOST-NOTES.md): crun cannot run with hybrid
# cgroups, so select runc; and keep ulimits at what conmon may set.
conf=/etc/containers/containers.conf
want='# berth: written by scripts/setup.sh
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4000:4000"]

[engine]
runtime = "runc"'
if [ ! -f "$conf" ] || ! grep -q '^# berth: written by scripts/setup.sh' "$conf"; then
  mkdir -p /etc/containers
  [ -f "$conf" ] && cp "$conf" "$conf.before-berth"
  printf '%s\n' "$want" > "$conf"
  echo "setup.sh: configured podman ($conf)"
fi

# PyPI's oras: the second opinion on packages pushed as OCI artifacts (tests only).
oras_venv=/opt/berth-test/oras
if ! "$oras_venv/bin/python" -c 'import oras.client' >/dev/null 2>&1; then
  echo "setup.sh: installing PyPI's oras into $oras_venv"
  python3 -m venv "$oras_venv"
  "$oras_venv/bin/pip" install --quiet --disable-pip-version-check 'oras==0.2.43'
fi

# BundleGen's Python dependencies (the packages its run.sh installs on first use), made
# here so that no test makes them: run.sh's first-use check is its venv's python, which
# exists before pip has finished, so the comparisons that started together on a fresh
# machine ran BundleGen without click (tests and benches set BUNDLEGEN_VENV to this).
bundlegen_venv=/opt/berth-test/bundlegen-venv
if ! "$bundlegen_venv/bin/python" -c 'import click, humanfriendly, jsonschema, loguru' >/dev/null 2>&1; then
  echo "setup.sh: installing BundleGen's Python dependencies into $bundlegen_venv"
  python3 -m venv "$bundlegen_venv"
  "$bundlegen_venv/bin/pip" install --quiet --disable-pip-version-check click humanfriendly jsonschema loguru
fi

# Podman's Quadlet generator (podman >= 4.4; bookworm has 4.3): the second opinion on
# the Quadlet units `berth rootfs units` writes (tests only). Taken from Debian 13's
# podman package, pinned by digest; it links only libc.
quadlet=/opt/berth-test/quadlet
quadlet_deb=podman_5.4.2+ds1-2+b2_amd64.deb
quadlet_sha256=e3987a9d1e6d46cbd4ee11bd067927a5f7f886e41c7a2dbe5b89a436905d44a0
if ! "$quadlet" -version >/dev/null 2>&1; then
  echo "setup.sh: installing Quadlet from Debian's $quadlet_deb into $quadlet"
  tmp=$(mktemp -d)
  curl -fsSL -o "$tmp/podman.deb" "https://deb.debian.org/debian/pool/main/p/podman/$quadlet_deb"
  echo "$quadlet_sha256  $tmp/podman.deb" | sha256sum -c --quiet
  dpkg-deb -x "$tmp/podman.deb" "$tmp/x"
  mkdir -p "$(dirname "$quadlet")"
  install -m 755 "$tmp/x/usr/libexec/podman/quadlet" "$quadlet"
  rm -rf "$tmp"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup.sh: cargo is missing: install the Rust toolchain (rustup) first" >&2
  exit 1
fi

# cargo-fuzz for scripts/fuzz.sh (the fuzz targets CI runs for a bounded time).
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "setup.sh: installing cargo-fuzz from crates.io"
  cargo install --quiet --locked cargo-fuzz
fi

# The device binaries for the devices' CPUs (make device ARCH=arm64|armhf): the Rust
# standard libraries for both; Debian's cross compilers (above) link them and build
# their C parts, qemu-user-static runs them in the tests.
device_targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
installed_targets=$(rustup target list --installed)
for t in "${device_targets[@]}"; do
  if ! grep -qx "$t" <<<"$installed_targets"; then
    echo "setup.sh: rustup target add $t"
    rustup target add "$t" >/dev/null
  fi
done
