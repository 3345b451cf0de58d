//! The restart policy with real containers that crash on purpose.

use berth_e2e::daemon::{start, Daemon};
use berth_e2e::install::{ctl_ok, manifest, pack, remove_container, status, wait_for};
use berth_e2e::lxc::*;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// Installs `id`, whose container runs `command`, with this restart policy.
fn install(d: &Daemon, dir: &Path, id: &str, command: &str, restart: Value) -> TestImage {
    remove_container(id);
    let image = TestImage::build(dir, &format!("localhost/{id}:1"), command);
    let tar = dir.join(format!("{id}.tar"));
    image.save("docker-archive", &tar);
    let mut m = manifest(id, "1", &image.tag, true);
    m["registration_defaults"]["restart"] = restart;
    let pkg = pack(dir, &m, &tar);
    ctl_ok(d, &["install", pkg.to_str().unwrap()]);
    image
}

fn runs(d: &Daemon, id: &str) -> usize {
    ctl_ok(d, &["logs", id]).matches("run of").count()
}

#[test]
fn a_crashing_container_is_restarted_exactly_max_retries_times_then_failed() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let id = "berth-e2e-crash3";
    let _image = install(
        &d,
        dir.path(),
        id,
        "echo run of crash3; sleep 1; exit 3",
        json!({"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}),
    );
    wait_for("status failed", || status(&d, id)["status"] == "failed");
    let st = status(&d, id);
    assert_eq!(st["restart_count"], 3, "{st}");
    assert_eq!(st["exit_code"], 3, "{st}");
    assert!(
        st["reason"]
            .as_str()
            .unwrap()
            .contains("3 restarts within 60s"),
        "{st}"
    );
    // The first run and three restarts; then nothing more.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(&d, id), 4);
    let text = ctl_ok(&d, &["status", id]);
    assert!(
        text.contains("failed") && text.contains("restart.max_retries 3"),
        "{text}"
    );

    // A manual start clears the history: the budget is full again.
    let started: Value = serde_json::from_str(&ctl_ok(&d, &["start", id, "--json"])).unwrap();
    assert_eq!(started["reason"], Value::Null, "{started}");
    wait_for("a restart after the manual start", || {
        status(&d, id)["restart_count"] == 1
    });
    ctl_ok(&d, &["uninstall", id]);
}

/// The restart history lives in state.json: a berthd killed and started again
/// neither hands a failed container a fresh budget nor forgets its restarts.
#[test]
fn the_restart_budget_survives_a_restart_of_berthd() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let mut d = start(dir.path());
    let id = "berth-e2e-budget";
    let _image = install(
        &d,
        dir.path(),
        id,
        "echo run of budget; sleep 1; exit 4",
        json!({"enabled": true, "max_retries": 2, "window": 300, "retry_delay": 0}),
    );
    wait_for("status failed", || status(&d, id)["status"] == "failed");
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("work/state.json")).unwrap())
            .unwrap();
    let record = &state["containers"][id];
    assert_eq!(
        record["restart_attempts"].as_array().map(Vec::len),
        Some(2),
        "{record}"
    );
    // The API says "failed" only once state.json holds it: a kill -9 now keeps it.
    assert!(
        record["failed_reason"]
            .as_str()
            .is_some_and(|r| r.contains("2 restarts within 300s")),
        "{record}"
    );

    d.child.kill().unwrap(); // SIGKILL
    d.child.wait().unwrap();
    let d = start(dir.path());
    let st = status(&d, id);
    assert_eq!(
        (st["status"].clone(), st["restart_count"].clone()),
        (json!("failed"), json!(2)),
        "{st}"
    );
    assert!(
        st["reason"]
            .as_str()
            .unwrap()
            .contains("2 restarts within 300s"),
        "{st}"
    );
    // Autostart does not start it: the budget is spent for the rest of the window.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(runs(&d, id), 3, "started again after berthd's restart");
    assert_eq!(status(&d, id)["running"], false);
    let log = std::fs::read_to_string(dir.path().join("berthd.log")).unwrap();
    assert!(log.contains(&format!("{id}: failed, not started")), "{log}");
    // A manual start clears the history, in state.json too.
    ctl_ok(&d, &["start", id]);
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("work/state.json")).unwrap())
            .unwrap();
    assert!(
        state["containers"][id].get("failed_reason").is_none(),
        "{state}"
    );
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn a_container_up_longer_than_the_window_earns_a_fresh_budget() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let id = "berth-e2e-fresh";
    // Up 4 s each time, window 2 s, one retry allowed: never two restarts in a window.
    let _image = install(
        &d,
        dir.path(),
        id,
        "echo run of fresh; sleep 4; exit 1",
        json!({"enabled": true, "max_retries": 1, "window": 2, "retry_delay": 0}),
    );
    wait_for("two restarts", || status(&d, id)["restart_count"] == 2);
    let st = status(&d, id);
    assert_ne!(st["status"], "failed", "{st}");
    assert_eq!(st["reason"], Value::Null);
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn restart_disabled_leaves_it_exited_with_its_code() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let id = "berth-e2e-norestart";
    let _image = install(
        &d,
        dir.path(),
        id,
        "echo run of norestart; exit 7",
        json!({"enabled": false, "max_retries": 3, "window": 60, "retry_delay": 0}),
    );
    wait_for("exited", || status(&d, id)["status"] == "exited");
    std::thread::sleep(Duration::from_secs(3));
    let st = status(&d, id);
    assert_eq!(
        (st["status"].clone(), st["exit_code"].clone()),
        (json!("exited"), json!(7))
    );
    assert_eq!(st["restart_count"], 0);
    assert_eq!(runs(&d, id), 1);
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn a_stop_through_berthctl_is_never_a_crash() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let id = "berth-e2e-stopnocrash";
    let _image = install(
        &d,
        dir.path(),
        id,
        "echo run of stopnocrash; sleep 1000",
        json!({"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 0}),
    );
    ctl_ok(&d, &["stop", id, "-t", "1"]);
    std::thread::sleep(Duration::from_secs(3));
    let st = status(&d, id);
    assert_eq!(st["running"], false, "{st}");
    assert_eq!(st["restart_count"], 0, "{st}");
    assert_eq!(runs(&d, id), 1);
    // And one killed behind berthd's back is a crash: restarted.
    ctl_ok(&d, &["start", id]);
    ok(&mut cmd("podman", &["kill", id]));
    wait_for("the restart of a killed container", || {
        status(&d, id)["restart_count"] == 1
    });
    wait_for("it runs again", || status(&d, id)["running"] == true);
    // One crash, one restart (a runtime reporting the exit twice changes nothing).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(status(&d, id)["restart_count"], 1);
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn the_monitor_tick_records_state_and_statistics_in_state_json() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path()); // monitor_interval 5 in the test config
    let id = "berth-e2e-monitor";
    let _image = install(
        &d,
        dir.path(),
        id,
        &format!("echo run of monitor; {SERVE}"),
        json!({"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 0}),
    );
    let state_of = || -> Value {
        std::fs::read(dir.path().join("work/state.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    };
    wait_for("a sample in state.json", || {
        state_of()["containers"][id]["sample"]["stats"]["pids"].as_u64() >= Some(1)
    });
    let sample = state_of()["containers"][id]["sample"].clone();
    assert_eq!(sample["status"], "running", "{sample}");
    assert!(sample["pid"].as_u64().is_some(), "{sample}");
    assert!(
        sample["stats"]["memory_bytes"].as_u64().unwrap() > 0,
        "{sample}"
    );
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn a_hung_runtime_command_is_killed_at_command_timeout_and_the_api_stays_responsive() {
    let dir = tempfile::tempdir().unwrap();
    // A podman stand-in that hangs on what asks about containers.
    let stub = dir.path().join("stub");
    std::fs::create_dir_all(&stub).unwrap();
    let pids = dir.path().join("pids");
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  inspect|start|stop|events) echo \"$1 $$\" >> {}; exec sleep 3600;;\n  ps) echo '[]';;\n  *) exit 1;;\nesac\n",
        pids.display()
    );
    std::fs::write(stub.join("podman"), script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(stub.join("podman"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    let conf = json!({"containers": [{"id": "hung", "version": "1", "runtime": "podman",
        "create_args": "img", "autostart": false, "monitor": false,
        "restart": {"enabled": false, "max_retries": 0, "retry_delay": 0, "window": 1}}]});
    std::fs::write(dir.path().join("work/containers.conf"), conf.to_string()).unwrap();
    let path = format!("{}:{}", stub.display(), std::env::var("PATH").unwrap());
    let d = berth_e2e::daemon::start_with_env(
        dir.path(),
        json!({"service": {"working_path": dir.path().join("work"), "command_timeout": 2, "monitor_interval": 60}}),
        &[("PATH", &path)],
    );
    std::thread::scope(|s| {
        let status = s.spawn(|| berth_e2e::daemon::ctl(&d.socket, &["status", "hung"]));
        std::thread::sleep(Duration::from_millis(300));
        // While the status call hangs, the API answers other requests.
        let info = berth_e2e::daemon::ctl(&d.socket, &["info"]);
        assert!(info.status.success());
        let list = berth_e2e::daemon::ctl(&d.socket, &["list", "--json"]);
        assert!(list.status.success());
        assert!(!status.is_finished(), "the hung call is still waiting");
        let out = status.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("no answer within 2s, killed") && err.contains("runtime_failed"),
            "{err}"
        );
    });
    // berthd's log says what happened: the start-up reconcile asked about `hung`
    // too, on a thread of its own that may finish after the API call did.
    let log_path = dir.path().join("berthd.log");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = std::fs::read_to_string(&log_path).unwrap();
        if log.contains("hung: podman inspect --type container: no answer within 2s, killed")
            || std::time::Instant::now() > deadline
        {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        log.contains("hung: podman inspect --type container: no answer within 2s, killed"),
        "{log}"
    );
    // Every hung inspect was killed (the event stream's command runs on, as it should).
    let inspects: Vec<String> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("inspect "))
        .map(String::from)
        .collect();
    assert!(
        inspects.len() >= 2,
        "the API call and the reconcile: {inspects:?}"
    );
    for pid in &inspects {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .unwrap()
                    .contains(") Z"),
            "the hung inspect {pid} was not killed"
        );
    }
}

#[test]
fn an_lxc_bundle_is_installed_run_crashed_restarted_and_uninstalled() {
    require(&["lxc-start", "lxc-info", "lxc-monitor"]);
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let id = "berth-e2e-lxc";
    let bundle = lxc_bundle(
        dir.path(),
        id,
        &format!("echo hello from lxc; {SERVE}"),
        "lxc.net.0.type = none",
    );
    let pkg = pack(dir.path(), &lxc_manifest(id), &bundle);
    assert_eq!(
        ctl_ok(&d, &["install", pkg.to_str().unwrap()]),
        format!("installed {id} 1, running\n")
    );
    let place = dir.path().join(format!("work/lxc/{id}"));
    let config = std::fs::read_to_string(place.join("config")).unwrap();
    assert!(
        config.contains(&format!(
            "lxc.rootfs.path = dir:{}",
            place.join("rootfs").display()
        )),
        "{config}"
    );
    assert!(config.contains("lxc.start.auto = 0") && !config.contains("/somewhere/else"));
    let st = status(&d, id);
    assert_eq!(
        (st["status"].clone(), st["runtime"].clone()),
        (json!("running"), json!("lxc"))
    );
    let pid = st["pid"].as_u64().unwrap();
    wait_for("the bundle's output in logs", || {
        ctl_ok(&d, &["logs", id]).contains("hello from lxc")
    });
    // Stamped as it appeared (LXC's console log has no times): --since filters it.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!ctl_ok(&d, &["logs", id, "--since", "1s"]).contains("hello from lxc"));
    assert!(ctl_ok(&d, &["logs", id, "--since", "1h"]).contains("hello from lxc"));
    let stats: Value = serde_json::from_str(&ctl_ok(&d, &["stats", id, "--json"])).unwrap();
    // Read from the container's cgroup and network namespace.
    assert!(stats["memory_bytes"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["memory_limit_bytes"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["pids"].as_u64().unwrap() >= 1, "{stats}");

    // Crashed on purpose: the policy restarts it.
    ok(&mut cmd("kill", &["-9", &pid.to_string()]));
    wait_for("the policy's restart", || {
        let s = status(&d, id);
        s["restart_count"] == 1 && s["running"] == true
    });
    // A stop through berthctl is not a crash; start, config set work as for podman.
    ctl_ok(&d, &["stop", id, "-t", "1"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(status(&d, id)["running"], false);
    ctl_ok(&d, &["start", id]);
    assert_eq!(status(&d, id)["running"], true);
    ctl_ok(&d, &["config", "set", id, "restart.max_retries", "5"]);
    ctl_ok(&d, &["uninstall", id]);
    assert!(!place.exists(), "the bundle is removed");
    let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(list, json!([]));
}

#[test]
fn an_lxc_bundle_needing_a_missing_bridge_is_refused_naming_it() {
    require(&["lxc-start"]);
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let id = "berth-e2e-lxc-bridge";
    let bundle = lxc_bundle(
        dir.path(),
        id,
        "exec sleep 1000",
        "lxc.net.0.type = veth\nlxc.net.0.link = lxcbr0",
    );
    let pkg = pack(dir.path(), &lxc_manifest(id), &bundle);
    let out = berth_e2e::daemon::ctl(&d.socket, &["install", pkg.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("lxcbr0") && err.contains("lxc.net.0.type = none"),
        "{err}"
    );
    assert!(!dir.path().join(format!("work/lxc/{id}")).exists());
    let staging: Vec<_> = std::fs::read_dir(dir.path().join("work/staging"))
        .map(|r| r.flatten().collect())
        .unwrap_or_default();
    assert!(staging.is_empty());
    assert_eq!(ctl_ok(&d, &["list", "--json"]).trim(), "[]");
}
