# The `dobby` image type: an RDK device bundle (OCI runtime bundle for Dobby, or for
# crun/runc) from this recipe's `oci` output, as `bundlegen generate` makes it, through
# `berth bundle generate`, with the platform template BundleGen reads:
#
#   inherit image berth-image-bundle
#   IMAGE_FSTYPES = "dobby"
#   RDK_PLATFORM = "rpi3_reference"
#   RDK_PLATFORM_SEARCHPATH = "${TOPDIR}/templates"    (<platform>.json, _libs.json)
#
# Output in DEPLOY_DIR_IMAGE: ${IMAGE_NAME}-bundle/ (config.json, rootfs/) and
# ${IMAGE_NAME}-bundle.tar.gz (or .ipk). An app incompatible with the platform fails
# the task with berth's reason. The device image's _libs.json comes from
# berth-platform-libs.

inherit berth-image-oci

IMAGE_TYPEDEP:dobby = "oci"

RDK_PLATFORM ?= ""
RDK_PLATFORM_SEARCHPATH ?= ""
BUNDLEGEN_APPMETADATA ?= ""
BUNDLEGEN_APPID ?= ""
BUNDLEGEN_IPK ?= "0"
BUNDLEGEN_CRUN ?= "0"
BUNDLEGEN_LIBMATCHINGMODE ?= "normal"
BUNDLEGEN_NODEPWALKING ?= "0"
BUNDLEGEN_CREATEMOUNTPOINTS ?= "0"

do_image_dobby[depends] += "${BERTH_NATIVE_DEPENDS}"
do_image_dobby[vardeps] += "RDK_PLATFORM RDK_PLATFORM_SEARCHPATH BUNDLEGEN_APPMETADATA BUNDLEGEN_APPID \
    BUNDLEGEN_IPK BUNDLEGEN_CRUN BUNDLEGEN_LIBMATCHINGMODE BUNDLEGEN_NODEPWALKING BUNDLEGEN_CREATEMOUNTPOINTS"

def berth_bundlegen_args(d):
    if not d.getVar('RDK_PLATFORM') or not d.getVar('RDK_PLATFORM_SEARCHPATH'):
        bb.fatal("the dobby image type needs RDK_PLATFORM and RDK_PLATFORM_SEARCHPATH")
    args = ['--platform', d.getVar('RDK_PLATFORM'), '--libmatchingmode', d.getVar('BUNDLEGEN_LIBMATCHINGMODE'), '--yes']
    for p in d.getVar('RDK_PLATFORM_SEARCHPATH').split(':'):
        args += ['--searchpath', p]
    if d.getVar('BUNDLEGEN_APPMETADATA'):
        args += ['--appmetadata', d.getVar('BUNDLEGEN_APPMETADATA')]
    if d.getVar('BUNDLEGEN_APPID'):
        args += ['--appid', d.getVar('BUNDLEGEN_APPID')]
    for var, flag in (('BUNDLEGEN_IPK', '--ipk'), ('BUNDLEGEN_CRUN', '--crun'),
                      ('BUNDLEGEN_NODEPWALKING', '--nodepwalking'),
                      ('BUNDLEGEN_CREATEMOUNTPOINTS', '--createmountpoints')):
        if d.getVar(var) == '1':
            args.append(flag)
    return berth_quote(args)

IMAGE_CMD:dobby() {
    ${BERTH} bundle generate ${@berth_bundlegen_args(d)} \
        oci:${IMGDEPLOYDIR}/${OCI_IMAGE_DIR}:${OCI_IMAGE_TAG} ${IMGDEPLOYDIR}/${IMAGE_NAME}-bundle
}
