//! Probation's verdicts and rollback's recovery over the in-memory runtime: each
//! state a SIGKILL can leave a rollback in, and what recovery makes of it.

use super::*;

/// Versions 1 (kept) and 2 (current, on probation) of `demo`.
fn upgraded(probation: u32) -> Setup {
    upgraded_keeping(true, probation)
}

/// The same with `updates.keep_previous` as given (version 1 is kept while version
/// 2 is on probation either way).
fn upgraded_keeping(keep_previous: bool, probation: u32) -> Setup {
    let s = setup_keeping(keep_previous);
    install(
        &s,
        package_on_probation("1.0.0", "localhost/demo:1", b"a", 0),
    )
    .unwrap();
    install(
        &s,
        package_on_probation("2.0.0", "localhost/demo:2", b"b", probation),
    )
    .unwrap();
    s
}

fn version_label(s: &Setup, name: &str) -> Option<String> {
    s.fake
        .state(name)
        .ok()
        .and_then(|c| c.labels.get(LABEL_VERSION).cloned())
}

#[test]
fn a_probation_that_ends_without_a_health_verdict_is_rolled_back() {
    let s = upgraded(1);
    s.daemon
        .config_set(
            "demo",
            "health",
            &serde_json::json!({"cmd": ["/bin/check"], "interval": 1, "timeout": 1}),
        )
        .unwrap();
    // No check ran (no health thread here): still `starting` at the end, and one
    // interval + timeout later the verdict is missing.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.daemon.probation_tick();
    assert!(s.daemon.on_probation("demo"), "waits a check's time first");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    s.daemon.probation_tick();
    assert_eq!(s.daemon.entry("demo").unwrap().version, "1.0.0");
    let r = s.daemon.home.record("demo").unwrap().rolled_back.unwrap();
    assert_eq!(
        r.reason,
        "without a health verdict at the end during its probation"
    );
}

#[test]
fn recovery_undoes_a_rollback_killed_before_its_commit() {
    let s = upgraded(0);
    // Killed after the swap, before containers.conf named version 1 again.
    s.fake.rename("demo", "demo.berth-rolledback").unwrap();
    s.fake.rename("demo.berth-prev", "demo").unwrap();
    let lines = s.daemon.recover();
    assert!(
        lines
            .iter()
            .any(|l| l == "demo: undid an interrupted rollback"),
        "{lines:?}"
    );
    assert_eq!(version_label(&s, "demo").as_deref(), Some("2.0.0"));
    assert_eq!(
        version_label(&s, "demo.berth-prev").as_deref(),
        Some("1.0.0")
    );
    assert!(s.fake.state("demo.berth-rolledback").is_err());
    assert_eq!(s.daemon.entry("demo").unwrap().version, "2.0.0");
    assert_eq!(
        s.daemon
            .home
            .record("demo")
            .unwrap()
            .previous
            .unwrap()
            .version,
        "1.0.0"
    );
}

#[test]
fn recovery_finishes_a_rollback_killed_after_its_commit() {
    let s = upgraded(0);
    let new_image = s.fake.state_of("demo").image.unwrap();
    // Killed after containers.conf named version 1 again, before its record.
    s.fake.rename("demo", "demo.berth-rolledback").unwrap();
    s.fake.rename("demo.berth-prev", "demo").unwrap();
    let previous = s.daemon.home.record("demo").unwrap().previous.unwrap();
    let entry = crate::store::entry_from_json(&previous.entry).unwrap();
    s.daemon.home.register(&entry).unwrap();
    let lines = s.daemon.recover();
    assert!(
        lines
            .iter()
            .any(|l| l == "demo: its record is 1.0.0's again"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "demo: finished an interrupted rollback"),
        "{lines:?}"
    );
    assert_eq!(version_label(&s, "demo").as_deref(), Some("1.0.0"));
    assert!(s.fake.state("demo.berth-rolledback").is_err());
    assert!(s.fake.images.lock().unwrap().get(&new_image).is_none());
    let record = s.daemon.home.record("demo").unwrap();
    assert_eq!(record.version.as_deref(), Some("1.0.0"));
    assert!(record.previous.is_none());
}

/// Found by the SIGKILL trials (CI, trial 72 of seed 20261123): a kill after the
/// rolled-back container was removed and before its image was left the image with
/// nothing naming it.
#[test]
fn recovery_removes_the_image_of_a_rollback_killed_before_removing_it() {
    let s = upgraded(0);
    let new_image = s.fake.state_of("demo").image.unwrap();
    // Killed at the image's removal, its container already gone.
    s.fake.die_at(&format!("rmi {new_image}"));
    let rollback = std::panic::AssertUnwindSafe(|| s.daemon.rollback("demo", "by hand"));
    assert!(std::panic::catch_unwind(rollback).is_err());
    assert!(s.fake.state("demo.berth-rolledback").is_err());
    assert!(s.fake.images.lock().unwrap().contains_key(&new_image));
    s.daemon.recover();
    assert!(
        !s.fake.images.lock().unwrap().contains_key(&new_image),
        "the rolled-back version's image outlived the recovery"
    );
    assert_eq!(version_label(&s, "demo").as_deref(), Some("1.0.0"));
}

