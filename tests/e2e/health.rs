//! Health checks on podman, Docker, LXC and runc: a container that turns unhealthy
//! is restarted under its restart policy and `failed` once the budget is spent; a
//! check that hangs is killed at its timeout; an image's own HEALTHCHECK is used
//! when the package has none; berthd's own HTTP probe.

use berth_e2e::daemon::{start, Daemon};
use berth_e2e::install::{ctl_ok, status, wait_for};
use berth_e2e::subjects::Subject;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::Path;

/// Healthy while the container's pid 1 is younger than 4 seconds, then not: each
/// run is healthy at first and turns unhealthy, on every runtime (busybox only).
const HEALTHY_FOR_4S: &str = r#"up=$(cut -d' ' -f1 /proc/uptime); st=$(cut -d' ' -f22 /proc/1/stat); awk -v u="$up" -v s="$st" 'BEGIN { exit !((u - s / 100) < 4) }' || { echo "pid 1 is older than 4s" >&2; exit 1; }"#;

/// Uninstalls `id` through berthd when dropped, a failed assertion too: LXC and
/// runc containers outlive berthd.
fn uninstall_on_drop<'a>(d: &'a Daemon, id: &'a str) -> OnDrop<impl FnMut() + 'a> {
    OnDrop(move || {
        let _ = berth_e2e::daemon::ctl(&d.socket, &["uninstall", id]);
    })
}

fn turns_unhealthy(m: &mut Value) {
    m["registration_defaults"]["restart"] =
        json!({"enabled": true, "max_retries": 1, "window": 600, "retry_delay": 0});
    m["registration_defaults"]["health"] = json!({
        "cmd": ["/bin/sh", "-c", HEALTHY_FOR_4S],
        "interval": 1, "timeout": 5, "retries": 2
    });
}

/// Installs version 1 of `subject` and follows it from healthy to failed.
fn unhealthy_is_restarted_then_failed(dir: &Path, subject: &Subject) {
    let d = start(dir);
    let id = subject.id;
    let _cleanup = uninstall_on_drop(&d, id);
    ctl_ok(&d, &["install", subject.packages[0].to_str().unwrap()]);
    wait_for("healthy", || {
        status(&d, id)["health"]["status"] == "healthy"
    });
    let listed: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(listed[0]["health_check"]["retries"], 2, "{listed}");
    wait_for("failed", || status(&d, id)["status"] == "failed");
    let st = status(&d, id);
    assert_eq!(st["restart_count"], 1, "{st}");
    let reason = st["reason"].as_str().unwrap();
    assert!(
        reason.contains("last stopped as unhealthy after 2 failed checks")
            && reason.contains("pid 1 is older than 4s"),
        "{st}"
    );
    assert_eq!(st["health"]["status"], "unhealthy", "{st}");
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("work/state.json")).unwrap()).unwrap();
    assert_eq!(state["containers"][id]["health"]["status"], "unhealthy");
    let log = std::fs::read_to_string(dir.join("berthd.log")).unwrap();
    for line in [
        format!("{id}: healthy"),
        format!("{id}: unhealthy after 2 failed checks"),
        format!("{id}: stopped as unhealthy"),
    ] {
        assert!(log.contains(&line), "{line:?} not in the log:\n{log}");
    }
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn podman_an_unhealthy_container_is_restarted_then_failed() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::podman(dir.path(), "berth-e2e-health", turns_unhealthy);
    unhealthy_is_restarted_then_failed(dir.path(), &s);
}

#[test]
fn docker_an_unhealthy_container_is_restarted_then_failed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::docker(dir.path(), "berth-e2e-health-docker", turns_unhealthy);
    unhealthy_is_restarted_then_failed(dir.path(), &s);
}

