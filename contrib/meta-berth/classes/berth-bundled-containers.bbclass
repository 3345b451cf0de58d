# Containers in a device image, ready at first boot, written by berth on the build
# host for any architecture (meta-virtualization boots a QEMU VM for this):
#
#   inherit berth-bundled-containers
#
# For devices without berthd, meta-virtualization's BUNDLED_CONTAINERS:
#   BUNDLED_CONTAINERS = "myapp-container:podman:autostart other:docker:no"
# each NAME:RUNTIME[:POLICY][:external] has its image (a local image recipe's
# ${NAME}-${TAG}-oci output; `external`: from elsewhere, units only) written into the
# engine's storage (`berth rootfs populate`) and a unit (`berth rootfs units`:
# docker services, podman Quadlets). Packages of berth-container-bundle recipes
# installed in the image are handled the same way, their OCI layouts then removed.
#
# For devices with berthd, packages berthd installs at its first start
# (`berth rootfs install`):
#   BERTH_PACKAGES = "${DEPLOY_DIR_IMAGE}/app-podman-qemux86-64.tar.gz"
#   BERTH_PACKAGES_DEPENDS = "app-image"             (recipes that make them)
#   BERTH_POPULATE_STORAGE = "1"                      (their images in storage too)
#   BERTH_DELETE_AFTER_INSTALL = "1"                  (no copy kept for a reset)

inherit berth

BUNDLED_CONTAINERS ?= ""
BERTH_PACKAGES ?= ""
BERTH_PACKAGES_DEPENDS ?= ""
BERTH_POPULATE_STORAGE ?= "0"
BERTH_DELETE_AFTER_INSTALL ?= "0"

BERTH_BUNDLED_POLICIES = "autostart always unless-stopped on-failure no"

def berth_bundled_entries(d):
    """[(entry, name, runtime, external)], each entry read from the right as
    `berth rootfs units` reads it, so a tag or port in NAME is not a field."""
    out = []
    policies = d.getVar('BERTH_BUNDLED_POLICIES').split()
    for entry in (d.getVar('BUNDLED_CONTAINERS') or '').split():
        rest, external = entry, False
        if rest.endswith(':external'):
            rest, external = rest[:-len(':external')], True
        head, _, last = rest.rpartition(':')
        if head and last in policies:
            rest = head
        name, _, runtime = rest.rpartition(':')
        if not name or runtime not in ('docker', 'podman'):
            bb.fatal("BUNDLED_CONTAINERS entry %r: the form is NAME:RUNTIME[:POLICY][:external], "
                     "RUNTIME docker or podman" % entry)
        out.append((entry, name, runtime, external))
    return out

def berth_local_image(d, name):
    """A local image recipe's OCI layout: (reference, recipe)."""
    last = name.rfind('/')
    recipe, tag = name, 'latest'
    if ':' in name[last + 1:]:
        recipe, tag = name[:name.rfind(':')], name[name.rfind(':') + 1:]
    return 'oci:%s/%s-%s-oci:%s' % (d.getVar('DEPLOY_DIR_IMAGE'), recipe, tag, tag), recipe

python __anonymous() {
    deps = [d.getVar('BERTH_NATIVE_DEPENDS')]
    for entry, name, runtime, external in berth_bundled_entries(d):
        if not external:
            deps.append('%s:do_image_complete' % berth_local_image(d, name)[1])
    for recipe in (d.getVar('BERTH_PACKAGES_DEPENDS') or '').split():
        deps.append('%s:do_image_complete' % recipe)
    d.appendVarFlag('do_berth_containers', 'depends', ' ' + ' '.join(deps))
}

python do_berth_containers() {
    import glob, json, os
    berth = d.getVar('BERTH')
    rootfs = d.getVar('IMAGE_ROOTFS')
    platform = d.getVar('BERTH_PLATFORM')
    units = []
    for entry, name, runtime, external in berth_bundled_entries(d):
        if not external:
            ref = berth_local_image(d, name)[0]
            berth_run(d, [berth, 'rootfs', 'populate', '--rootfs', rootfs, '--engine', runtime,
                          '--platform', platform, '--name', name, ref])
        units.append(entry)
    bundles = d.getVar('datadir') + '/container-bundles'
    for listing in sorted(glob.glob(rootfs + bundles + '/*.json')):
        with open(listing) as f:
            for c in json.load(f):
                layout = rootfs + bundles + '/' + c['layout']
                berth_run(d, [berth, 'rootfs', 'populate', '--rootfs', rootfs, '--engine',
                              c['runtime'], '--platform', platform, '--name', c['name'],
                              'oci:%s:latest' % layout])
                bb.utils.remove(layout, recurse=True)
                units.append('%s:%s%s' % (c['name'], c['runtime'],
                                          ':' + c['policy'] if c['policy'] else ''))
    if units:
        args = [berth, 'rootfs', 'units', '--rootfs', rootfs]
        for u in units:
            args += ['--bundled', u]
        berth_run(d, args)
    packages = []
    for p in (d.getVar('BERTH_PACKAGES') or '').split():
        packages.append(p if os.path.isabs(p) else os.path.join(d.getVar('DEPLOY_DIR_IMAGE'), p))
    if packages:
        args = [berth, 'rootfs', 'install', '--rootfs', rootfs]
        if d.getVar('BERTH_POPULATE_STORAGE') == '1':
            args.append('--populate-storage')
        if d.getVar('BERTH_DELETE_AFTER_INSTALL') == '1':
            args.append('--delete-after-install')
        berth_run(d, args + packages)
}
do_berth_containers[fakeroot] = "1"
do_berth_containers[vardeps] += "BUNDLED_CONTAINERS BERTH_PACKAGES BERTH_POPULATE_STORAGE BERTH_DELETE_AFTER_INSTALL"
addtask berth_containers after do_rootfs before do_image
