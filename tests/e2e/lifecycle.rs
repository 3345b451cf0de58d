//! One life cycle, generic over the runtime: install, run, logs, stats, a crash
//! restarted by policy, config set, an upgrade that passes its probation, a rollback
//! by hand, uninstall, and nothing left behind. The next runtime adds a line at the
//! bottom (and its `Subject` constructor).

use berth_e2e::daemon::start;
use berth_e2e::install::{assert_no_scratch_files, ctl_ok, status, wait_for};
use berth_e2e::subjects::Subject;
use berth_e2e::*;
use serde_json::Value;
use std::path::Path;

/// Restart on crash, at once, within a small budget; upgrades on probation for 3 s.
fn quick_restarts(m: &mut Value) {
    m["registration_defaults"]["restart"] =
        serde_json::json!({"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 0});
    m["registration_defaults"]["probation"] = 3.into();
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

    // Upgrade: berthctl waits out its probation; the new version runs, the old one
    // is kept stopped for a rollback.
    assert_eq!(
        ctl_ok(&d, &["install", pkg(1)]),
        format!("installed {id} 2 (replaced 1), running, passed its probation\n")
    );
    let st = status(&d, id);
    assert_eq!(st["status"], "running");
    assert_eq!(st["previous_version"], "1", "{st}");
    let info: Value = serde_json::from_str(&ctl_ok(&d, &["info", "--json"])).unwrap();
    assert_eq!(info["previous"][0]["version"], "1", "{info}");
    assert!(info["previous"][0]["bytes"].as_u64().unwrap() > 0, "{info}");
    assert!(ctl_ok(&d, &["info"]).contains(&format!("kept for rollback:\n  {id} 1 (")));
    assert!(st.get("probation_until").is_none(), "{st}");
    subject.check_runtime("upgraded", dir, Some("2"));
    wait_for("version 2 in the logs", || {
        ctl_ok(&d, &["logs", id]).contains("version 2\n")
    });
    let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(list[0]["version"], "2");

    // Rollback by hand: version 1 runs again, version 2 is gone.
    assert_eq!(
        ctl_ok(&d, &["rollback", id]),
        format!("rolled {id} back from 2 to 1, running\n")
    );
    let st = status(&d, id);
    assert_eq!(
        (&st["version"], &st["status"]),
        (&"1".into(), &"running".into()),
        "{st}"
    );
    assert_eq!(st["rolled_back"]["from"], "2", "{st}");
    subject.check_runtime("rolled back", dir, Some("1"));
    let out = berth_e2e::daemon::ctl(&d.socket, &["rollback", id]);
    berth_e2e::install::refused(&out, 2, "no previous version is kept");
    // Upgraded again, with --no-wait: back at once, the probation still under way.
    let out = ctl_ok(&d, &["install", "--no-wait", pkg(1)]);
    assert_eq!(
        out,
        format!("installed {id} 2 (replaced 1), running, on probation\n")
    );
    wait_for("the probation's end", || {
        status(&d, id).get("probation_until").is_none()
    });
    assert_eq!(status(&d, id)["version"], "2");

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

/// An upgrade to a version that cannot start fails (exit 1) and changes nothing: the
/// old version is registered, running, and all the runtime holds.
fn failed_upgrade(dir: &Path, subject: Subject, broken: &Path) {
    let id = subject.id;
    let d = start(dir);
    ctl_ok(&d, &["install", subject.packages[0].to_str().unwrap()]);
    let out = berth_e2e::daemon::ctl(&d.socket, &["install", broken.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = status(&d, id);
    assert_eq!(st["running"], true, "{st}");
    let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(list[0]["version"], "1");
    subject.check_runtime("after the failed upgrade", dir, Some("1"));
    ctl_ok(&d, &["uninstall", id]);
    subject.check_runtime("uninstalled", dir, None);
}

#[test]
fn a_failed_upgrade_on_docker_leaves_the_old_version_running() {
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-fail-docker";
    let subject = Subject::docker(dir.path(), id, quick_restarts);
    // Version 2's image, with a command that does not exist: docker start fails.
    let mut m =
        berth_e2e::install::manifest(id, "3", &format!("localhost/{id}:2 /no/such/program"), true);
    m["runtime"] = "docker".into();
    let broken = berth_e2e::install::pack(dir.path(), &m, &dir.path().join("v2.tar"));
    failed_upgrade(dir.path(), subject, &broken);
}

#[test]
fn a_failed_upgrade_on_runc_leaves_the_old_version_running() {
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-fail-runc";
    let subject = Subject::runc(dir.path(), id, quick_restarts);
    // A bundle whose command does not exist: runc run fails.
    let bundle =
        berth_e2e::subjects::oci_bundle_running(&dir.path().join("3"), id, &["/no/such/program"]);
    let mut m = berth_e2e::lxc::lxc_manifest(id);
    m["runtime"] = "runc".into();
    m["version"] = "3".into();
    let broken = berth_e2e::install::pack(dir.path(), &m, &bundle);
    failed_upgrade(dir.path(), subject, &broken);
}
