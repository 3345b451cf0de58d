//! Health supervision over the in-memory runtime, on a clock the test moves: each
//! transition from a check's result to what berthd does about it.

use crate::config::Config;
use crate::daemon::Daemon;
use crate::driver::image::ImageDriver;
use crate::health::watch::start_due_checks;
use crate::health::HealthStatus;
use crate::policy::Clock;
use berth_package::RuntimeKind;
use berth_runtime::testkit::FakeRuntime;
use berth_runtime::ExecOutcome;
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct TestClock(Mutex<f64>);

impl Clock for TestClock {
    fn now(&self) -> f64 {
        *self.0.lock().unwrap()
    }
}

impl TestClock {
    fn advance(&self, secs: f64) {
        *self.0.lock().unwrap() += secs;
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    fake: Arc<FakeRuntime>,
    clock: Arc<TestClock>,
    d: Arc<Daemon>,
}

fn setup(restart_enabled: bool, max_retries: u32) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.service.working_path = dir.path().to_path_buf();
    let conf = serde_json::json!({"containers": [{"id": "web", "version": "1", "runtime": "podman",
        "autostart": true, "monitor": true,
        "restart": {"enabled": restart_enabled, "max_retries": max_retries, "retry_delay": 0, "window": 600},
        "health": {"cmd": ["/bin/check"], "interval": 5, "timeout": 2, "retries": 2, "start_period": 0}}]});
    std::fs::write(dir.path().join("containers.conf"), conf.to_string()).unwrap();
    let fake = Arc::new(FakeRuntime::default());
    fake.add_container("web", "img", true, &[]);
    let driver = ImageDriver::new(RuntimeKind::Podman, fake.clone());
    let mut daemon = Daemon::new(config, vec![Arc::new(driver)]);
    let clock = Arc::new(TestClock(Mutex::new(1000.0)));
    daemon.clock = clock.clone();
    let d = Arc::new(daemon);
    d.seen_running("web");
    Setup {
        _dir: dir,
        fake,
        clock,
        d,
    }
}

impl Setup {
    /// Moves the clock on by `secs` and runs the checks then due; how many ran.
    fn checks_after(&self, secs: f64) -> usize {
        self.clock.advance(secs);
        let threads = start_due_checks(&self.d);
        let n = threads.len();
        for t in threads {
            t.join().unwrap();
        }
        n
    }

    fn answer(&self, exit_code: i32, output: &str) {
        self.fake.exec_answers.lock().unwrap().insert(
            "web".into(),
            ExecOutcome {
                exit_code,
                output: output.into(),
            },
        );
    }

    fn health(&self) -> crate::health::Health {
        self.d.health_of(&self.d.entry("web").unwrap()).unwrap()
    }

    fn stops(&self) -> usize {
        self.fake
            .calls()
            .iter()
            .filter(|c| c.starts_with("stop web"))
            .count()
    }
}

#[test]
fn checks_run_every_interval_and_a_success_makes_it_healthy() {
    let s = setup(true, 3);
    assert_eq!(s.health().status, HealthStatus::Starting);
    // First sight: checked at once; then not before `interval`.
    assert_eq!(s.checks_after(0.0), 1);
    assert_eq!(s.health().status, HealthStatus::Healthy);
    assert_eq!(s.checks_after(4.0), 0);
    assert_eq!(s.checks_after(1.0), 1);
    let state = s.d.home.record("web").unwrap();
    assert_eq!(
        state.health.unwrap().status,
        HealthStatus::Healthy,
        "in state.json"
    );
}

#[test]
fn retries_failures_stop_it_and_the_restart_policy_restarts_it_then_gives_up() {
    let s = setup(true, 1);
    s.answer(1, "db down");
    s.checks_after(0.0);
    assert_eq!((s.health().status, s.stops()), (HealthStatus::Starting, 0));
    s.checks_after(5.0);
    let h = s.health();
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 2));
    assert_eq!(h.last_output.as_deref(), Some("exit code 1: db down"));
    assert_eq!(s.stops(), 1, "stopped to be restarted");
    // Its exit is a crash to the restart policy: restarted, health starting over.
    crate::supervise::on_exit(&s.d, "web", Some(143));
    assert!(s.fake.state_of("web").running);
    assert_eq!(s.d.supervision_summary("web").0, 1);
    assert_eq!(s.health().status, HealthStatus::Starting);
    // Unhealthy again: the budget (max_retries 1) is spent, so it is failed.
    s.checks_after(5.0);
    s.checks_after(5.0);
    assert_eq!(s.stops(), 2);
    crate::supervise::on_exit(&s.d, "web", Some(143));
    let (_, reason) = s.d.supervision_summary("web");
    let reason = reason.expect("failed");
    assert!(
        reason.contains("; last stopped as unhealthy after 2 failed checks: exit code 1: db down"),
        "{reason}"
    );
    assert!(!s.fake.state_of("web").running);
    // A failed container is not checked.
    assert_eq!(s.checks_after(50.0), 0);
}

#[test]
fn with_restart_off_an_unhealthy_container_keeps_running() {
    let s = setup(false, 3);
    s.answer(2, "");
    s.checks_after(0.0);
    s.checks_after(5.0);
    assert_eq!(s.health().status, HealthStatus::Unhealthy);
    assert_eq!(s.stops(), 0);
    assert!(s.fake.state_of("web").running);
}

#[test]
fn a_stopped_container_is_not_checked_and_a_manual_start_starts_its_health_over() {
    let s = setup(true, 3);
    s.answer(1, "no");
    s.checks_after(0.0);
    assert_eq!(s.health().failing_streak, 1);
    s.d.stop("web", std::time::Duration::from_secs(1)).unwrap();
    assert_eq!(s.checks_after(10.0), 0);
    s.d.start("web").unwrap();
    let h = s.health();
    assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
    // Not due before `interval` after the start.
    assert_eq!(s.checks_after(1.0), 0);
    assert_eq!(s.checks_after(4.0), 1);
}
