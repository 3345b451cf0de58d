#!/usr/bin/env bash
# Installs and configures what berth's demo, tests and benchmarks need on Debian 12.
# Idempotent, and quiet when there is nothing to do. Run as root.
set -euo pipefail

packages=(podman catatonit runc crun docker.io skopeo umoci buildah lxc docker-registry zstd busybox-static pigz time bc systemd
          python3 python3-venv ca-certificates curl apache2-utils libcap2-bin rpm binutils libc6-armhf-cross libc6-arm64-cross)

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

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup.sh: cargo is missing: install the Rust toolchain (rustup) first" >&2
  exit 1
fi
