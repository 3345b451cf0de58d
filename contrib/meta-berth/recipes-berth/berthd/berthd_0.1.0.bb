SUMMARY = "berthd and berthctl: install, run and supervise containers on the device"
DESCRIPTION = "berth's device half: berthd installs Digi-format container packages \
(from files, the rootfs's preinstalled/ directory, or a registry it follows), runs \
and supervises them on podman, Docker, LXC or runc with restart policies, health \
checks and rollback, and keeps state that survives any crash; berthctl is its \
command line."
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=9;endline=9;md5=2507bd5f0713f05419cd2f22fa06fe62"

inherit cargo systemd externalsrc

EXTERNALSRC = "${BERTH_SRC_DIR}"
EXTERNALSRC_BUILD = "${WORKDIR}/build"

require recipes-berth/berth/berth-crates.inc

CARGO_BUILD_FLAGS:append = " --package berthd --package berthctl"

# device-registry: berthd installs from and follows registries (about 1.5 MiB more).
PACKAGECONFIG ??= "device-registry"
PACKAGECONFIG[device-registry] = "--features berthd/device-registry,,"

do_install:append() {
    install -d ${D}${systemd_system_unitdir} ${D}${sysconfdir}/berth ${D}${localstatedir}/lib/berth
    install -m 0644 ${S}/contrib/systemd/berthd.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/contrib/systemd/berthd-shutdown.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/contrib/berthd.conf ${D}${sysconfdir}/berth/berthd.conf
}

SYSTEMD_SERVICE:${PN} = "berthd.service berthd-shutdown.service"
CONFFILES:${PN} = "${sysconfdir}/berth/berthd.conf"
FILES:${PN} += "${localstatedir}/lib/berth"

# The engines berthd drives, recommended with it: meta-virtualization provides them
# (podman, docker-moby, lxc, runc-opencontainers). Empty by default, so the recipe
# also parses where meta-virtualization is not among the layers.
BERTHD_ENGINES ?= ""
RRECOMMENDS:${PN} += "${BERTHD_ENGINES}"
