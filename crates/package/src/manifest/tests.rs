//! The manifest's unit tests.

use super::*;
use serde_json::{json, Value};

fn podman() -> Value {
    json!({
        "package_id": "demo",
        "version": "1.0.0",
        "runtime": "podman",
        "create_args": "--name demo localhost/demo:1",
        "registration_defaults": {
            "autostart": true, "monitor": true,
            "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}
        },
        "device_types": ["ccmp25-dvk"]
    })
}

fn issues(v: Value, stage: Stage) -> Vec<String> {
    match Manifest::from_value(v, stage) {
        Ok(_) => vec![],
        Err(e) => e.to_string().lines().map(String::from).collect(),
    }
}

#[test]
fn accepts_old_generation_with_package_id() {
    let m = Manifest::from_value(podman(), Stage::Source).unwrap();
    assert_eq!(m.effective_package_id(1), "demo");
    assert_eq!(m.runtime, RuntimeKind::Podman);
    assert_eq!(m.registration_defaults.restart.window, 60);
}

#[test]
fn derives_package_id_from_name_in_new_generation() {
    let mut v = podman();
    v.as_object_mut().unwrap().remove("package_id");
    v["name"] = json!("flutter-demo");
    let m = Manifest::from_value(v, Stage::Source).unwrap();
    assert_eq!(
        m.effective_package_id(1_700_000_000_000),
        format!("flutter-demo-{}", base36(1_700_000_000_000))
    );
    assert_eq!(base36(1_700_000_000_000), "loyw3v28");
}

#[test]
fn window_zero_is_named_with_its_rule() {
    let mut v = podman();
    v["registration_defaults"]["restart"]["window"] = json!(0);
    assert_eq!(
        issues(v, Stage::Source),
        ["manifest: registration_defaults.restart.window must be an integer >= 1, got 0"]
    );
}

#[test]
fn booleans_are_not_integers_and_integers_are_not_booleans() {
    let mut v = podman();
    v["registration_defaults"]["restart"]["max_retries"] = json!(true);
    v["registration_defaults"]["autostart"] = json!(1);
    let got = issues(v, Stage::Source);
    assert_eq!(
        got,
        [
            "manifest: registration_defaults.autostart must be a boolean, got number 1",
            "manifest: registration_defaults.restart.max_retries must be an integer >= 0, got boolean true",
        ]
    );
}

#[test]
fn reports_every_error_not_just_the_first() {
    let v = json!({"runtime": "rkt", "device_types": [], "version": 3});
    let got = issues(v, Stage::Source);
    assert!(got.len() >= 4, "{got:?}");
    assert!(got.iter().any(
        |l| l.contains("runtime must be one of podman, docker, lxc, runc, got string \"rkt\"")
    ));
    assert!(got
        .iter()
        .any(|l| l.contains("device_types must be a non-empty list")));
    assert!(got
        .iter()
        .any(|l| l.contains("version must be a string, got number 3")));
    assert!(got
        .iter()
        .any(|l| l.contains("registration_defaults is required")));
}

#[test]
fn create_args_is_refused_for_lxc_and_required_for_podman() {
    let mut v = podman();
    v["runtime"] = json!("lxc");
    assert_eq!(
        issues(v, Stage::Source),
        ["manifest: create_args is not allowed for runtime lxc (the bundle's config is its own)"]
    );
    let mut v = podman();
    v.as_object_mut().unwrap().remove("create_args");
    assert_eq!(
        issues(v, Stage::Source),
        ["manifest: create_args is required"]
    );
}

#[test]
fn path_like_ids_are_refused() {
    for bad in ["../etc", "/abs", "a/b", ".hidden", ""] {
        let mut v = podman();
        v["package_id"] = json!(bad);
        assert_eq!(issues(v, Stage::Source).len(), 1, "{bad}");
        let mut v = podman();
        v["device_types"] = json!([bad]);
        assert_eq!(issues(v, Stage::Source).len(), 1, "{bad}");
    }
}

#[test]
fn packaged_manifests_need_generated_fields() {
    let got = issues(podman(), Stage::Packaged);
    for field in ["digest", "size_bytes", "created_at", "artifact_type"] {
        assert!(got.iter().any(|l| l.contains(field)), "{field} in {got:?}");
    }
}

#[test]
fn created_at_round_trips() {
    let s = format_created_at(1_700_000_000_123);
    assert_eq!(s, "2023-11-14T22:13:20.123Z");
    assert_eq!(parse_created_at(&s), Some(1_700_000_000_123));
}

#[test]
fn non_object_manifest_is_one_clear_line() {
    assert_eq!(
        issues(json!([1, 2]), Stage::Source),
        ["manifest: must be a JSON object, got an array"]
    );
}

#[test]
fn firmware_versions_is_parsed_and_a_broken_range_is_named() {
    let mut v = podman();
    v["firmware_versions"] = json!(">=2.1, <3");
    let m = Manifest::from_value(v.clone(), Stage::Source).unwrap();
    assert!(m.firmware_versions.includes("2.4") && !m.firmware_versions.includes("3.0"));
    v["firmware_versions"] = json!("2.1, <3");
    assert_eq!(
        issues(v, Stage::Source),
        ["manifest: firmware_versions mixes exact versions and comparisons (use a list of versions, or comparisons that all hold)"]
    );
}
