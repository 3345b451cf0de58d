//! An upgrade's probation on podman, Docker, LXC and runc: a new version that exits
//! after 3 s, or runs but turns unhealthy, is rolled back — the old version runs
//! again, the new one is gone, `berthctl install` exits 1 naming the reason, and
//! `status` shows it. (One that passes, and a rollback by hand: tests/e2e/lifecycle.rs.)

use berth_e2e::daemon::{ctl, start, Daemon};
use berth_e2e::install::{ctl_ok, status};
use berth_e2e::subjects::Subject;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::Path;

/// Version 1 serves; version 2 says so and exits 3 s later.
const SERVES_THEN_EXITS: [&str; 2] = [
    "echo version {v}; sleep 1000 & wait",
    "echo version {v}; sleep 3; exit 3",
];

fn ten_seconds(m: &mut Value) {
    m["registration_defaults"]["probation"] = 10.into();
}

/// Probation 10 s; version 2's health check always fails.
fn v2_unhealthy(m: &mut Value) {
    ten_seconds(m);
    if m["version"] == "2" {
        m["registration_defaults"]["health"] = json!({
            "cmd": ["/bin/sh", "-c", "echo db unreachable >&2; exit 1"],
            "interval": 1, "retries": 2
        });
    }
}

const SERVICE: [&str; 2] = ["echo version {v}; sleep 1000 & wait"; 2];

fn uninstall_on_drop<'a>(d: &'a Daemon, id: &'a str) -> OnDrop<impl FnMut() + 'a> {
    OnDrop(move || {
        let _ = ctl(&d.socket, &["uninstall", id]);
    })
}

/// Installs version 1, then version 2, which must be rolled back for `reason`.
fn rolled_back(dir: &Path, subject: &Subject, reason: &str) {
    let id = subject.id;
    let d = start(dir);
    let _cleanup = uninstall_on_drop(&d, id);
    ctl_ok(&d, &["install", subject.packages[0].to_str().unwrap()]);
    let out = ctl(
        &d.socket,
        &["install", subject.packages[1].to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let log = || std::fs::read_to_string(dir.join("berthd.log")).unwrap_or_default();
    assert_eq!(out.status.code(), Some(1), "{err}\nberthd.log:\n{}", log());
    assert!(
        err.contains(&format!("{id} 2 was rolled back to 1: {reason}")),
        "{err}"
    );
    let st = status(&d, id);
    assert_eq!(
        (&st["version"], &st["running"]),
        (&json!("1"), &json!(true)),
        "{st}\nberthd.log:\n{}",
        log()
    );
    assert_eq!(st["rolled_back"]["from"], "2", "{st}");
    assert!(
        st["rolled_back"]["reason"]
            .as_str()
            .unwrap()
            .contains(reason),
        "{st}"
    );
    assert!(ctl_ok(&d, &["status", id]).contains("rolled back from 2"));
    // The new version is gone once the install reported the rollback (berthd shows
    // a rollback when its removal is done); nothing is kept (the old one is current
    // again).
    subject.check_runtime("rolled back", dir, Some("1"));
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("work/state.json")).unwrap()).unwrap();
    assert_eq!(state["containers"][id]["rolled_back"]["from"], "2");
    let log = log();
    assert!(
        log.contains(&format!("{id}: rolled back from 2 to 1: {reason}")),
        "{log}"
    );
    ctl_ok(&d, &["uninstall", id]);
    subject.check_runtime("uninstalled", dir, None);
}

const EXITED: &str = "exited with code";
const UNHEALTHY: &str =
    "unhealthy after 2 failed checks: exit code 1: db unreachable during its probation";

#[test]
fn podman_an_upgrade_that_exits_during_its_probation_is_rolled_back() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::podman_running(
        dir.path(),
        "berth-e2e-prob",
        ten_seconds,
        &SERVES_THEN_EXITS,
    );
    rolled_back(dir.path(), &s, EXITED);
}

#[test]
fn docker_an_upgrade_that_exits_during_its_probation_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::docker_running(
        dir.path(),
        "berth-e2e-prob-docker",
        ten_seconds,
        &SERVES_THEN_EXITS,
    );
    rolled_back(dir.path(), &s, EXITED);
}

#[test]
fn lxc_an_upgrade_that_exits_during_its_probation_is_rolled_back() {
    require(&["lxc-start"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::lxc_running(
        dir.path(),
        "berth-e2e-prob-lxc",
        ten_seconds,
        &SERVES_THEN_EXITS,
    );
    rolled_back(dir.path(), &s, EXITED);
}

#[test]
fn runc_an_upgrade_that_exits_during_its_probation_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::runc_running(
        dir.path(),
        "berth-e2e-prob-runc",
        ten_seconds,
        &SERVES_THEN_EXITS,
    );
    rolled_back(dir.path(), &s, EXITED);
}

#[test]
fn podman_an_upgrade_that_turns_unhealthy_during_its_probation_is_rolled_back() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::podman_running(dir.path(), "berth-e2e-sick", v2_unhealthy, &SERVICE);
    rolled_back(dir.path(), &s, UNHEALTHY);
}

#[test]
fn docker_an_upgrade_that_turns_unhealthy_during_its_probation_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::docker_running(dir.path(), "berth-e2e-sick-docker", v2_unhealthy, &SERVICE);
    rolled_back(dir.path(), &s, UNHEALTHY);
}

#[test]
fn lxc_an_upgrade_that_turns_unhealthy_during_its_probation_is_rolled_back() {
    require(&["lxc-start"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::lxc_running(dir.path(), "berth-e2e-sick-lxc", v2_unhealthy, &SERVICE);
    rolled_back(dir.path(), &s, UNHEALTHY);
}

#[test]
fn runc_an_upgrade_that_turns_unhealthy_during_its_probation_is_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::runc_running(dir.path(), "berth-e2e-sick-runc", v2_unhealthy, &SERVICE);
    rolled_back(dir.path(), &s, UNHEALTHY);
}
