# The `oci` image type through `berth image build`: meta-virtualization's image-oci
# variables with their meaning, read from IMAGE_ROOTFS as do_rootfs left it. No
# package manager runs again and no umoci: berth splits the rootfs into the layers
# OCI_LAYERS names (packages from the rootfs's own package database), reproducibly
# (SOURCE_DATE_EPOCH, which oe-core sets), with its content-keyed layer cache.
#
#   inherit image berth-image-oci     (in place of `inherit image image-oci`)
#   IMAGE_FSTYPES = "oci"
#
# Output in DEPLOY_DIR_IMAGE: ${IMAGE_NAME}-oci (an OCI layout, tag OCI_IMAGE_TAG),
# the link ${IMAGE_BASENAME}-${OCI_IMAGE_TAG}-oci that container-bundle recipes and
# OCI_BASE_IMAGE read, and with OCI_IMAGE_TAR_OUTPUT = "true" the layout as an
# oci-archive, ${IMAGE_NAME}-oci-${OCI_IMAGE_TAG}-${OCI_IMAGE_ARCH}[-SUBARCH]-linux.oci-image.tar.

inherit berth

OCI_IMAGE_TAG ?= "latest"
OCI_IMAGE_AUTHOR ?= ""
OCI_IMAGE_RUNTIME_UID ?= ""
OCI_IMAGE_ENTRYPOINT ?= "sh"
OCI_IMAGE_ENTRYPOINT_ARGS ?= ""
OCI_IMAGE_CMD ?= ""
OCI_IMAGE_WORKINGDIR ?= ""
OCI_IMAGE_STOPSIGNAL ?= ""
OCI_IMAGE_PORTS ?= ""
OCI_IMAGE_LABELS ?= ""
OCI_IMAGE_ENV_VARS ?= ""
OCI_IMAGE_TAR_OUTPUT ?= "true"

# single: one layer of the whole rootfs; multi: the layers OCI_LAYERS names,
# NAME:TYPE:CONTENT with TYPE packages, directories, files or host, items joined by +.
OCI_LAYER_MODE ?= "single"
OCI_LAYERS ?= ""
# berth's addition: a layer of what no OCI_LAYERS entry took (empty: left out).
OCI_LAYER_REST ?= ""
# A recipe name (its ${name}-${OCI_BASE_IMAGE_TAG}-oci output) or an OCI layout path.
OCI_BASE_IMAGE ?= ""
OCI_BASE_IMAGE_TAG ?= "latest"

OCI_LAYER_CACHE ?= "1"
OCI_LAYER_CACHE_DIR ?= "${TOPDIR}/oci-layer-cache/${MACHINE}"
# berth's addition: gzip[:1-12] or zstd[:1-19] layers.
OCI_LAYER_COMPRESSION ?= "gzip"

OCI_IMAGE_DIR = "${IMAGE_NAME}-oci"
OCI_IMAGE_LINK = "${IMAGE_BASENAME}-${OCI_IMAGE_TAG}-oci"
OCI_IMAGE_TAR = "${IMAGE_NAME}-oci-${OCI_IMAGE_TAG}-${OCI_IMAGE_ARCH}${@('-' + d.getVar('OCI_IMAGE_SUBARCH')) if d.getVar('OCI_IMAGE_SUBARCH') else ''}-linux.oci-image.tar"

do_image_oci[depends] += "${BERTH_NATIVE_DEPENDS}"
do_image_oci[vardeps] += "OCI_LAYER_MODE OCI_LAYERS OCI_LAYER_REST OCI_BASE_IMAGE OCI_BASE_IMAGE_TAG \
    OCI_IMAGE_ENTRYPOINT OCI_IMAGE_ENTRYPOINT_ARGS OCI_IMAGE_CMD OCI_IMAGE_WORKINGDIR \
    OCI_IMAGE_STOPSIGNAL OCI_IMAGE_PORTS OCI_IMAGE_LABELS OCI_IMAGE_ENV_VARS \
    OCI_IMAGE_RUNTIME_UID OCI_IMAGE_AUTHOR OCI_LAYER_COMPRESSION OCI_LAYER_CACHE"

def berth_oci_base(d):
    """OCI_BASE_IMAGE as a berth reference, or ''."""
    base = d.getVar('OCI_BASE_IMAGE') or ''
    tag = d.getVar('OCI_BASE_IMAGE_TAG')
    if not base:
        return ''
    if base.startswith('/'):
        return 'oci:%s:%s' % (base, tag)
    return 'oci:%s/%s-%s-oci:%s' % (d.getVar('DEPLOY_DIR_IMAGE'), base, tag, tag)

