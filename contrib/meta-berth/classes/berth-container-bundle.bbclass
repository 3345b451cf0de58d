# A recipe whose package carries container images into device images, with
# meta-virtualization's container-bundle variables:
#
#   inherit berth-container-bundle
#   CONTAINER_BUNDLES = "myapp-container:autostart docker.io/library/redis:7"
#   CONTAINER_DIGESTS[docker.io_library_redis_7] = "sha256:…"
#   CONTAINER_BUNDLE_RUNTIME = "podman"     (default from CONTAINER_PROFILE, else docker)
#
# An entry is SOURCE[:POLICY]: a local image recipe (its ${name}-latest-oci output,
# built first) or a registry image (a / or . in its name), which must be pinned by
# CONTAINER_DIGESTS[key] (key: the name with / and : as _) and is fetched in do_fetch
# by digest with `berth image copy`, every blob checked. The package holds each image
# as an OCI layout under ${datadir}/container-bundles/RUNTIME/oci/ and a list,
# ${datadir}/container-bundles/${PN}.json; a device image that inherits
# berth-bundled-containers writes them into the engine's storage with systemd units
# (no QEMU) and drops the layouts.

inherit berth

CONTAINER_BUNDLES ?= ""
CONTAINER_PROFILE ?= "docker"
CONTAINER_BUNDLE_RUNTIME ?= "${@'podman' if d.getVar('CONTAINER_PROFILE') == 'podman' else 'docker'}"

S = "${WORKDIR}/sources"
B = "${WORKDIR}/build"
do_unpack[noexec] = "1"
do_patch[noexec] = "1"
do_configure[noexec] = "1"
do_compile[noexec] = "1"

BERTH_BUNDLE_POLICIES = "autostart always unless-stopped on-failure no"
BERTH_FETCHED_DIR = "${WORKDIR}/fetched"

def berth_bundle_entries(d):
    """[(source, policy, remote)] from CONTAINER_BUNDLES."""
    entries = []
    policies = d.getVar('BERTH_BUNDLE_POLICIES').split()
    for entry in (d.getVar('CONTAINER_BUNDLES') or '').split():
        source, policy = entry, ''
        head, _, last = entry.rpartition(':')
        if head and last in policies:
            source, policy = head, last
        base = source.split(':')[0]
        entries.append((source, policy, '/' in base or '.' in base))
    return entries

def berth_bundle_key(source):
    return source.replace('/', '_').replace(':', '_')

python __anonymous() {
    runtime = d.getVar('CONTAINER_BUNDLE_RUNTIME')
    if runtime not in ('docker', 'podman'):
        bb.fatal("CONTAINER_BUNDLE_RUNTIME = %r: docker or podman" % runtime)
    remote = False
    for source, policy, is_remote in berth_bundle_entries(d):
        if is_remote:
            remote = True
        else:
            d.appendVarFlag('do_install', 'depends', ' %s:do_image_complete' % source.split(':')[0])
    d.appendVarFlag('do_install', 'depends', ' ' + d.getVar('BERTH_NATIVE_DEPENDS'))
    if remote:
        d.appendVarFlag('do_fetch', 'depends', ' ' + d.getVar('BERTH_NATIVE_DEPENDS'))
        if not d.getVar('BERTH_PREBUILT'):
            d.appendVarFlag('do_fetch', 'prefuncs', ' extend_recipe_sysroot')
        d.appendVarFlag('do_fetch', 'postfuncs', ' berth_fetch_containers')
}

# Registry images by digest only, as meta-virtualization fetches them: the tag names
# the image on the device, the digest decides its bytes.
python berth_fetch_containers() {
    import os
    out = d.getVar('BERTH_FETCHED_DIR')
    bb.utils.mkdirhier(out)
    for source, policy, remote in berth_bundle_entries(d):
        if not remote:
            continue
        key = berth_bundle_key(source)
        digest = d.getVarFlag('CONTAINER_DIGESTS', key)
        if not digest:
            bb.fatal("%s: a registry image must be pinned: CONTAINER_DIGESTS[%s] = \"sha256:…\" "
                     "(the digest: `berth image copy docker://%s oci:DIR` prints it)" % (source, key, source))
        last = source.rfind('/')
        name = source if ':' not in source[last + 1:] else source[:source.rfind(':')]
        bb.warn("Fetching the third-party container %s: make sure its licence lets you ship it" % source)
        dest = os.path.join(out, key)
        bb.utils.remove(dest, recurse=True)
        berth_run(d, [d.getVar('BERTH'), 'image', 'copy', '--quiet', '--strict',
                      '--platform', d.getVar('BERTH_PLATFORM'),
                      'docker://%s@%s' % (name, digest), 'oci:%s:latest' % dest])
}

python do_install() {
    import json, os
    runtime = d.getVar('CONTAINER_BUNDLE_RUNTIME')
    datadir = d.getVar('D') + d.getVar('datadir') + '/container-bundles'
    listed = []
    for source, policy, remote in berth_bundle_entries(d):
        key = berth_bundle_key(source)
        if remote:
            src = 'oci:%s:latest' % os.path.join(d.getVar('BERTH_FETCHED_DIR'), key)
            name = source if ':' in source[source.rfind('/') + 1:] else source + ':latest'
        else:
            recipe, _, tag = source.partition(':')
            tag = tag or 'latest'
            src = 'oci:%s/%s-%s-oci:%s' % (d.getVar('DEPLOY_DIR_IMAGE'), recipe, tag, tag)
            name = '%s:%s' % (recipe, tag)
        layout = '%s/oci/%s' % (runtime, key)
        berth_run(d, [d.getVar('BERTH'), 'image', 'copy', '--quiet', '--platform',
                      d.getVar('BERTH_PLATFORM'), src,
                      'oci:%s:latest' % os.path.join(datadir, layout)])
        listed.append({'name': name, 'runtime': runtime, 'policy': policy, 'layout': layout})
    with open(os.path.join(datadir, d.getVar('PN') + '.json'), 'w') as f:
        json.dump(listed, f, indent=2)
}
do_install[cleandirs] = "${D}"
do_install[dirs] = "${D}${datadir}/container-bundles"

FILES:${PN} = "${datadir}/container-bundles"
INSANE_SKIP:${PN} += "arch already-stripped"
