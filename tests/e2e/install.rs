//! Installing packages through berthd with berthctl, against real podman: the life
//! cycle, failures that leave nothing, upgrades, concurrency, daemon restarts.

use berth_e2e::daemon::{ctl, start, start_with, Daemon};
use berth_e2e::install::*;
use berth_e2e::*;
use berth_package::testkit::{gzip, pretty, tar_bytes, test_key, Parts};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

#[test]
fn a_packed_busybox_image_is_installed_run_stopped_started_restarted_and_uninstalled() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-life";
    remove_container(id);
    let image = TestImage::build(
        dir.path(),
        "localhost/berth-e2e-life:1",
        &format!("echo hello from berth-e2e-life; {SERVE}"),
    );
    let tar = dir.path().join("image.tar");
    image.save("docker-archive", &tar);
    image.remove();
    let pkg = pack(dir.path(), &manifest(id, "1.0.0", &image.tag, true), &tar);
    let d = start(dir.path());

    let out = ctl_ok(&d, &["install", pkg.to_str().unwrap()]);
    assert_eq!(out, format!("installed {id} 1.0.0, running\n"));
    let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["version"], "1.0.0");
    let st = status(&d, id);
    assert_eq!(st["status"], "running");
    // state.json records what the install brought.
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("work/state.json")).unwrap())
            .unwrap();
    let record = &state["containers"][id];
    assert_eq!(record["images"].as_array().unwrap().len(), 1, "{state}");
    assert!(record["package_digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    wait_for("the container's output in logs", || {
        ctl_ok(&d, &["logs", id]).contains("hello from berth-e2e-life")
    });
    // Kept under the working path; --since filters by time.
    assert!(dir.path().join(format!("work/logs/{id}.log")).exists());
    assert!(ctl_ok(&d, &["logs", id, "--since", "1h"]).contains("hello from"));
    assert_eq!(
        ctl_ok(&d, &["logs", id, "--since", "2099-01-01T00:00:00Z"]),
        ""
    );
    assert_eq!(
        ctl(&d.socket, &["logs", id, "--since", "soon"])
            .status
            .code(),
        Some(2)
    );
    let stats: Value = serde_json::from_str(&ctl_ok(&d, &["stats", id, "--json"])).unwrap();
    assert!(stats["pids"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["memory_bytes"].as_u64().unwrap() > 0, "{stats}");

    let stopped: Value =
        serde_json::from_str(&ctl_ok(&d, &["stop", id, "--time", "1", "--json"])).unwrap();
    assert_eq!(stopped["running"], false);
    let started: Value = serde_json::from_str(&ctl_ok(&d, &["start", id, "--json"])).unwrap();
    assert_eq!(started["running"], true);
    let restarted: Value =
        serde_json::from_str(&ctl_ok(&d, &["restart", id, "-t", "1", "--json"])).unwrap();
    assert_eq!(restarted["running"], true);
    assert_ne!(
        restarted["pid"], started["pid"],
        "a new process after restart"
    );
    // --tail limits the lines: the container printed its line three times by now.
    wait_for("three runs' output", || {
        ctl_ok(&d, &["logs", id]).matches("hello from").count() == 3
    });
    assert_eq!(ctl_ok(&d, &["logs", id, "--tail", "1"]).lines().count(), 1);

    assert_eq!(
        ctl_ok(&d, &["uninstall", id]),
        format!("uninstalled {id}\n")
    );
    assert_nothing_left(&d, dir.path(), id, &image.tag);
}

