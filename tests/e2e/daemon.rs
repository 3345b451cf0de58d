//! berthd and berthctl as processes: configuration, the socket, the API, exit codes.

use berth_e2e::daemon::*;
use berth_e2e::install::refused;
use berth_e2e::*;
use berth_runtime::{split_create_args, Podman, Runtime, SystemRunner};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn berthctl_reads_info_and_the_registered_containers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    let entry = serde_json::json!({"containers": [{"id": "web", "friendly_name": "Web", "version": "1.2", "runtime": "podman",
        "create_args": "localhost/web:1", "autostart": true, "monitor": true,
        "restart": {"enabled": true, "max_retries": 3, "retry_delay": 1, "window": 60}}]});
    std::fs::write(dir.path().join("work/containers.conf"), entry.to_string()).unwrap();
    let d = start(dir.path());

    let info = ctl(&d.socket, &["info", "--json"]);
    assert!(
        info.status.success(),
        "{}",
        String::from_utf8_lossy(&info.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(
        info["working_path"],
        dir.path().join("work").display().to_string()
    );
    assert!(info["free_bytes"].as_u64().unwrap() > 0);

    let list = ctl(&d.socket, &["list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["id"], "web");
    assert_eq!(list[0]["restart"]["window"], 60);
    let table = String::from_utf8(ctl(&d.socket, &["list"]).stdout).unwrap();
    assert!(table.lines().nth(1).unwrap().starts_with("web "), "{table}");

    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn berthctl_exits_3_with_a_hint_when_berthd_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let out = ctl(&dir.path().join("none.sock"), &["info"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("berthctl: error: cannot reach berthd") && err.contains("berthd"),
        "{err}"
    );
    // The environment variable points berthctl elsewhere too.
    let out = run(Command::new(bin("berthctl"))
        .arg("info")
        .env("BERTH_SOCKET", dir.path().join("x.sock")));
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn bad_configuration_and_broken_containers_conf_stop_the_start_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let berthd = |config: &Path, check: bool| {
        let mut c = Command::new(bin("berthd"));
        c.arg("--config").arg(config);
        if check {
            c.arg("--check-config");
        }
        run(&mut c)
    };
    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, r#"{"service": {"command_timeout": true}}"#).unwrap();
    let out = berthd(&bad, true);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "berthd: error: {}: service.command_timeout must be an integer >= 1, got boolean true",
            bad.display()
        )
    );
    let odd = dir.path().join("odd.conf");
    std::fs::write(&odd, r#"{"colour": 1}"#).unwrap();
    let out = berthd(&odd, true);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("berthd: warning:") && err.contains("unknown key colour (ignored)"),
        "{err}"
    );

    let config = write_config(dir.path());
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    let broken = r#"{"containers": [{"id": "web"}]}"#;
    std::fs::write(dir.path().join("work/containers.conf"), broken).unwrap();
    let out = berthd(&config, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("containers[0].version is required"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("work/containers.conf")).unwrap(),
        broken
    );
}

#[test]
fn a_socket_left_by_a_killed_daemon_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = start(dir.path());
    first.child.kill().unwrap(); // SIGKILL: the socket file stays behind
    first.child.wait().unwrap();
    assert!(first.socket.exists());
    let second = start(dir.path());
    assert!(ctl(&second.socket, &["info"]).status.success());
}

#[test]
fn berthd_tells_systemd_it_is_ready_once_listening() {
    let dir = tempfile::tempdir().unwrap();
    let notify_path = dir.path().join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    notify
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(bin("berthd"))
        .arg("--config")
        .arg(write_config(dir.path()))
        .env("NOTIFY_SOCKET", &notify_path)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 64];
    let got = notify.recv(&mut buf);
    // Ready means the API answers.
    let answered = ctl(&dir.path().join("run/berthd.sock"), &["info"])
        .status
        .success();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(&buf[..got.unwrap()], b"READY=1");
    assert!(answered);
}

#[test]
fn systemd_units_verify_with_notify_readiness_and_process_kill_mode() {
    require(&["systemd-analyze"]);
    let dir = tempfile::tempdir().unwrap();
    let units = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/systemd");
    let mut paths = Vec::new();
    for unit in ["berthd.service", "berthd-shutdown.service"] {
        let text = std::fs::read_to_string(units.join(unit)).unwrap();
        if unit == "berthd.service" {
            assert!(
                text.contains("Type=notify") && text.contains("KillMode=process"),
                "{text}"
            );
        } else {
            assert!(
                text.contains("ExecStop=/usr/bin/berthd --stop-managed-containers"),
                "{text}"
            );
        }
        // Verified against the binary built here rather than an installed one.
        let local = dir.path().join(unit);
        std::fs::write(
            &local,
            text.replace("/usr/bin/berthd", bin("berthd").to_str().unwrap()),
        )
        .unwrap();
        paths.push(local);
    }
    ok(cmd("systemd-analyze", &["verify", "--man=no"]).args(&paths));
}