def berth_oci_layers(d):
    """OCI_LAYERS checked as meta-virtualization checks them; fatal on a bad entry."""
    layers = (d.getVar('OCI_LAYERS') or '').split()
    for layer in layers:
        parts = layer.split(':', 2)
        if len(parts) < 3 or not parts[0] or not parts[2]:
            bb.fatal("OCI_LAYERS entry %r: the form is NAME:TYPE:CONTENT" % layer)
        if parts[1] not in ('packages', 'directories', 'files', 'host'):
            bb.fatal("OCI_LAYERS entry %r: TYPE %r is not packages, directories, files or host"
                     % (layer, parts[1]))
    return layers

def berth_oci_args(d):
    import shlex
    args = ['--rootfs', d.getVar('IMAGE_ROOTFS')]
    mode = d.getVar('OCI_LAYER_MODE')
    if mode == 'multi':
        for layer in berth_oci_layers(d):
            args += ['--layer', layer]
        if d.getVar('OCI_LAYER_REST'):
            args += ['--rest-layer', d.getVar('OCI_LAYER_REST')]
    base = berth_oci_base(d)
    if base:
        args += ['--base', base]
    if d.getVar('OCI_IMAGE_ENTRYPOINT'):
        args += ['--entrypoint', d.getVar('OCI_IMAGE_ENTRYPOINT')]
    if d.getVar('OCI_IMAGE_ENTRYPOINT_ARGS'):
        args += ['--entrypoint-args', d.getVar('OCI_IMAGE_ENTRYPOINT_ARGS')]
    if d.getVar('OCI_IMAGE_CMD'):
        args += ['--cmd', d.getVar('OCI_IMAGE_CMD')]
    for var, flag in (('OCI_IMAGE_WORKINGDIR', '--workdir'), ('OCI_IMAGE_STOPSIGNAL', '--stop-signal'),
                      ('OCI_IMAGE_RUNTIME_UID', '--user'), ('OCI_IMAGE_AUTHOR', '--author')):
        if d.getVar(var):
            args += [flag, d.getVar(var)]
    for var, flag in (('OCI_IMAGE_ENV_VARS', '--env'), ('OCI_IMAGE_LABELS', '--label'),
                      ('OCI_IMAGE_PORTS', '--port')):
        for item in (d.getVar(var) or '').split():
            args += [flag, item]
    args += ['--os', 'linux', '--arch', d.getVar('OCI_IMAGE_ARCH')]
    if d.getVar('OCI_IMAGE_SUBARCH'):
        args += ['--variant', d.getVar('OCI_IMAGE_SUBARCH')]
    args += ['--compression', d.getVar('OCI_LAYER_COMPRESSION')]
    if d.getVar('OCI_LAYER_CACHE') == '1':
        args += ['--cache-dir', d.getVar('OCI_LAYER_CACHE_DIR')]
    else:
        args += ['--no-cache']
    return berth_quote(args)

python __anonymous() {
    mode = d.getVar('OCI_LAYER_MODE')
    if mode not in ('single', 'multi'):
        bb.fatal("OCI_LAYER_MODE = %r: single or multi" % mode)
    if mode == 'multi' and not berth_oci_layers(d):
        bb.fatal("OCI_LAYER_MODE = 'multi' needs OCI_LAYERS")
    if d.getVar('OCI_IMAGE_ENTRYPOINT_ARGS') and d.getVar('OCI_IMAGE_CMD'):
        bb.fatal("OCI_IMAGE_ENTRYPOINT_ARGS and OCI_IMAGE_CMD are both the image's CMD: set one")
    base = d.getVar('OCI_BASE_IMAGE') or ''
    if base and not base.startswith('/'):
        if '/' in base or '.' in base.split(':')[0]:
            bb.fatal("OCI_BASE_IMAGE = %r is a registry image: fetch it, pinned by digest, "
                     "with a recipe that inherits berth-container-bundle "
                     "(CONTAINER_BUNDLES, CONTAINER_DIGESTS) and name that recipe" % base)
        d.appendVarFlag('do_image_oci', 'depends', ' %s:do_image_complete' % base)
}

IMAGE_CMD:oci() {
    rm -rf ${IMGDEPLOYDIR}/${OCI_IMAGE_DIR} ${IMGDEPLOYDIR}/${OCI_IMAGE_TAR}
    ${BERTH} image build ${@berth_oci_args(d)} oci:${IMGDEPLOYDIR}/${OCI_IMAGE_DIR}:${OCI_IMAGE_TAG}
    if [ "${OCI_IMAGE_TAR_OUTPUT}" = "true" ]; then
        ${BERTH} image copy --quiet oci:${IMGDEPLOYDIR}/${OCI_IMAGE_DIR}:${OCI_IMAGE_TAG} \
            oci-archive:${IMGDEPLOYDIR}/${OCI_IMAGE_TAR}:${OCI_IMAGE_TAG}
    fi
    ln -sfn ${OCI_IMAGE_DIR} ${IMGDEPLOYDIR}/${OCI_IMAGE_LINK}
}