#[test]
fn lxc_an_unhealthy_container_is_restarted_then_failed() {
    require(&["lxc-start"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::lxc(dir.path(), "berth-e2e-health-lxc", turns_unhealthy);
    unhealthy_is_restarted_then_failed(dir.path(), &s);
}

#[test]
fn runc_an_unhealthy_container_is_restarted_then_failed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::runc(dir.path(), "berth-e2e-health-runc", turns_unhealthy);
    unhealthy_is_restarted_then_failed(dir.path(), &s);
}

/// A check that never ends, with a 1 s timeout; restart off.
fn hangs(m: &mut Value) {
    let seconds = hang_seconds(m["package_id"].as_str().unwrap()).to_string();
    m["registration_defaults"]["restart"]["enabled"] = false.into();
    m["registration_defaults"]["health"] =
        json!({"cmd": ["/bin/sleep", seconds], "interval": 3, "timeout": 1, "retries": 100});
}

/// How long package `id`'s hung check sleeps: a number of its own, because the four
/// runtimes' tests run at the same time and each looks for its own check on the host.
fn hang_seconds(id: &str) -> u32 {
    177 + [
        "berth-e2e-hung",
        "berth-e2e-hung-docker",
        "berth-e2e-hung-lxc",
        "berth-e2e-hung-runc",
    ]
    .iter()
    .position(|known| *known == id)
    .expect("a hung-check subject") as u32
}

/// Host processes running `/bin/sleep <hang_seconds(id)>` (the hung check of `id`).
fn hung_checks(id: &str) -> Vec<u32> {
    let cmdline = format!("/bin/sleep\0{}\0", hang_seconds(id));
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == cmdline.as_bytes())
        })
        .collect()
}

fn a_hung_check_is_killed_at_its_timeout(dir: &Path, subject: &Subject) {
    let d: Daemon = start(dir);
    let id = subject.id;
    let _cleanup = uninstall_on_drop(&d, id);
    ctl_ok(&d, &["install", subject.packages[0].to_str().unwrap()]);
    // A check running: its sleep (177+ s) seen on the host; killed at its 1 s
    // timeout, it is gone within seconds. The processes seen are followed, not
    // every check's: under load the next check (3 s after this one ended) may
    // already run when this one is reported killed (seen in CI).
    let mut running = Vec::new();
    wait_for("a hung check running", || {
        running = hung_checks(id);
        !running.is_empty()
    });
    let seen = std::time::Instant::now();
    while hung_checks(id).iter().any(|pid| running.contains(pid)) {
        assert!(
            seen.elapsed() < std::time::Duration::from_secs(10),
            "the hung check {running:?} outlived its timeout"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    wait_for("a timed-out check", || {
        status(&d, id)["health"]["last_output"]
            .as_str()
            .is_some_and(|o| o.contains("no answer within 1s (timeout): killed"))
    });
    assert_eq!(status(&d, id)["status"], "running");
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn podman_a_hung_check_is_killed_at_its_timeout() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::podman(dir.path(), "berth-e2e-hung", hangs);
    a_hung_check_is_killed_at_its_timeout(dir.path(), &s);
}

#[test]
fn docker_a_hung_check_is_killed_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::docker(dir.path(), "berth-e2e-hung-docker", hangs);
    a_hung_check_is_killed_at_its_timeout(dir.path(), &s);
}

#[test]
fn lxc_a_hung_check_is_killed_at_its_timeout() {
    require(&["lxc-start"]);
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::lxc(dir.path(), "berth-e2e-hung-lxc", hangs);
    a_hung_check_is_killed_at_its_timeout(dir.path(), &s);
}

#[test]
fn runc_a_hung_check_is_killed_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let s = Subject::runc(dir.path(), "berth-e2e-hung-runc", hangs);
    a_hung_check_is_killed_at_its_timeout(dir.path(), &s);
}

/// `localhost/<id>:1` built by podman from a busybox image with a HEALTHCHECK that
/// fails saying so; saved as a docker-archive (Docker's image config keeps it).
fn image_with_healthcheck(dir: &Path, id: &str) -> (TestImage, TestImage, std::path::PathBuf) {
    let base = TestImage::build(dir, &format!("localhost/{id}-base:1"), "exec sleep 1000");
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Containerfile"),
        format!(
            "FROM {}\nHEALTHCHECK --interval=1s --timeout=3s --retries=1 CMD [\"/bin/sh\", \"-c\", \"echo from-the-image-check >&2; exit 3\"]\n",
            base.tag
        ),
    )
    .unwrap();
    let tag = format!("localhost/{id}:1");
    ok(cmd("podman", &["build", "-q", "--format", "docker", "-t", &tag]).arg(&context));
    let image = TestImage { tag };
    let tar = dir.join("image.tar");
    image.save("docker-archive", &tar);
    (base, image, tar)
}

