# The `dcp` image type: Digi ConnectCore container packages, as dey-image-dcp makes
# them, through `berth pack --image` from this recipe's own `oci` output: one
# package per runtime in DCP_RUNTIMES (podman: the image as a docker-archive; lxc:
# a bundle of the image's rootfs and an LXC config), optionally signed. berthd and
# Digi's container manager install them.
#
#   inherit image berth-image-dcp
#   IMAGE_FSTYPES = "dcp"            (the oci type comes with it)
#
# Output in DEPLOY_DIR_IMAGE: <package_id>-<runtime>-<device_types[0]>.tar.gz, the
# name Digi's generator gives. Unlike Digi's, the package_id is stable
# (DCP_PACKAGE_ID, default DCP_NAME), not DCP_NAME plus a build timestamp: berthd
# upgrades the container of that id when a newer version arrives.

inherit berth-image-oci

IMAGE_TYPEDEP:dcp = "oci"

DCP_NAME ?= "${IMAGE_BASENAME}"
DCP_PACKAGE_ID ?= "${DCP_NAME}"
# podman, lxc, or both ("podman lxc") as dey-image-dcp builds.
DCP_RUNTIMES ?= "podman"
PODMAN_TAG ?= "${DCP_NAME}-tag"
CONTAINER_FRIENDLY_NAME ?= "${DCP_NAME}"
CONTAINER_ARTIFACT_VERSION ?= "${PV}"
CONTAINER_CREATE_ARGS_PODMAN ?= "--network host"
CONTAINER_FIRMWARE_VERSIONS ?= ""
CONTAINER_DEVICE_TYPES_JSON ?= '["${MACHINE}"]'
CONTAINER_ARTIFACT_DESCRIPTION ?= "${SUMMARY}"
CONTAINER_ARTIFACT_LABELS_JSON ?= "{}"
CONTAINER_ARTIFACT_BUILD_ID ?= ""
CONTAINER_REGISTRATION_DEFAULTS_JSON ?= '{"autostart": true, "monitor": true, "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 2}}'
# A secret key from `berth keygen`: the packages are signed with it.
DCP_SIGNING_KEY ?= ""
# gzip (every reader) or zstd (berth's extension).
DCP_COMPRESSION ?= "gzip"
# lxc: the container's network, as `berth pack --lxc-network` (empty: loopback only).
DCP_LXC_NETWORK ?= ""

do_image_dcp[depends] += "${BERTH_NATIVE_DEPENDS}"
do_image_dcp[prefuncs] += "berth_dcp_manifests"
do_image_dcp[vardeps] += "DCP_NAME DCP_PACKAGE_ID DCP_RUNTIMES PODMAN_TAG CONTAINER_FRIENDLY_NAME \
    CONTAINER_ARTIFACT_VERSION CONTAINER_CREATE_ARGS_PODMAN CONTAINER_FIRMWARE_VERSIONS \
    CONTAINER_DEVICE_TYPES_JSON CONTAINER_ARTIFACT_DESCRIPTION CONTAINER_ARTIFACT_LABELS_JSON \
    CONTAINER_ARTIFACT_BUILD_ID CONTAINER_REGISTRATION_DEFAULTS_JSON DCP_SIGNING_KEY \
    DCP_COMPRESSION DCP_LXC_NETWORK"

BERTH_DCP_DIR = "${WORKDIR}/berth-dcp"

def berth_dcp_json(d, var):
    import json
    try:
        return json.loads(d.getVar(var))
    except ValueError as e:
        bb.fatal("%s is not JSON: %s" % (var, e))

# One manifest per runtime, in the key order of Digi's generator; berth pack checks
# every field and names the one that breaks a rule.
python berth_dcp_manifests() {
    import json, os
    out = d.getVar('BERTH_DCP_DIR')
    bb.utils.remove(out, recurse=True)
    bb.utils.mkdirhier(out)
    for runtime in d.getVar('DCP_RUNTIMES').split():
        if runtime not in ('podman', 'lxc'):
            bb.fatal("DCP_RUNTIMES: %r is not podman or lxc" % runtime)
        m = {
            'package_id': d.getVar('DCP_PACKAGE_ID'),
            'friendly_name': d.getVar('CONTAINER_FRIENDLY_NAME'),
            'version': d.getVar('CONTAINER_ARTIFACT_VERSION'),
            'runtime': runtime,
            'registration_defaults': berth_dcp_json(d, 'CONTAINER_REGISTRATION_DEFAULTS_JSON'),
            'device_types': berth_dcp_json(d, 'CONTAINER_DEVICE_TYPES_JSON'),
            'firmware_versions': d.getVar('CONTAINER_FIRMWARE_VERSIONS'),
            'build_id': d.getVar('CONTAINER_ARTIFACT_BUILD_ID'),
            'description': d.getVar('CONTAINER_ARTIFACT_DESCRIPTION'),
            'labels': berth_dcp_json(d, 'CONTAINER_ARTIFACT_LABELS_JSON'),
        }
        if runtime == 'podman':
            m['create_args'] = d.getVar('CONTAINER_CREATE_ARGS_PODMAN')
        with open(os.path.join(out, runtime + '.json'), 'w') as f:
            json.dump(m, f, indent=2)
}

def berth_dcp_pack_args(d, runtime):
    args = ['--output-dir', d.getVar('IMGDEPLOYDIR'),
            '--compression', d.getVar('DCP_COMPRESSION')]
    if runtime == 'podman':
        args += ['--image-name', '%s:%s' % (d.getVar('DCP_NAME'), d.getVar('PODMAN_TAG'))]
    elif d.getVar('DCP_LXC_NETWORK'):
        args += ['--lxc-network', d.getVar('DCP_LXC_NETWORK')]
    if d.getVar('DCP_SIGNING_KEY'):
        args += ['--sign', d.getVar('DCP_SIGNING_KEY')]
    return berth_quote(args)

IMAGE_CMD:dcp() {
    for runtime in ${DCP_RUNTIMES}; do
        case $runtime in
        podman)
            ${BERTH} pack --manifest ${BERTH_DCP_DIR}/podman.json \
                --image oci:${IMGDEPLOYDIR}/${OCI_IMAGE_DIR}:${OCI_IMAGE_TAG} \
                ${@berth_dcp_pack_args(d, 'podman')}
            ;;
        lxc)
            ${BERTH} pack --manifest ${BERTH_DCP_DIR}/lxc.json \
                --image oci:${IMGDEPLOYDIR}/${OCI_IMAGE_DIR}:${OCI_IMAGE_TAG} \
                ${@berth_dcp_pack_args(d, 'lxc')}
            ;;
        esac
    done
}
