# The device's shared libraries as RDK's BundleGen templates list them
# (<platform>_libs.json: name, apiversions, deps), read from the finished rootfs by
# `berth bundle platform-libs` for any architecture (RDK's build runs readelf):
#
#   inherit berth-platform-libs
#   RDK_PLATFORM = "rpi3_reference"
#
# Output in DEPLOY_DIR_IMAGE: ${RDK_PLATFORM}_libs.json, for the search path of the
# app images' `dobby` type (berth-image-bundle).

inherit berth

RDK_PLATFORM ?= "${MACHINE}"

do_berth_platform_libs[depends] += "${BERTH_NATIVE_DEPENDS}"
do_berth_platform_libs[dirs] = "${IMGDEPLOYDIR}"
do_berth_platform_libs() {
    ${BERTH} bundle platform-libs --output ${IMGDEPLOYDIR}/${RDK_PLATFORM}_libs.json ${IMAGE_ROOTFS}
}
addtask berth_platform_libs after do_image before do_image_complete
