//! Compatibility: a package whose `device_types` or `firmware_versions` leave out the
//! device berthd's configuration describes is refused before its payload is read;
//! one that fits installs; a malformed range is refused at pack time.

use berth_e2e::cli::berth;
use berth_e2e::daemon::{ctl, start_with};
use berth_e2e::install::{
    assert_no_scratch_files, ctl_ok, exists, manifest, pack, refused, status,
};
use berth_e2e::*;
use serde_json::json;

/// A refused install registered nothing and created nothing (the test's own image
/// stays: it is the payload's source).
fn assert_not_installed(d: &berth_e2e::daemon::Daemon, dir: &std::path::Path, id: &str) {
    assert_eq!(ctl_ok(d, &["list", "--json"]).trim(), "[]");
    assert!(!exists("container", id));
    assert_no_scratch_files(dir, id);
}

#[test]
fn packages_for_another_device_type_or_firmware_are_refused_and_a_fitting_one_installs() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-compat";
    let tag = "localhost/berth-e2e-compat:1";
    let image = TestImage::build(dir.path(), tag, SERVE);
    let image_tar = dir.path().join("image.tar");
    image.save("docker-archive", &image_tar);
    let d = start_with(
        dir.path(),
        json!({"device": {"id": "gw-0042", "type": "ccimx93-dvk", "firmware_version": "2.4.1"}}),
    );

    let mut other_type = manifest(id, "1", "--tty", true);
    other_type["device_types"] = json!(["ccmp25-dvk"]);
    let pkg = pack(dir.path(), &other_type, &image_tar);
    refused(
        &ctl(&d.socket, &["install", pkg.to_str().unwrap()]),
        2,
        "device_types [ccmp25-dvk] does not list this device's type ccimx93-dvk",
    );
    assert_not_installed(&d, dir.path(), id);

    let mut other_firmware = manifest(id, "2", "--tty", true);
    other_firmware["device_types"] = json!(["ccmp25-dvk", "ccimx93-dvk"]);
    other_firmware["firmware_versions"] = json!(">=3, <4");
    let pkg = pack(dir.path(), &other_firmware, &image_tar);
    refused(
        &ctl(&d.socket, &["install", pkg.to_str().unwrap()]),
        2,
        "firmware_versions \">=3, <4\" does not include this device's firmware 2.4.1",
    );
    assert_not_installed(&d, dir.path(), id);

    let mut fits = other_firmware.clone();
    fits["version"] = json!("3");
    fits["firmware_versions"] = json!(">=2.1, <3");
    let pkg = pack(dir.path(), &fits, &image_tar);
    ctl_ok(&d, &["install", pkg.to_str().unwrap()]);
    assert_eq!(status(&d, id)["status"], "running");
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn pack_refuses_a_firmware_range_that_breaks_the_syntax() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = manifest("berth-e2e-range", "1", "--tty", true);
    m["firmware_versions"] = json!("2.1, >=3");
    let path = dir.path().join("manifest.json");
    write_manifest(&path, &m);
    let payload = dir.path().join("payload.tar");
    std::fs::write(&payload, b"").unwrap();
    let out = berth(&[
        "pack",
        "--manifest",
        path.to_str().unwrap(),
        "--payload",
        payload.to_str().unwrap(),
        "--output-dir",
        dir.path().join("out").to_str().unwrap(),
    ]);
    refused(
        &out,
        2,
        "firmware_versions mixes exact versions and comparisons",
    );
    assert!(!dir.path().join("out").exists());
}

/// The refusal comes before any runtime's work: the same on every runtime.
fn refused_for_another_device_type(dir: &std::path::Path, subject: &berth_e2e::subjects::Subject) {
    let d = start_with(dir, json!({"device": {"type": "ccimx93-dvk"}}));
    refused(
        &ctl(
            &d.socket,
            &["install", subject.packages[0].to_str().unwrap()],
        ),
        2,
        "device_types [e2e] does not list this device's type ccimx93-dvk",
    );
    assert_eq!(ctl_ok(&d, &["list", "--json"]).trim(), "[]");
    subject.check_runtime("refused", dir, None);
}

fn no_policy(_: &mut serde_json::Value) {}

#[test]
fn docker_lxc_and_runc_packages_for_another_device_type_are_refused() {
    require(&["lxc-start", "runc"]);
    use berth_e2e::subjects::Subject;
    for make in [Subject::docker, Subject::lxc, Subject::runc] {
        let dir = tempfile::tempdir().unwrap();
        let subject = make(dir.path(), "berth-e2e-compat-rt", no_policy);
        refused_for_another_device_type(dir.path(), &subject);
    }
}