/// A podman container `id` serving (`SERVE`), from an image of its own.
fn running_container(dir: &Path, id: &str) -> (TestImage, Podman) {
    let image = TestImage::build(dir, &format!("localhost/{id}:1"), SERVE);
    let podman = Podman::new(
        Arc::new(SystemRunner),
        Duration::from_secs(60),
        Duration::from_secs(300),
    );
    let _ = podman.remove(id);
    podman
        .create(id, &split_create_args(&image.tag).unwrap())
        .unwrap();
    podman.start(id).unwrap();
    assert!(podman.state(id).unwrap().running);
    (image, podman)
}

/// Registers `ids` in `<dir>/work/containers.conf` as podman containers of `image`.
fn register(dir: &Path, image_tag: &str, ids: &[&str], autostart: bool) {
    std::fs::create_dir_all(dir.join("work")).unwrap();
    let entries: Vec<_> = ids
        .iter()
        .map(|id| {
            serde_json::json!({"id": id, "version": "1", "runtime": "podman", "create_args": image_tag,
                "autostart": autostart, "monitor": true,
                "restart": {"enabled": true, "max_retries": 3, "retry_delay": 1, "window": 60}})
        })
        .collect();
    let conf = serde_json::json!({ "containers": entries });
    std::fs::write(dir.join("work/containers.conf"), conf.to_string()).unwrap();
}

#[test]
fn stop_managed_containers_stops_what_runs() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-stopall";
    let (image, podman) = running_container(dir.path(), id);
    let config = write_config(dir.path());
    register(dir.path(), &image.tag, &[id, "berth-e2e-gone"], true);

    let out = run(Command::new(bin("berthd"))
        .arg("--config")
        .arg(&config)
        .arg("--stop-managed-containers"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("stopped {id}")), "{err}");
    assert!(err.contains("berth-e2e-gone: not in podman"), "{err}");
    assert!(!podman.state(id).unwrap().running);
    podman.remove(id).unwrap();
}

