SUMMARY = "berth, the build-host tool: OCI images from root filesystems, device packages and bundles, containers in device images"
DESCRIPTION = "The tool the berth classes call (berth-image-oci, berth-image-dcp, \
berth-image-bundle, berth-container-bundle, berth-bundled-containers, \
berth-platform-libs), built with cargo from the berth tree this layer is part of. \
Set BERTH_PREBUILT to a berth binary to use one instead."
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=9;endline=9;md5=2507bd5f0713f05419cd2f22fa06fe62"

inherit cargo native externalsrc

EXTERNALSRC = "${BERTH_SRC_DIR}"
EXTERNALSRC_BUILD = "${WORKDIR}/build"

require berth-crates.inc

CARGO_BUILD_FLAGS:append = " --package berth-cli"
