//! The berth binary as the tests run it.

use crate::images::*;
use crate::*;
use berth_image::{Digest, Layout};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn berth(args: &[&str]) -> Output {
    run(Command::new(berth_bin()).args(args))
}

pub fn berth_ok(args: &[&str]) -> String {
    ok(Command::new(berth_bin()).args(args))
}

/// A two-layer busybox image tagged `v1` in a new layout `dir/src`; its digest.
pub fn source_layout(dir: &Path) -> (String, Digest) {
    let layout = Layout::create(&dir.join("src")).unwrap();
    let layers = busybox_layers(dir);
    let run = json!({"Cmd": ["/app/run.sh"], "Env": ["APP=1"], "WorkingDir": "/app", "Labels": {"org.example": "yes"}});
    let (digest, size) = put_image(&layout, &layers, true, "amd64", None, run);
    tag_manifest(&layout, "v1", &digest, size);
    (format!("oci:{}:v1", dir.join("src").display()), digest)
}

/// `berth pack --manifest MANIFEST --payload PAYLOAD --output-dir OUT EXTRA...`; the
/// path of the package it wrote (what it prints).
pub fn berth_pack(manifest: &Path, payload: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let mut args = vec![
        "pack",
        "--manifest",
        manifest.to_str().unwrap(),
        "--payload",
        payload.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    PathBuf::from(berth_ok(&args).trim())
}