#[test]
fn logs_follow_streams_new_output_as_it_comes() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-logs-follow";
    remove_container(id);
    let image = TestImage::build(
        dir.path(),
        "localhost/berth-e2e-logs-follow:1",
        "trap 'exit 0' TERM; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done",
    );
    let tar = dir.path().join("image.tar");
    image.save("docker-archive", &tar);
    let pkg = pack(dir.path(), &manifest(id, "1", &image.tag, true), &tar);
    let d = start(dir.path());
    ctl_ok(&d, &["install", pkg.to_str().unwrap()]);
    // The last tick written before following starts: what --follow must show are
    // ticks written after it, not only what was there.
    let tick = |line: &str| line.trim().strip_prefix("tick ")?.parse::<u64>().ok();
    let mut before = 0;
    while before < 3 {
        std::thread::sleep(Duration::from_millis(200));
        before = ctl_ok(&d, &["logs", id])
            .lines()
            .filter_map(tick)
            .max()
            .unwrap_or(0);
    }
    let mut follow = std::process::Command::new(bin("berthctl"))
        .arg("--socket")
        .arg(&d.socket)
        .args(["logs", id, "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read on a thread, so a stalled follow fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let out = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let wanted = before + 10;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let n = tick(&line);
                seen.extend(n);
                if n.is_some_and(|n| n >= wanted) {
                    break Ok(());
                }
            }
            Err(_) => {
                break Err(format!(
                    "no tick {wanted} within 30 s (before: {before}, seen: {seen:?})"
                ))
            }
        }
    };
    follow.kill().unwrap();
    follow.wait().unwrap();
    result.unwrap();
    // What follow showed came in order, each tick once.
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    ctl_ok(&d, &["uninstall", id]);
}

/// A real docker-archive of a test image, and its tag.
fn image_archive(dir: &Path, tag: &str) -> (Vec<u8>, TestImage) {
    let image = TestImage::build(dir, tag, SERVE);
    let tar = dir.join("image.tar");
    image.save("docker-archive", &tar);
    image.remove();
    (std::fs::read(tar).unwrap(), image)
}

fn install_bytes(d: &Daemon, dir: &Path, name: &str, bytes: &[u8]) -> Output {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    ctl(&d.socket, &["install", path.to_str().unwrap()])
}

#[test]
fn failed_installs_leave_nothing_behind() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-refused";
    let tag = "localhost/berth-e2e-refused:1";
    remove_container(id);
    let (payload, _image) = image_archive(dir.path(), tag);
    let key = test_key(7);
    let public = dir.path().join("trusted.pub");
    std::fs::write(
        &public,
        berth_package::sign::public_key_text(&key.verifying_key()),
    )
    .unwrap();
    let d = start_with(
        dir.path(),
        json!({"trust": {"keys": [public], "require_signature": true}}),
    );
    let parts = |create_args: &str| Parts {
        manifest: manifest(id, "1.0.0", create_args, true),
        payload_name: "image.tar".into(),
        payload: payload.clone(),
    };
    let signed = |p: &Parts| gzip(&tar_bytes(&p.signed_entries(&key), true));

    // Unsigned, on a device that requires signatures.
    let out = install_bytes(&d, dir.path(), "unsigned.tar.gz", &parts(tag).package());
    refused(&out, 2, "unsigned package");
    assert_nothing_left(&d, dir.path(), id, tag);

    // A bad checksum: the sums file lists another digest for the payload.
    let p = parts(tag);
    let sums = format!("{}  payload/image.tar\n", "0".repeat(64)).into_bytes();
    let manifest_bytes = pretty(&p.packaged_manifest());
    let sig = berth_package::sign::sign(&key, &sums, &manifest_bytes);
    let bad_sum = gzip(&tar_bytes(
        &p.entries_with(&sums, &manifest_bytes, Some(sig)),
        true,
    ));
    let out = install_bytes(&d, dir.path(), "badsum.tar.gz", &bad_sum);
    refused(&out, 2, "checksum mismatch");
    assert_nothing_left(&d, dir.path(), id, tag);

    // The manifest edited after signing (autostart flipped).
    let mut edited = p.packaged_manifest();
    edited["registration_defaults"]["autostart"] = json!(false);
    let sig = berth_package::sign::sign(&key, &p.sums(), &manifest_bytes);
    let tampered = gzip(&tar_bytes(
        &p.entries_with(&p.sums(), &pretty(&edited), Some(sig)),
        true,
    ));
    let out = install_bytes(&d, dir.path(), "tampered.tar.gz", &tampered);
    refused(&out, 2, "signature");
    assert_nothing_left(&d, dir.path(), id, tag);

    // --restart in create_args is berthd's business.
    let out = install_bytes(
        &d,
        dir.path(),
        "restart.tar.gz",
        &signed(&parts(&format!("--restart=always {tag}"))),
    );
    refused(&out, 2, "--restart");
    assert_nothing_left(&d, dir.path(), id, tag);

    // A payload podman refuses: a layer whose bytes do not match its name.
    let mut lying = payload.clone();
    let at = lying
        .windows(18)
        .position(|w| w == b"berth-e2e-refused:")
        .expect("the image's own file is in its layer");
    lying[at] = b'B';
    let lie = Parts {
        payload: lying,
        ..parts(tag)
    };
    let out = install_bytes(&d, dir.path(), "lie.tar.gz", &signed(&lie));
    refused(&out, 1, "loading the payload");
    assert_nothing_left(&d, dir.path(), id, tag);

    // Shell tricks arrive as literal argv: installed, run, and nothing ran on the host.
    let canary = dir.path().join("canary");
    let tricks = format!(
        "--env 'X=$(touch {c})' {tag} sh -c 'echo \"$X\"; echo ; touch {c}-2; trap \"exit 0\" TERM; sleep 1000 & wait'",
        c = canary.display()
    );
    let out = install_bytes(&d, dir.path(), "tricks.tar.gz", &signed(&parts(&tricks)));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("the literal argument in logs", || {
        ctl_ok(&d, &["logs", id]).contains(&format!("$(touch {})", canary.display()))
    });
    assert!(!canary.exists());
    ctl_ok(&d, &["uninstall", id]);
    assert_nothing_left(&d, dir.path(), id, tag);
}

