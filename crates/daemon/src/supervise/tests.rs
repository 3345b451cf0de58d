//! Supervision over the in-memory runtime: exits the event stream missed are caught
//! by the tick, and a broken stream is followed again from where it stopped.

use crate::config::Config;
use crate::daemon::Daemon;
use crate::driver::image::ImageDriver;
use berth_package::RuntimeKind;
use berth_runtime::testkit::FakeRuntime;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn daemon(dir: &std::path::Path, fake: &Arc<FakeRuntime>) -> Arc<Daemon> {
    let mut config = Config::default();
    config.service.working_path = dir.to_path_buf();
    let conf = serde_json::json!({"containers": [{"id": "web", "version": "1", "runtime": "podman",
        "autostart": true, "monitor": true,
        "restart": {"enabled": true, "max_retries": 3, "retry_delay": 0, "window": 60}}]});
    std::fs::write(dir.join("containers.conf"), conf.to_string()).unwrap();
    let driver = ImageDriver::new(RuntimeKind::Podman, fake.clone());
    Arc::new(Daemon::new(config, vec![Arc::new(driver)]))
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Regression: an exit while the event stream was down was lost; the tick now
/// applies the restart policy to a container it finds dead.
#[test]
fn the_tick_restarts_a_container_whose_exit_the_event_stream_missed() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeRuntime::default());
    fake.add_container("web", "img", true, &[]);
    let d = daemon(dir.path(), &fake);
    assert!(
        crate::supervise::tick(&d).is_empty(),
        "running: nothing to do"
    );
    // It dies, and no event says so.
    fake.containers
        .lock()
        .unwrap()
        .get_mut("web")
        .unwrap()
        .running = false;
    assert_eq!(crate::supervise::tick(&d), ["web"]);
    wait_until("the restart", || fake.state_of("web").running);
    assert!(fake.calls().contains(&"start web".to_string()));
    assert_eq!(d.supervision_summary("web").0, 1, "one restart counted");
    // Its exit was answered once: a second tick of the same (running) state does
    // nothing, and a stop through berthd is never taken for a crash.
    assert!(crate::supervise::tick(&d).is_empty());
    d.stop("web", Duration::from_secs(1)).unwrap();
    assert!(crate::supervise::tick(&d).is_empty());
}

#[test]
fn a_container_berthd_never_saw_running_is_not_restarted_by_the_tick() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeRuntime::default());
    // Stopped before berthd started (autostart off, or stopped by hand).
    fake.add_container("web", "img", false, &[]);
    let d = daemon(dir.path(), &fake);
    assert!(crate::supervise::tick(&d).is_empty());
    assert!(!fake.calls().contains(&"start web".to_string()));
}

/// Regression: a restarted event stream began at "now", losing the exits that
/// happened while it was down; it now resumes from where it stopped.
#[test]
fn a_broken_event_stream_is_followed_again_from_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeRuntime::default());
    let d = daemon(dir.path(), &fake);
    let driver = Arc::clone(d.drivers().next().unwrap());
    // The fake's stream ends at once: the watcher follows it again a second later.
    std::thread::spawn(move || crate::supervise::watch_exits(d, driver));
    wait_until("a second event stream", || {
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("events"))
            .count()
            >= 2
    });
    let streams: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.starts_with("events"))
        .collect();
    assert_eq!(streams[..2], ["events", "events since"]);
}

/// A runtime without registered containers runs no event stream (no `docker events`
/// on a device with Docker installed but no Docker package); the first registration
/// starts it.
#[test]
fn a_runtime_is_followed_only_once_it_has_a_registered_container() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(FakeRuntime::default());
    let d = daemon(dir.path(), &fake);
    let registered = std::fs::read(dir.path().join("containers.conf")).unwrap();
    std::fs::write(dir.path().join("containers.conf"), r#"{"containers": []}"#).unwrap();
    let driver = Arc::clone(d.drivers().next().unwrap());
    std::thread::spawn(move || crate::supervise::watch_exits(d, driver));
    std::thread::sleep(Duration::from_millis(500));
    let streams = || {
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("events"))
            .count()
    };
    assert_eq!(streams(), 0, "followed with nothing registered");
    std::fs::write(dir.path().join("containers.conf"), registered).unwrap();
    wait_until("the event stream after the first registration", || {
        streams() >= 1
    });
}
