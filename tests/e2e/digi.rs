//! Digi's manifests as Digi documents and writes them: `create_args` holds podman
//! options only and the manager supplies the payload's image.

use berth_e2e::daemon::start;
use berth_e2e::install::{ctl_ok, exists, status};
use berth_e2e::*;
use std::path::{Path, PathBuf};

/// The example manifest of Digi's DCP documentation ("Create a DCP"), byte for byte.
const DIGI_EXAMPLE: &str = r#"{
  "package_id": "redis-demo",
  "friendly_name": "Redis Demo",
  "version": "1.0",
  "runtime": "podman",
  "create_args": "--privileged --network host --tty",
  "registration_defaults": {
    "autostart": true,
    "monitor": true,
    "restart": {
      "enabled": true,
      "max_retries": 3,
      "window": 60,
      "retry_delay": 3
    }
  },
  "device_types": ["ccmp25-dvk"],
  "firmware_versions": "",
  "build_id": "",
  "description": "Redis demo image from docker.io",
  "labels": {}
}
"#;

fn inspect(id: &str, format: &str) -> String {
    ok(cmd("podman", &["inspect", "--format", format, id]))
        .trim()
        .to_string()
}

/// `berth pack` of `manifest_text`, written to manifest.json as it is, with a
/// payload from `podman save`.
fn digi_package(dir: &Path, manifest_text: &str, image: &TestImage) -> PathBuf {
    let image_tar = dir.join("image.tar");
    image.save("docker-archive", &image_tar);
    let manifest = dir.join("manifest.json");
    std::fs::write(&manifest, manifest_text).unwrap();
    berth_e2e::cli::berth_pack(&manifest, &image_tar, &dir.join("out"), &[])
}

#[test]
fn digis_documented_manifest_installs_and_runs_with_its_options() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "redis-demo";
    let image = TestImage::build(dir.path(), "localhost/redis-demo:1.0", SERVE);
    // pack reads the manifest from a file: the documented text is that file.
    let pkg = digi_package(dir.path(), DIGI_EXAMPLE, &image);
    let d = start(dir.path());
    let out = ctl_ok(&d, &["install", pkg.to_str().unwrap()]);
    assert!(out.contains("installed redis-demo 1.0"), "{out}");
    assert_eq!(status(&d, id)["status"], "running");
    assert_eq!(inspect(id, "{{.HostConfig.Privileged}}"), "true");
    assert_eq!(inspect(id, "{{.HostConfig.NetworkMode}}"), "host");
    assert_eq!(inspect(id, "{{.Config.Tty}}"), "true");
    assert_eq!(inspect(id, "{{.ImageName}}"), "localhost/redis-demo:1.0");
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn digis_recipe_entrypoint_form_runs_the_entrypoint_with_the_payloads_image() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "digi-entrypoint";
    // The image's own command would exit at once: only the entrypoint keeps it up.
    let image = TestImage::build(dir.path(), "localhost/digi-entrypoint:1", "true");
    let manifest = serde_json::json!({
        "package_id": id, "friendly_name": "Entrypoint", "version": "1",
        "runtime": "podman",
        "create_args": r#"--privileged --network host --entrypoint '["/bin/sh","-c","echo from-entrypoint; sleep 300"]'"#,
        "registration_defaults": {"autostart": true, "monitor": true,
            "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 3}},
        "device_types": ["ccmp25-dvk"]
    });
    let pkg = digi_package(
        dir.path(),
        &serde_json::to_string_pretty(&manifest).unwrap(),
        &image,
    );
    let d = start(dir.path());
    ctl_ok(&d, &["install", pkg.to_str().unwrap()]);
    assert_eq!(status(&d, id)["status"], "running");
    // podman 4.3 shows the entrypoint joined into one string.
    let entrypoint = inspect(id, "{{json .Config.Entrypoint}}");
    assert!(
        entrypoint.contains("/bin/sh -c echo from-entrypoint; sleep 300")
            || entrypoint.contains(r#"["/bin/sh","-c","echo from-entrypoint; sleep 300"]"#),
        "{entrypoint}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let logs = ctl_ok(&d, &["logs", id]);
        if logs.contains("from-entrypoint") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "logs: {logs:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    ctl_ok(&d, &["uninstall", id]);
}

/// A working path as cc-containerd leaves it: `cc-containers.conf` in the schema Digi
/// documents, with `"version": 1` a number, and the container it registers created
/// by the manager (podman, named by the id).
const DIGI_WORKING_STATE: &str = r#"{
  "containers": [
    {
      "id": "digi-state",
      "friendly_name": "Digi state",
      "version": 1,
      "runtime": "podman",
      "create_args": "--privileged --network host --tty",
      "autostart": true,
      "monitor": true,
      "restart": {
        "enabled": true,
        "max_retries": 3,
        "window": 60,
        "retry_delay": 3
      }
    }
  ]
}
"#;

#[test]
fn digis_working_state_with_a_numeric_version_is_managed_where_it_is() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "digi-state";
    let image = TestImage::build(dir.path(), "localhost/digi-state:1", SERVE);
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let digis = work.join("cc-containers.conf");
    std::fs::write(&digis, DIGI_WORKING_STATE).unwrap();
    ok(cmd("podman", &["create", "--name", id, &image.tag]));
    let _cleanup = OnDrop(|| berth_e2e::install::remove_container(id));
    let d = start(dir.path());
    let listed: serde_json::Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    let entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed: {listed}"));
    assert_eq!(entry["version"], "1", "{entry}");
    ctl_ok(&d, &["start", id]);
    assert_eq!(status(&d, id)["status"], "running");
    ctl_ok(&d, &["config", "set", id, "restart.retry_delay", "5"]);
    // Written back to Digi's file, its version still the number Digi wrote.
    assert!(!work.join("containers.conf").exists());
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&digis).unwrap()).unwrap();
    assert_eq!(saved["containers"][0]["version"], serde_json::json!(1));
    assert_eq!(saved["containers"][0]["restart"]["retry_delay"], 5);
    ctl_ok(&d, &["uninstall", id]);
    assert!(!exists("container", id));
}