/// Unmounts a tmpfs when dropped.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = run(&mut cmd("umount", &[self.0.to_str().unwrap()]));
    }
}

#[test]
fn a_working_path_too_small_for_the_image_is_refused_before_anything_is_written() {
    require(&["podman", "mount"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-small";
    let tag = "localhost/berth-e2e-small:1";
    remove_container(id);
    let image = TestImage::build(dir.path(), tag, SERVE);
    // 24 MiB of incompressible data makes the image bigger than the 16 MiB tmpfs.
    let noise: Vec<u8> = (0..24u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    image.add_layer(dir.path(), "noise", &noise);
    let tar = dir.path().join("image.tar");
    image.save("docker-archive", &tar);
    image.remove();
    let pkg = pack(dir.path(), &manifest(id, "1", tag, true), &tar);
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    ok(&mut cmd(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=16m",
            "tmpfs",
            work.to_str().unwrap(),
        ],
    ));
    let _mount = Tmpfs(work.clone());
    let d = start(dir.path());
    let out = ctl(&d.socket, &["install", pkg.to_str().unwrap()]);
    refused(&out, 1, "not enough disk space");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MiB free") || err.contains("which has"),
        "{err}"
    );
    assert_nothing_left(&d, dir.path(), id, tag);
    drop(d);
}

#[test]
fn containers_keep_running_across_a_daemon_restart_and_are_adopted() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let (run_id, idle_id) = ("berth-e2e-adopt", "berth-e2e-adopt-idle");
    remove_container(run_id);
    remove_container(idle_id);
    let image = TestImage::build(dir.path(), "localhost/berth-e2e-adopt:1", SERVE);
    let tar = dir.path().join("image.tar");
    image.save("docker-archive", &tar);
    let mut d = start(dir.path());
    for id in [run_id, idle_id] {
        let pkg = pack(dir.path(), &manifest(id, "1", &image.tag, true), &tar);
        ctl_ok(&d, &["install", pkg.to_str().unwrap()]);
    }
    let pid = status(&d, run_id)["pid"].clone();
    // The idle one is stopped; autostart must bring it back when berthd starts.
    ctl_ok(&d, &["stop", idle_id, "-t", "1"]);
    d.child.kill().unwrap(); // SIGKILL: no goodbye
    d.child.wait().unwrap();
    assert!(
        ok(&mut cmd(
            "podman",
            &["inspect", "--format", "{{.State.Running}}", run_id]
        ))
        .trim()
            == "true",
        "the container outlives the daemon"
    );
    let d = start(dir.path());
    let st = status(&d, run_id);
    assert_eq!(
        (st["running"].clone(), st["pid"].clone()),
        (json!(true), pid)
    );
    wait_for("autostart of the stopped container", || {
        status(&d, idle_id)["running"] == true
    });
    // The reconcile report is logged once it is complete.
    wait_for("the reconcile report in berthd's log", || {
        let log = std::fs::read_to_string(dir.path().join("berthd.log")).unwrap();
        log.contains(&format!("{run_id}: running, adopted"))
            && log.contains(&format!("{idle_id}: started (autostart)"))
    });
    for id in [run_id, idle_id] {
        ctl_ok(&d, &["uninstall", id]);
    }
}
