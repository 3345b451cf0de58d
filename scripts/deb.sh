#!/usr/bin/env bash
# Writes a Debian package from binaries already built (make deb runs this):
#   scripts/deb.sh ARCH berthd   berthd_<version>_<ARCH>.deb: berthd, berthctl, the units
#                                (enabled on install where systemd runs), the default
#                                config as a conffile, the working path
#   scripts/deb.sh amd64 berth   berth_<version>_amd64.deb: the build host tool
# ARCH is Debian's name (amd64, arm64, armhf); the binaries come from
# target/<triple>/release (make device ARCH=…) for berthd, target/release for berth
# (BIN_DIR to take them from elsewhere), and are stripped into the package. The
# package goes to target/deb/ (DEB_OUT to change it).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=${1:?usage: scripts/deb.sh ARCH berthd|berth}
package=${2:?usage: scripts/deb.sh ARCH berthd|berth}
case $arch in
  amd64) triple=x86_64-unknown-linux-gnu strip=strip ;;
  arm64) triple=aarch64-unknown-linux-gnu strip=aarch64-linux-gnu-strip ;;
  armhf) triple=armv7-unknown-linux-gnueabihf strip=arm-linux-gnueabihf-strip ;;
  *) echo "deb.sh: ARCH $arch: one of amd64, arm64, armhf" >&2; exit 2 ;;
esac
# DEB_MAINTAINER: who the packages name (Maintainer, the changelog's trailer).
maintainer=${DEB_MAINTAINER:-berth developers <berth-devel@lists.example.org>}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
out=${DEB_OUT:-target/deb}
mkdir -p "$out"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT

case $package in
  berthd)
    bin_dir=${BIN_DIR:-target/$triple/release}
    binaries=(berthd berthctl)
    description="device daemon that installs and supervises containers
 berthd installs berth and Digi DCP packages and runs their containers on
 podman, Docker Engine, LXC or runc: restart policies, health checks,
 probation and rollback, logs and statistics, updates from a registry tag,
 and a state that survives any crash. berthctl is its command line."
    ;;
  berth)
    [ "$arch" = amd64 ] || { echo "deb.sh: berth is the build host tool: amd64 only" >&2; exit 2; }
    bin_dir=${BIN_DIR:-target/release}
    binaries=(berth)
    description="build host tool for container images, packages and device bundles
 berth copies, builds and unpacks container images; packs, signs and
 verifies packages for berthd devices and Digi's DCP; generates RDK device
 bundles; and puts containers into a device root filesystem."
    ;;
  *) echo "deb.sh: package $package: berthd or berth" >&2; exit 2 ;;
esac

for b in "${binaries[@]}"; do
  [ -x "$bin_dir/$b" ] || { echo "deb.sh: $bin_dir/$b is missing: build it first (make device ARCH=$arch, or make build)" >&2; exit 1; }
  install -D -m 0755 "$bin_dir/$b" "$root/usr/bin/$b"
  "$strip" --remove-section=.comment --remove-section=.note "$root/usr/bin/$b"
done

# Depends from the binaries themselves: the newest glibc symbol version they use,
# and libgcc_s for unwinding (readelf reads any architecture's ELF).
glibc=$(for b in "${binaries[@]}"; do readelf -W -V "$root/usr/bin/$b"; done |
  grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
depends="libc6 (>= $glibc)"
if for b in "${binaries[@]}"; do readelf -W -d "$root/usr/bin/$b"; done | grep -q 'NEEDED.*libgcc_s'; then
  depends="$depends, libgcc-s1 (>= 4.2)"
fi

doc=$root/usr/share/doc/$package
install -d "$doc"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: berth
Source: https://github.com/berth-project/berth

Files: *
Copyright: 2025-2026 the berth authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 can be found in
 /usr/share/common-licenses/Apache-2.0.
EOF
# A native package's changelog, dated by the last commit (the same bytes for the
# same tree).
date=$(git log -1 --format=%cD 2>/dev/null || date -R -d @0)
printf '%s (%s) unstable; urgency=medium\n\n  * Built from the berth repository.\n\n -- %s  %s\n' \
  "$package" "$version" "$maintainer" "$date" | gzip -9n > "$doc/changelog.gz"

install -d "$root/DEBIAN"
extra=""
if [ "$package" = berthd ]; then
  install -D -m 0644 contrib/systemd/berthd.service "$root/lib/systemd/system/berthd.service"
  install -D -m 0644 contrib/systemd/berthd-shutdown.service "$root/lib/systemd/system/berthd-shutdown.service"
  install -D -m 0644 contrib/berthd.conf "$root/etc/berth/berthd.conf"
  install -d -m 0755 "$root/var/lib/berth"
  echo /etc/berth/berthd.conf > "$root/DEBIAN/conffiles"
  extra="Recommends: podman | docker.io | lxc | runc
Suggests: skopeo"
  # What dh_installsystemd writes: enabled on first install (and kept as the admin
  # left it on upgrades), started where systemd runs; stopped before removal.
  cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
	for unit in berthd.service berthd-shutdown.service; do
		deb-systemd-helper unmask "$unit" >/dev/null || true
		if deb-systemd-helper --quiet was-enabled "$unit"; then
			deb-systemd-helper enable "$unit" >/dev/null || true
		else
			deb-systemd-helper update-state "$unit" >/dev/null || true
		fi
	done
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke restart berthd.service berthd-shutdown.service >/dev/null || true
	fi
fi
EOF
  cat > "$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
# berthd only: its containers outlive it (KillMode=process), as on a daemon restart.
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop berthd.service >/dev/null || true
fi
EOF
  cat > "$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper mask berthd.service berthd-shutdown.service >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper purge berthd.service berthd-shutdown.service >/dev/null || true
	deb-systemd-helper unmask berthd.service berthd-shutdown.service >/dev/null || true
fi
EOF
  chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
fi

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
{
  echo "Package: $package"
  echo "Version: $version"
  echo "Architecture: $arch"
  echo "Maintainer: $maintainer"
  echo "Installed-Size: $size"
  echo "Depends: $depends"
  [ -z "$extra" ] || echo "$extra"
  echo "Section: admin"
  echo "Priority: optional"
  echo "Homepage: https://github.com/berth-project/berth"
  echo "Description: $description"
} > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
deb=$out/${package}_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
