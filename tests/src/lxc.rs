//! LXC bundles and their manifests.

use crate::*;
use serde_json::{json, Value};
use std::path::Path;

/// An LXC bundle made by code: busybox-static, an init script, a config with the
/// network mode this host supports (none: no lxcbr0 here), as a .tar.gz in one
/// top-level directory.
pub fn lxc_bundle(dir: &Path, id: &str, init: &str, net: &str) -> std::path::PathBuf {
    let top = dir.join(format!("bundle-{id}"));
    let rootfs = busybox_rootfs(&top);
    for d in ["proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::write(rootfs.join("init.sh"), format!("#!/bin/sh\n{init}\n")).unwrap();
    std::fs::write(
        top.join("config"),
        format!(
            "lxc.uts.name = {id}\n{net}\nlxc.init.cmd = /bin/sh /init.sh\nlxc.mount.auto = proc:mixed sys:ro\nlxc.rootfs.path = dir:/somewhere/else/rootfs\nlxc.start.auto = 1\n"
        ),
    )
    .unwrap();
    let out = dir.join(format!("{id}.tar.gz"));
    ok(cmd(
        "tar",
        &["-C", dir.to_str().unwrap(), "-czf", out.to_str().unwrap()],
    )
    .arg(format!("bundle-{id}")));
    out
}

pub fn lxc_manifest(id: &str) -> Value {
    json!({"package_id": id, "version": "1", "runtime": "lxc",
        "registration_defaults": {"autostart": true, "monitor": true,
            "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 0}},
        "device_types": ["e2e"]})
}
