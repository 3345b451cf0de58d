# What every berth class shares: the `berth` tool, the target's OCI platform, and
# arguments passed to it without a shell reading them.
#
# BERTH_PREBUILT: a berth binary on the build host to use instead of building
# berth-native (CI, or a host that has berth installed). Empty: berth-native.

BERTH_PREBUILT ?= ""
BERTH = "${@d.getVar('BERTH_PREBUILT') or d.expand('${STAGING_BINDIR_NATIVE}/berth')}"
BERTH_NATIVE_DEPENDS = "${@'' if d.getVar('BERTH_PREBUILT') else 'berth-native:do_populate_sysroot'}"

# The target as an OCI platform, as meta-virtualization's image-oci maps it.
OCI_IMAGE_ARCH ?= "${@oe.go.map_arch(d.getVar('TARGET_ARCH'))}"
OCI_IMAGE_SUBARCH ?= "${@berth_oci_subarch(d)}"
BERTH_PLATFORM = "linux/${OCI_IMAGE_ARCH}${@('/' + d.getVar('OCI_IMAGE_SUBARCH')) if d.getVar('OCI_IMAGE_SUBARCH') else ''}"

def berth_oci_subarch(d):
    import re
    if not re.match('arm', d.getVar('TARGET_ARCH') or ''):
        return ''
    features = (d.getVar('TUNE_FEATURES') or '').split()
    for v in ('armv7', 'armv6', 'armv5'):
        if any(f.startswith(v) for f in features):
            return 'v' + v[-1]
    return ''

# Words quoted for the shell that runs a task: values from variables reach berth as
# the arguments they are, whatever characters they hold.
def berth_quote(words):
    import shlex
    return ' '.join(shlex.quote(w) for w in words)

# Runs berth with ARGS (a list: no shell), its output in the task's log; a failure
# fails the task with berth's own error line.
def berth_run(d, args):
    import subprocess
    bb.note('running ' + ' '.join(args))
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        bb.fatal('%s failed (exit %d): %s' % (' '.join(args[:3]), r.returncode, r.stdout.strip()))
    bb.note(r.stdout)
    return r.stdout
