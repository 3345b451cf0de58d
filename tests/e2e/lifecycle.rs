//! One life cycle, generic over the runtime: install, run, logs, stats, a crash
//! restarted by policy, config set, upgrade, uninstall, and nothing left behind. The
//! next runtime adds a line at the bottom (and its `Subject` constructor).

use crate::daemon::start;
use crate::install::{assert_no_scratch_files, ctl_ok, status, wait_for};
use crate::subjects::Subject;
use berth_e2e::*;
use serde_json::Value;
use std::path::Path;

/// Restart on crash, at once, within a small budget.
fn quick_restarts(m: &mut Value) {
    m["registration_defaults"]["restart"] =
        serde_json::json!({"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 0});
}

fn life_cycle(dir: &Path, subject: Subject) {
    let id = subject.id;
    let d = start(dir);
    let pkg = |i: usize| subject.packages[i].to_str().unwrap();

    // Install: running, in the runtime it was packed for.
    assert_eq!(
        ctl_ok(&d, &["install", pkg(0)]),
        format!("installed {id} 1, running\n")
    );
    let st = status(&d, id);
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["runtime"], subject.runtime_name());
    subject.check_runtime("installed", dir, Some("1"));

    // Logs: what the container wrote.
    wait_for("version 1 in the logs", || {
        ctl_ok(&d, &["logs", id]).contains("version 1\n")
    });

    // Statistics of the running container.
    let stats: Value = serde_json::from_str(&ctl_ok(&d, &["stats", id, "--json"])).unwrap();
    assert!(stats["memory_bytes"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["pids"].as_u64().is_some(), "{stats}");

    // A crash: restarted by the policy, counted.
    let pid = status(&d, id)["pid"].clone();
    subject.crash(dir);
    wait_for("the restart after the crash", || {
        let st = status(&d, id);
        st["running"] == true && st["restart_count"] == 1 && st["pid"] != pid
    });

    // config set: saved, and read back.
    ctl_ok(&d, &["config", "set", id, "restart.max_retries", "5"]);
    assert_eq!(
        ctl_ok(&d, &["config", "get", id, "restart.max_retries"]).trim(),
        "5"
    );

    // Upgrade: the new version runs, the old one is gone from the runtime.
    assert_eq!(
        ctl_ok(&d, &["install", pkg(1)]),
        format!("installed {id} 2 (replaced 1), running\n")
    );
    assert_eq!(status(&d, id)["status"], "running");
    subject.check_runtime("upgraded", dir, Some("2"));
    wait_for("version 2 in the logs", || {
        ctl_ok(&d, &["logs", id]).contains("version 2\n")
    });
    let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(list[0]["version"], "2");

    // Uninstall: nothing left, in the runtime or under the working path.
    assert_eq!(
        ctl_ok(&d, &["uninstall", id]),
        format!("uninstalled {id}\n")
    );
    let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(list, serde_json::json!([]));
    subject.check_runtime("uninstalled", dir, None);
    assert_no_scratch_files(dir, id);
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("work/state.json")).unwrap()).unwrap();
    assert!(state["containers"].get(id).is_none(), "{state}");
    let logs = dir.join("work/logs");
    let left: Vec<_> = std::fs::read_dir(&logs)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(id))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "log files left: {left:?}");
}

#[test]
fn the_life_cycle_on_podman() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let subject = Subject::podman(dir.path(), "berth-e2e-cycle", quick_restarts);
    life_cycle(dir.path(), subject);
}

#[test]
fn the_life_cycle_on_lxc() {
    require(&["lxc-start", "lxc-info", "lxc-monitor"]);
    let dir = tempfile::tempdir().unwrap();
    let subject = Subject::lxc(dir.path(), "berth-e2e-cycle-lxc", quick_restarts);
    life_cycle(dir.path(), subject);
}

#[test]
fn the_life_cycle_on_docker() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Subject::docker(dir.path(), "berth-e2e-cycle-docker", quick_restarts);
    life_cycle(dir.path(), subject);
}

#[test]
fn the_life_cycle_on_runc() {
    let dir = tempfile::tempdir().unwrap();
    let subject = Subject::runc(dir.path(), "berth-e2e-cycle-runc", quick_restarts);
    life_cycle(dir.path(), subject);
}