fn the_images_healthcheck_is_used(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("berth-e2e-imagecheck-{engine}");
    let (_base, image, tar) = image_with_healthcheck(dir.path(), &id);
    let mut m = berth_e2e::install::manifest(&id, "1", "--init", true);
    m["runtime"] = engine.into();
    m["registration_defaults"]["restart"]["enabled"] = false.into();
    let pkg = berth_e2e::install::pack(dir.path(), &m, &tar);
    let d = start(dir.path());
    let _cleanup = OnDrop(|| {
        let _ = run(&mut cmd(engine, &["rm", "-f", &id]));
        let _ = run(&mut cmd(engine, &["rmi", "-f", &image.tag]));
    });
    ctl_ok(&d, &["install", pkg.to_str().unwrap()]);
    let check: Value =
        serde_json::from_str(&ctl_ok(&d, &["config", "get", &id, "health", "--json"])).unwrap();
    assert_eq!(
        check,
        json!({"cmd": ["/bin/sh", "-c", "echo from-the-image-check >&2; exit 3"],
               "interval": 1, "timeout": 3, "retries": 1, "start_period": 0})
    );
    wait_for("unhealthy", || {
        status(&d, &id)["health"]["status"] == "unhealthy"
    });
    let st = status(&d, &id);
    assert_eq!(
        st["health"]["last_output"], "exit code 3: from-the-image-check",
        "{st}"
    );
    // berthd runs the check; the engine runs none of its own.
    let engine_health = ok(cmd(
        engine,
        &["inspect", "--format", "{{json .State.Health}}", &id],
    ));
    assert!(
        matches!(engine_health.trim(), "null" | "" | "{}") || !engine_health.contains("\"Log\":[{"),
        "{engine} ran a check itself: {engine_health}"
    );
    ctl_ok(&d, &["uninstall", &id]);
}

#[test]
fn podman_the_images_healthcheck_is_used_when_the_package_has_none() {
    require(&["podman"]);
    the_images_healthcheck_is_used("podman");
}

#[test]
fn docker_the_images_healthcheck_is_used_when_the_package_has_none() {
    require_docker();
    the_images_healthcheck_is_used("docker");
}

#[test]
fn berthd_probes_http_and_config_set_changes_the_check() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-http";
    // A free port on the host network, served by busybox httpd from the container.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let image = TestImage::build(
        dir.path(),
        "localhost/berth-e2e-http:1",
        &format!("exec httpd -f -p 127.0.0.1:{port} -h /"),
    );
    let tar = dir.path().join("image.tar");
    image.save("docker-archive", &tar);
    let mut m = berth_e2e::install::manifest(id, "1", "--init --network host", true);
    m["registration_defaults"]["restart"]["enabled"] = false.into();
    m["registration_defaults"]["health"] =
        json!({"http": format!("http://127.0.0.1:{port}/bin/busybox"), "interval": 1});
    let pkg = berth_e2e::install::pack(dir.path(), &m, &tar);
    let d = start(dir.path());
    let _cleanup = OnDrop(|| berth_e2e::install::remove_container(id));
    ctl_ok(&d, &["install", pkg.to_str().unwrap()]);
    wait_for("healthy over HTTP", || {
        status(&d, id)["health"]["status"] == "healthy"
    });
    assert!(ctl_ok(&d, &["status", id]).contains(", healthy"));
    // A path the server does not have: 404 is unhealthy.
    ctl_ok(
        &d,
        &[
            "config",
            "set",
            id,
            "health.http",
            &format!("http://127.0.0.1:{port}/nothing-here"),
        ],
    );
    ctl_ok(&d, &["config", "set", id, "health.retries", "1"]);
    wait_for("unhealthy over HTTP", || {
        status(&d, id)["health"]["status"] == "unhealthy"
    });
    let st = status(&d, id);
    assert!(
        st["health"]["last_output"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{st}"
    );
    // Values are checked like the manifest's.
    let out = berth_e2e::daemon::ctl(&d.socket, &["config", "set", id, "health.interval", "0"]);
    berth_e2e::install::refused(&out, 2, "health.interval must be an integer >= 1, got 0");
    ctl_ok(&d, &["config", "set", id, "health", "null"]);
    assert!(status(&d, id).get("health").is_none());
    ctl_ok(&d, &["uninstall", id]);
}
