//! Keys and signed packages.

use crate::cli::{berth_ok, source_layout};
use crate::install::manifest;
use crate::*;
use serde_json::json;
use std::path::{Path, PathBuf};

/// `berth keygen` of `dir/name`: (secret key, public key).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    berth_ok(&["keygen", "--out", dir.join(name).to_str().unwrap()]);
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// A signed package of a busybox image running `command`, as `id` `version`.
pub fn signed_package(dir: &Path, key: &Path, id: &str, version: &str, command: &str) -> PathBuf {
    let tag = format!("localhost/{id}:{version}");
    let image = TestImage::build(dir, &tag, command);
    let tar = dir.join(format!("{id}-{version}.tar"));
    image.save("docker-archive", &tar);
    image.remove();
    let m = dir.join(format!("{id}-{version}.json"));
    write_manifest(&m, &manifest(id, version, &tag, true));
    let out = dir.join(format!("out-{id}-{version}-{}", sha256_hex(&tar)));
    crate::cli::berth_pack(&m, &tar, &out, &["--sign", key.to_str().unwrap()])
}

/// A signed podman package of a small image made by code; (package, public key).
pub fn signed_app_package(dir: &Path) -> (PathBuf, PathBuf) {
    let (src, _) = source_layout(dir);
    let payload = dir.join("payload.tar");
    berth_ok(&[
        "image",
        "copy",
        "--quiet",
        &src,
        &format!("docker-archive:{}:localhost/app:1", payload.display()),
    ]);
    let manifest = dir.join("manifest.json");
    write_manifest(
        &manifest,
        &json!({"package_id": "app", "version": "1.2", "runtime": "podman",
        "create_args": "localhost/app:1", "device_types": ["any"],
        "registration_defaults": {"autostart": true, "monitor": true,
            "restart": {"enabled": false, "max_retries": 0, "window": 1, "retry_delay": 0}}}),
    );
    let key = dir.join("release");
    berth_ok(&["keygen", "--out", &key.display().to_string()]);
    let secret = format!("{}.key", key.display());
    (
        crate::cli::berth_pack(&manifest, &payload, &dir.join("pkg"), &["--sign", &secret]),
        PathBuf::from(format!("{}.pub", key.display())),
    )
}
