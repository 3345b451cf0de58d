//! Containers that follow a registry tag (docs/fleet-updates.md), on podman, Docker,
//! LXC and runc: `install --follow` installs and keeps following; a new package the
//! tag names is installed by berthd's own check; one that fails its probation is
//! rolled back, refused and not tried again until `updates --retry`. A staged
//! rollout takes exactly the devices its draw picks, and `berth rollout` adds the
//! rest without uploading the package again.

use berth_e2e::cli::berth_ok;
use berth_e2e::daemon::{ctl, start_with, Daemon};
use berth_e2e::images::Registry;
use berth_e2e::install::{ctl_ok, status, wait_for};
use berth_e2e::subjects::Subject;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::Path;

/// Version 1 serves; version 2 exits 2 s after it starts.
const SERVES_THEN_EXITS: [&str; 2] = [
    "echo version {v}; sleep 1000 & wait",
    "echo version {v}; sleep 2; exit 3",
];

fn short_probation(m: &mut Value) {
    m["registration_defaults"]["probation"] = 5.into();
}

/// Checks every second, without jitter.
fn quick_checks(extra: Value) -> Value {
    let mut config = json!({"updates": {"interval": 1, "jitter": 0, "retry": 1}});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

fn uninstall_on_drop<'a>(d: &'a Daemon, id: &'a str) -> OnDrop<impl FnMut() + 'a> {
    OnDrop(move || {
        let _ = ctl(&d.socket, &["uninstall", id]);
    })
}

fn updates(d: &Daemon) -> Vec<Value> {
    serde_json::from_str(&ctl_ok(d, &["updates", "--json"])).unwrap()
}

fn push(package: &Path, tag: &str, extra: &[&str]) -> Value {
    let mut args = vec!["push", package.to_str().unwrap(), tag, "--json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&berth_ok(&args)).unwrap()
}

/// How many times berthd started installing `version` from its followed tag.
fn installs_of(dir: &Path, version: &str) -> usize {
    std::fs::read_to_string(dir.join("berthd.log"))
        .unwrap_or_default()
        .matches(&format!("names {version} ("))
        .count()
}

fn rolled_back_by_the_check_and_refused(dir: &Path, subject: &Subject) {
    let id = subject.id;
    let registry = Registry::start();
    let tag = format!("{}:stable", registry.image("fleet/app"));
    push(&subject.packages[0], &tag, &[]);
    let d = start_with(dir, quick_checks(json!({})));
    let _cleanup = uninstall_on_drop(&d, id);
    assert_eq!(
        ctl_ok(&d, &["install", &tag, "--follow"]),
        format!("installed {id} 1, running\n")
    );
    let listed = &updates(&d)[0];
    assert_eq!((&listed["id"], &listed["follow"]), (&json!(id), &json!(tag)));
    assert_eq!(listed["result"], "installed 1 by hand", "{listed}");
    let containers: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(containers[0]["follow"], json!(tag));

    // Version 2 on the tag: berthd's check installs it, its probation fails.
    let pushed = push(&subject.packages[1], &tag, &[]);
    let log = || std::fs::read_to_string(dir.join("berthd.log")).unwrap_or_default();
    wait_for("the rollback of version 2", || {
        status(&d, id)["rolled_back"]["from"] == "2"
    });
    let st = status(&d, id);
    assert_eq!((&st["version"], &st["running"]), (&json!("1"), &json!(true)), "{st}");
    let listed = &updates(&d)[0];
    let refused = listed["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{listed}");
    assert_eq!(refused[0]["version"], "2");
    assert_eq!(refused[0]["digest"], pushed["package_digest"]);
    assert!(
        listed["result"].as_str().unwrap().starts_with("rolled back 2: exited with code"),
        "{listed}"
    );
    // Checked again and again, never installed again.
    let seen_at = listed["last_check"].clone();
    wait_for("two more checks", || {
        let u = &updates(&d)[0];
        u["last_check"] != seen_at && u["failures"] == 0
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(installs_of(dir, "2"), 1, "{}", log());
    assert_eq!(status(&d, id)["version"], "1");
    let text = ctl_ok(&d, &["updates"]);
    assert!(text.contains(&format!("{id} 1 follows {tag}")), "{text}");
    assert!(text.contains("refused 2 (sha256:"), "{text}");

    // Asked to, berthd tries it again (and rolls it back again).
    let retried: Value = serde_json::from_str(&ctl_ok(&d, &["updates", "--retry", id, "--json"])).unwrap();
    assert_eq!(retried[0]["refused"], json!([]), "{retried}");
    let first = status(&d, id)["rolled_back"]["at"].clone();
    wait_for("the second rollback of version 2", || {
        installs_of(dir, "2") == 2 && updates(&d)[0]["refused"].as_array().unwrap().len() == 1
    });
    assert_eq!(status(&d, id)["version"], "1", "{first}");

    // Not following any more: nothing is checked, nothing is listed.
    assert_eq!(ctl_ok(&d, &["follow", id, "--off"]), format!("{id} follows no tag\n"));
    assert_eq!(updates(&d), Vec::<Value>::new());
    ctl_ok(&d, &["uninstall", id]);
    subject.check_runtime("uninstalled", dir, None);
}

#[test]
fn podman_a_followed_tag_is_installed_rolled_back_and_refused() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::podman_running(dir.path(), "berth-e2e-follow", short_probation, &SERVES_THEN_EXITS);
    rolled_back_by_the_check_and_refused(dir.path(), &s);
}

#[test]
fn docker_a_followed_tag_is_installed_rolled_back_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::docker_running(
        dir.path(),
        "berth-e2e-follow-docker",
        short_probation,
        &SERVES_THEN_EXITS,
    );
    rolled_back_by_the_check_and_refused(dir.path(), &s);
}

#[test]
fn lxc_a_followed_tag_is_installed_rolled_back_and_refused() {
    require(&["lxc-start"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::lxc_running(dir.path(), "berth-e2e-follow-lxc", short_probation, &SERVES_THEN_EXITS);
    rolled_back_by_the_check_and_refused(dir.path(), &s);
}

#[test]
fn runc_a_followed_tag_is_installed_rolled_back_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::runc_running(dir.path(), "berth-e2e-follow-runc", short_probation, &SERVES_THEN_EXITS);
    rolled_back_by_the_check_and_refused(dir.path(), &s);
}