#[test]
fn berthctl_status_asks_podman_and_config_get_reads_settings() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-status";
    let (image, podman) = running_container(dir.path(), id);
    register(dir.path(), &image.tag, &[id, "berth-e2e-removed"], false);
    let d = start(dir.path());

    let out = ctl(&d.socket, &["status", id, "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (st["status"].as_str(), st["running"].as_bool()),
        (Some("running"), Some(true))
    );
    assert!(st["pid"].as_u64().is_some());
    // Removed behind berthd's back: reported, not crashed on.
    let out = ctl(&d.socket, &["status", "berth-e2e-removed"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "berth-e2e-removed: missing (podman)"
    );
    let out = ctl(&d.socket, &["status", "not-registered"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_container"));
    let out = ctl(&d.socket, &["status", "../etc"]);
    assert_eq!(out.status.code(), Some(2));

    let window = ctl(&d.socket, &["config", "get", id, "restart.window"]);
    assert_eq!(String::from_utf8_lossy(&window.stdout).trim(), "60");
    let auto = ctl(&d.socket, &["config", "get", id, "autostart"]);
    assert_eq!(String::from_utf8_lossy(&auto.stdout).trim(), "false");
    let bad = ctl(&d.socket, &["config", "get", id, "colour"]);
    assert_eq!(bad.status.code(), Some(2));
    podman.remove(id).unwrap();
}

#[test]
fn berthd_logs_to_the_file_its_configuration_names_and_not_the_console_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("logs/berthd.log");
    let d = start_with(
        dir.path(),
        serde_json::json!({"logging": {"level": "info", "console": {"enabled": false},
            "file": {"enabled": true, "path": log, "level": "debug", "max_size": 65536}}}),
    );
    let out = ctl(&d.socket, &["info"]);
    assert!(out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("serving the API on"), "{text}");
    let console = std::fs::read_to_string(dir.path().join("berthd.log")).unwrap();
    assert!(!console.contains("serving the API on"), "{console}");
}

/// One raw HTTP request to berthd (bypassing berthctl's own checks): its status
/// and body.
fn raw(socket: &Path, method: &str, path: &str) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: berthd\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1;
    (
        status,
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Regression: `stop -t 18446744073709551615` panicked a daemon task (a duration
/// overflow) after marking the container stopped on request.
#[test]
fn numbers_out_of_range_are_a_400_naming_the_field_and_change_nothing() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-numbers";
    let (image, podman) = running_container(dir.path(), id);
    register(dir.path(), &image.tag, &[id], false);
    let d = start(dir.path());
    let pid = podman.state(id).unwrap().pid;
    for (method, path, field) in [
        (
            "POST",
            format!("/v1/containers/{id}/stop?time=18446744073709551615"),
            "time",
        ),
        (
            "POST",
            format!("/v1/containers/{id}/restart?time=86401"),
            "time",
        ),
        ("POST", format!("/v1/containers/{id}/stop?time=-1"), "time"),
        (
            "GET",
            format!("/v1/containers/{id}/logs?tail=99999999999999999999"),
            "tail",
        ),
        (
            "GET",
            format!("/v1/containers/{id}/logs?since=400000000000y"),
            "since",
        ),
        (
            "GET",
            format!("/v1/containers/{id}/logs?follow=maybe"),
            "follow",
        ),
        ("POST", "/v1/packages?force=2".to_string(), "force"),
    ] {
        let (status, body) = raw(&d.socket, method, &path);
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["code"], "bad_request", "{path}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(field),
            "{path}: {body}"
        );
    }
    // Nothing was done: the same process runs, and berthd still answers.
    assert_eq!(podman.state(id).unwrap().pid, pid);
    let (status, body) = raw(&d.socket, "GET", &format!("/v1/containers/{id}/status"));
    assert_eq!(
        (status, &body["status"]),
        (200, &serde_json::json!("running"))
    );
    // berthctl refuses the same before asking.
    let out = ctl(&d.socket, &["stop", id, "-t", "18446744073709551615"]);
    assert_eq!(out.status.code(), Some(2));
    podman.remove(id).unwrap();
}

#[test]
fn fifty_parallel_requests_are_answered_and_no_config_update_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String> = (0..5).map(|i| format!("par{i}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    register(dir.path(), "img", &id_refs, true);
    let d = start(dir.path());
    let keys = [
        ("autostart", "false"),
        ("monitor", "false"),
        ("restart.max_retries", "7"),
        ("restart.window", "99"),
        ("restart.retry_delay", "5"),
    ];
    // 25 updates and 25 reads, all 50 let go at once.
    let start_line = std::sync::Barrier::new(2 * ids.len() * keys.len());
    std::thread::scope(|s| {
        let mut handles = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            for (k, (key, value)) in keys.iter().enumerate() {
                let (d, start_line) = (&d, &start_line);
                handles.push(s.spawn(move || {
                    start_line.wait();
                    ctl(&d.socket, &["config", "set", id, key, value])
                }));
                handles.push(s.spawn(move || {
                    start_line.wait();
                    match (n + k) % 3 {
                        0 => ctl(&d.socket, &["list", "--json"]),
                        1 => ctl(&d.socket, &["info", "--json"]),
                        _ => ctl(&d.socket, &["config", "get", id]),
                    }
                }));
            }
        }
        assert_eq!(handles.len(), 50);
        for h in handles {
            let out = h.join().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    });
    let conf: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("work/containers.conf")).unwrap())
            .unwrap();
    for c in conf["containers"].as_array().unwrap() {
        assert_eq!(
            (
                &c["autostart"],
                &c["monitor"],
                &c["restart"]["max_retries"],
                &c["restart"]["window"],
                &c["restart"]["retry_delay"]
            ),
            (
                &json!(false),
                &json!(false),
                &json!(7),
                &json!(99),
                &json!(5)
            ),
            "{c}"
        );
    }
    // Values are checked like the manifest's.
    let out = ctl(&d.socket, &["config", "set", "par0", "restart.window", "0"]);
    refused(&out, 2, "restart.window must be an integer >= 1");
    // An unknown key is refused naming every valid one (berthd's answer).
    let out = ctl(&d.socket, &["config", "set", "par0", "colour", "1"]);
    refused(
        &out,
        2,
        "colour is not a setting: use one of autostart, monitor, restart.enabled, restart.max_retries, restart.window, restart.retry_delay",
    );
}