/// Found by the e2e follow tests at six test threads: who saw the rollback in
/// `status` did not always see the package refused in `updates` yet, and a kill
/// between the two (while the rolled-back image was removed) lost the refusal, so
/// the next check could install the broken version again.
#[test]
fn a_rollback_killed_while_removing_the_image_has_refused_the_followed_package() {
    let s = upgraded(0);
    let new_image = s.fake.state_of("demo").image.unwrap();
    s.daemon.update_follow("demo", |f| {
        f.taken = Some(crate::updates::file::Taken {
            digest: "sha256:two".into(),
            version: "2.0.0".into(),
        })
    });
    s.fake.die_at(&format!("rmi {new_image}"));
    let rollback = std::panic::AssertUnwindSafe(|| s.daemon.rollback("demo", "by hand"));
    assert!(std::panic::catch_unwind(rollback).is_err());
    let refused = s.daemon.follow_state("demo");
    assert_eq!(
        refused.is_refused("sha256:two").map(|r| r.version.as_str()),
        Some("2.0.0"),
        "the rolled-back package is not refused: {refused:?}"
    );
}

#[test]
fn recovery_keeps_the_previous_version_the_record_names_and_removes_another() {
    let s = upgraded(0);
    assert!(s.daemon.recover().iter().all(|l| !l.contains("previous")));
    assert_eq!(
        version_label(&s, "demo.berth-prev").as_deref(),
        Some("1.0.0")
    );
    // A record that keeps nothing: the kept container is a leftover.
    s.daemon.home.update_state(|st| {
        st.containers.get_mut("demo").unwrap().previous = None;
    });
    let lines = s.daemon.recover();
    assert!(
        lines
            .iter()
            .any(|l| l == "demo: removed a previous version no longer kept"),
        "{lines:?}"
    );
    assert!(s.fake.state("demo.berth-prev").is_err());
}

/// The same for a probation passed with `keep_previous` off: a kill while the
/// previous version's image goes leaves it to recovery, not behind.
#[test]
fn recovery_removes_the_image_of_a_previous_version_dropped_when_killed() {
    let s = upgraded_keeping(false, 1);
    let old_image = s.fake.state_of("demo.berth-prev").image.unwrap();
    s.fake.die_at(&format!("rmi {old_image}"));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let tick = std::panic::AssertUnwindSafe(|| s.daemon.probation_tick());
    assert!(std::panic::catch_unwind(tick).is_err());
    assert!(s.fake.images.lock().unwrap().contains_key(&old_image));
    s.daemon.recover();
    assert!(
        !s.fake.images.lock().unwrap().contains_key(&old_image),
        "the dropped version's image outlived the recovery"
    );
    assert!(s.daemon.home.record("demo").unwrap().previous.is_none());
    assert_eq!(version_label(&s, "demo").as_deref(), Some("2.0.0"));
}

/// Seen in CI (e2e probation, Docker): `berthctl install` reported the rollback, and
/// `docker ps -a` still listed the rolled-back container. The record that status
/// shows is written before that container is removed (for recovery's sake); status
/// now shows the rollback only once the removal is done.
#[test]
fn status_shows_a_rollback_once_the_rolled_back_version_is_removed() {
    let s = upgraded(0);
    let new_image = s.fake.state_of("demo").image.unwrap();
    // At the rolled-back image's removal (the last of the rollback's steps).
    let (reached, release) = s.fake.pause_at(&format!("rmi {new_image}"));
    std::thread::scope(|scope| {
        // Dropped if an assertion fails, so that the rollback goes on and the scope ends.
        let release = release;
        let rollback = scope.spawn(|| s.daemon.rollback("demo", "by hand"));
        reached.recv().unwrap();
        // Committed (version 1 registered and its record written), not yet finished.
        assert!(s.daemon.home.record("demo").unwrap().rolled_back.is_some());
        let st = s.daemon.status("demo").unwrap();
        assert_eq!(st.version, "1.0.0");
        assert!(
            st.rolled_back.is_none(),
            "status shows the rollback while the rolled-back version is being removed: {:?}",
            st.rolled_back
        );
        release.send(()).unwrap();
        rollback.join().unwrap().unwrap();
    });
    assert!(s.fake.state("demo.berth-rolledback").is_err());
    assert!(!s.fake.images.lock().unwrap().contains_key(&new_image));
    let st = s.daemon.status("demo").unwrap();
    assert_eq!(st.rolled_back.map(|r| r.from).as_deref(), Some("2.0.0"));
}
