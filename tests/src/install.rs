//! Packages for berthd and what an install leaves: podman images and containers.

use crate::daemon::{ctl, Daemon};
use crate::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

pub fn manifest(id: &str, version: &str, create_args: &str, autostart: bool) -> Value {
    json!({
        "package_id": id, "version": version, "runtime": "podman",
        "create_args": create_args,
        "registration_defaults": {"autostart": autostart, "monitor": true,
            "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}},
        "device_types": ["e2e"]
    })
}

/// `berth pack` of `image_tar` with `manifest`; returns the package's path.
pub fn pack(dir: &Path, manifest: &Value, image_tar: &Path) -> PathBuf {
    let id = manifest["package_id"].as_str().unwrap();
    let version = manifest["version"].as_str().unwrap();
    let m = dir.join(format!("{id}-{version}.json"));
    write_manifest(&m, manifest);
    let out = dir.join(format!("out-{id}-{version}"));
    crate::cli::berth_pack(&m, image_tar, &out, &[])
}

pub fn ctl_ok(d: &Daemon, args: &[&str]) -> String {
    let out = ctl(&d.socket, args);
    assert!(
        out.status.success(),
        "berthctl {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn status(d: &Daemon, id: &str) -> Value {
    serde_json::from_str(&ctl_ok(d, &["status", id, "--json"])).unwrap()
}

pub fn exists(kind: &str, name: &str) -> bool {
    run(&mut cmd("podman", &[kind, "exists", name]))
        .status
        .success()
}

/// A failed install left nothing: no entry, container, image or scratch file.
pub fn assert_nothing_left(d: &Daemon, dir: &Path, id: &str, tag: &str) {
    let list: Value = serde_json::from_str(&ctl_ok(d, &["list", "--json"])).unwrap();
    assert!(
        list.as_array().unwrap().iter().all(|c| c["id"] != id),
        "{list}"
    );
    assert!(!exists("container", id), "container {id} left behind");
    assert!(!exists("image", tag), "image {tag} left behind");
    assert_no_scratch_files(dir, id);
    assert_no_transient_images(id, id);
}

/// The install scratch space under `<dir>/work/staging` is empty.
pub fn assert_no_scratch_files(dir: &Path, context: &str) {
    let left: Vec<_> = std::fs::read_dir(dir.join("work/staging"))
        .map(|r| r.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{context}: scratch files left: {left:?}");
}

/// No podman image keeps a transient name of an install of `id`.
pub fn assert_no_transient_images(id: &str, context: &str) {
    assert_no_transient_images_in("podman", id, context)
}

/// The names (`REPOSITORY:TAG`) of every image of `engine` (podman, docker). podman's
/// image listing can fail while another process removes an image ("retrieving label
/// for image ... image not known": podman's storage races, not berth's): asked again.
pub fn image_names(engine: &str) -> Vec<String> {
    for _ in 0..10 {
        let out = run(&mut cmd(
            engine,
            &["images", "-a", "--format", "{{.Repository}}:{{.Tag}}"],
        ));
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(String::from)
                .collect();
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("{engine} images keeps failing");
}

/// No image of `engine` (podman, docker) keeps a transient name of an install of `id`.
pub fn assert_no_transient_images_in(engine: &str, id: &str, context: &str) {
    let images = image_names(engine);
    assert!(
        !images
            .iter()
            .any(|l| l.contains("/berth-load/") && l.contains(&format!("-{id}/"))),
        "{context}: transient images left: {images:?}"
    );
}

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn remove_container(id: &str) {
    let _ = run(&mut cmd("podman", &["rm", "-f", id]));
}

pub fn refused(out: &Output, code: i32, reason: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(reason), "expected {reason:?} in: {err}");
    assert_eq!(err.lines().count(), 1, "one error line: {err}");
}
