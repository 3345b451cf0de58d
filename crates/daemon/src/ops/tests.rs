//! Install, upgrade and recovery over the in-memory runtime: the order of the
//! runtime calls (docs/recovery.md) and what is left after a failure, without podman.

use crate::config::Config;
use crate::daemon::Daemon;
use crate::driver::image::ImageDriver;
use crate::error::OpError;
use crate::home::{LABEL_HOME, LABEL_ID, LABEL_VERSION};
use berth_package::testkit::{docker_archive, Parts};
use berth_package::RuntimeKind;
use berth_runtime::testkit::FakeRuntime;
use berth_runtime::Runtime;
use std::io::Cursor;
use std::sync::Arc;

struct Setup {
    _dir: tempfile::TempDir,
    fake: Arc<FakeRuntime>,
    daemon: Daemon,
}

fn setup() -> Setup {
    setup_keeping(Config::default().updates.keep_previous)
}

/// A podman package of `version` whose image is tagged `tag` and holds `content`.
fn package(version: &str, create_args: &str, tag: &str, content: &[u8]) -> Vec<u8> {
    let mut parts = Parts::podman();
    parts.manifest["version"] = version.into();
    parts.manifest["create_args"] = create_args.into();
    parts.payload = docker_archive(tag, &[("bin/app", content)]);
    parts.package()
}

fn install(s: &Setup, pkg: Vec<u8>) -> Result<berth_api::Installed, OpError> {
    s.daemon.install(Cursor::new(pkg), false)
}

/// The calls since the last `mark`, without the state lookups.
fn actions(fake: &FakeRuntime, from: usize) -> Vec<String> {
    fake.calls()[from..].to_vec()
}

#[test]
fn digis_documented_create_args_get_the_payloads_image_appended() {
    let s = setup();
    let digi = "--privileged --network host --tty";
    let done = install(&s, package("1.0.0", digi, "localhost/demo:1", b"a")).unwrap();
    assert_eq!(done.images, ["localhost/demo:1"]);
    let args = s.fake.create_args.lock().unwrap()["demo"].clone();
    // berthd's own options first, then Digi's as written, then the image.
    let tail: Vec<&str> = args[args.len() - 5..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "--privileged",
            "--network",
            "host",
            "--tty",
            "localhost/demo:1"
        ]
    );
}

#[test]
fn digis_recipe_entrypoint_form_is_kept_whole_and_the_image_follows_it() {
    let s = setup();
    let recipe = r#"--privileged --entrypoint '["/usr/bin/docker-init","/etc/init.sh"]'"#;
    install(&s, package("1.0.0", recipe, "localhost/demo:1", b"a")).unwrap();
    let args = s.fake.create_args.lock().unwrap()["demo"].clone();
    let tail: Vec<&str> = args[args.len() - 4..].iter().map(String::as_str).collect();
    assert_eq!(
        tail,
        [
            "--privileged",
            "--entrypoint",
            r#"["/usr/bin/docker-init","/etc/init.sh"]"#,
            "localhost/demo:1"
        ]
    );
}

#[test]
fn create_args_that_name_the_payloads_image_are_kept_as_they_are() {
    let s = setup();
    // `-v demo:1` takes a value that is not the image; `demo:1` names it (podman's
    // short form of localhost/demo:1), followed by the command.
    let args = "-v data:/data --network host demo:1 sh -c 'echo hi'";
    install(&s, package("1.0.0", args, "localhost/demo:1", b"a")).unwrap();
    let created = s.fake.create_args.lock().unwrap()["demo"].clone();
    let tail: Vec<&str> = created[created.len() - 8..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        [
            "-v",
            "data:/data",
            "--network",
            "host",
            "demo:1",
            "sh",
            "-c",
            "echo hi"
        ]
    );
}

#[test]
fn a_fresh_install_loads_creates_starts_commits_then_drops_the_transient_name() {
    let s = setup();
    install(&s, package("1.0.0", "--tty", "localhost/demo:1", b"a")).unwrap();
    let calls = actions(&s.fake, 0);
    let kinds: Vec<&str> = calls.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(kinds, ["load", "create", "start", "untag"], "{calls:?}");
    let c = s.fake.state_of("demo");
    assert!(c.running);
    assert_eq!(c.labels.get(LABEL_ID).map(String::as_str), Some("demo"));
    assert_eq!(
        c.labels.get(LABEL_VERSION).map(String::as_str),
        Some("1.0.0")
    );
    assert_eq!(s.daemon.entry("demo").unwrap().version, "1.0.0");
}

fn setup_keeping(keep_previous: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.service.working_path = dir.path().to_path_buf();
    config.updates.keep_previous = keep_previous;
    let fake = Arc::new(FakeRuntime::default());
    let driver = ImageDriver::new(RuntimeKind::Podman, fake.clone());
    let daemon = Daemon::new(config, vec![Arc::new(driver)]);
    Setup {
        _dir: dir,
        fake,
        daemon,
    }
}

/// `package`, with the upgrade's probation set.
fn package_on_probation(version: &str, tag: &str, content: &[u8], probation: u32) -> Vec<u8> {
    let mut parts = Parts::podman();
    parts.manifest["version"] = version.into();
    parts.manifest["create_args"] = "--tty".into();
    parts.manifest["registration_defaults"]["probation"] = probation.into();
    parts.payload = docker_archive(tag, &[("bin/app", content)]);
    parts.package()
}

#[test]
fn an_upgrade_without_probation_or_keep_previous_swaps_once_the_new_one_runs_and_removes_the_old() {
    let s = setup_keeping(false);
    install(
        &s,
        package_on_probation("1.0.0", "localhost/demo:1", b"a", 0),
    )
    .unwrap();
    let old_image = s.fake.state_of("demo").image.unwrap();
    let mark = s.fake.calls().len();
    let done = install(
        &s,
        package_on_probation("2.0.0", "localhost/demo:2", b"b", 0),
    )
    .unwrap();
    assert_eq!(done.replaced.as_deref(), Some("1.0.0"));
    assert_eq!(done.probation_until, None);
    let calls = actions(&s.fake, mark);
    assert_eq!(
        calls[1..6],
        [
            "rm demo.berth-new".to_string(),
            "create demo.berth-new".into(),
            "stop demo".into(),
            "start demo.berth-new".into(),
            "rm demo".into(),
        ],
        "{calls:?}"
    );
    assert_eq!(calls[6], "rename demo.berth-new demo");
    assert!(calls.contains(&format!("rmi {old_image}")), "{calls:?}");
    assert!(s.fake.images.lock().unwrap().get(&old_image).is_none());
    assert_eq!(s.daemon.entry("demo").unwrap().version, "2.0.0");
    assert!(s.daemon.home.record("demo").unwrap().previous.is_none());
}

#[test]
fn an_upgrade_keeps_the_old_version_stopped_and_a_rollback_puts_it_back() {
    let s = setup_keeping(true);
    install(
        &s,
        package_on_probation("1.0.0", "localhost/demo:1", b"a", 0),
    )
    .unwrap();
    let old_image = s.fake.state_of("demo").image.unwrap();
    install(
        &s,
        package_on_probation("2.0.0", "localhost/demo:2", b"b", 0),
    )
    .unwrap();
    let new_image = s.fake.state_of("demo").image.unwrap();
    // The old one is kept whole and stopped, its image with it.
    let kept = s.fake.state_of("demo.berth-prev");
    assert!(!kept.running);
    assert_eq!(kept.image.as_deref(), Some(old_image.as_str()));
    assert_eq!(
        kept.labels.get(LABEL_VERSION).map(String::as_str),
        Some("1.0.0")
    );
    let record = s.daemon.home.record("demo").unwrap();
    assert_eq!(record.previous.unwrap().version, "1.0.0");
    let mark = s.fake.calls().len();
    let done = s.daemon.rollback("demo", "by hand").unwrap();
    assert_eq!(
        (done.from.as_str(), done.to.as_str(), done.started),
        ("2.0.0", "1.0.0", true)
    );
    let calls = actions(&s.fake, mark);
    let order: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("stop") || c.starts_with("rename") || c.starts_with("start"))
        .collect();
    assert_eq!(
        order,
        [
            "stop demo",
            "rename demo demo.berth-rolledback",
            "rename demo.berth-prev demo",
            "start demo"
        ],
        "{calls:?}"
    );
    let now = s.fake.state_of("demo");
    assert!(now.running);
    assert_eq!(now.image.as_deref(), Some(old_image.as_str()));
    assert!(s.fake.state("demo.berth-rolledback").is_err());
    assert!(
        s.fake.images.lock().unwrap().get(&new_image).is_none(),
        "{calls:?}"
    );
    assert_eq!(s.daemon.entry("demo").unwrap().version, "1.0.0");
    let record = s.daemon.home.record("demo").unwrap();
    assert_eq!(record.version.as_deref(), Some("1.0.0"));
    assert_eq!(record.rolled_back.unwrap().from, "2.0.0");
    assert!(record.previous.is_none());
    // Nothing more to roll back to.
    let err = s.daemon.rollback("demo", "again").unwrap_err();
    assert!(
        err.to_string().contains("no previous version is kept"),
        "{err}"
    );
}

#[test]
fn an_upgrade_on_probation_that_exits_is_rolled_back_and_one_that_runs_on_is_committed() {
    let s = setup_keeping(false);
    install(
        &s,
        package_on_probation("1.0.0", "localhost/demo:1", b"a", 0),
    )
    .unwrap();
    let done = install(
        &s,
        package_on_probation("2.0.0", "localhost/demo:2", b"b", 30),
    )
    .unwrap();
    assert!(done.probation_until.is_some());
    assert!(s.daemon.on_probation("demo"));
    // It dies during its probation: rolled back, not restarted.
    s.fake
        .containers
        .lock()
        .unwrap()
        .get_mut("demo")
        .unwrap()
        .running = false;
    crate::supervise::on_exit(&s.daemon, "demo", Some(3));
    assert_eq!(s.daemon.entry("demo").unwrap().version, "1.0.0");
    assert!(s.fake.state_of("demo").running);
    let r = s.daemon.home.record("demo").unwrap().rolled_back.unwrap();
    assert_eq!(r.reason, "exited with code 3 during its probation");
    assert!(!s.daemon.on_probation("demo"));
    // This time it runs through: committed, and (keep_previous off) the old one goes.
    install(
        &s,
        package_on_probation("3.0.0", "localhost/demo:3", b"c", 1),
    )
    .unwrap();
    assert!(s.fake.state("demo.berth-prev").is_ok());
    std::thread::sleep(std::time::Duration::from_millis(1100));
    s.daemon.probation_tick();
    assert!(!s.daemon.on_probation("demo"));
    assert_eq!(s.daemon.entry("demo").unwrap().version, "3.0.0");
    assert!(s.fake.state("demo.berth-prev").is_err());
    assert!(s.daemon.home.record("demo").unwrap().previous.is_none());
}

#[test]
fn a_failed_upgrade_restarts_the_old_container_and_discards_the_new_image() {
    let s = setup();
    install(&s, package("1.0.0", "--tty", "localhost/demo:1", b"a")).unwrap();
    let old = s.fake.state_of("demo");
    s.fake.fail("start demo.berth-new");
    let err = install(&s, package("2.0.0", "--tty", "localhost/demo:2", b"b")).unwrap_err();
    assert!(matches!(err, OpError::Runtime { .. }), "{err}");
    let now = s.fake.state_of("demo");
    assert!(now.running, "the old version runs again");
    assert_eq!(now.image, old.image);
    assert!(s.fake.state("demo.berth-new").is_err());
    let images = s.fake.images.lock().unwrap().clone();
    assert_eq!(images.len(), 1, "only the old image is left: {images:?}");
    assert_eq!(s.daemon.entry("demo").unwrap().version, "1.0.0");
}

#[test]
fn recovery_undoes_an_upgrade_killed_before_its_commit_and_finishes_one_killed_after() {
    for committed in [false, true] {
        let s = setup();
        install(&s, package("1.0.0", "--tty", "localhost/demo:1", b"a")).unwrap();
        let home = s.daemon.home.working_path().display().to_string();
        let labels = [
            (LABEL_HOME, home.as_str()),
            (LABEL_ID, "demo"),
            (LABEL_VERSION, "2.0.0"),
        ];
        s.fake
            .add_container("demo.berth-new", "new-image", true, &labels);
        if committed {
            s.daemon
                .home
                .update_conf(|c| {
                    c.containers[0].version = "2.0.0".into();
                    Ok(())
                })
                .unwrap();
        }
        let lines = s.daemon.recover();
        if committed {
            assert!(s.fake.state("demo.berth-new").is_err(), "{lines:?}");
            assert_eq!(s.fake.state_of("demo").image.as_deref(), Some("new-image"));
        } else {
            assert!(s.fake.state("demo.berth-new").is_err(), "{lines:?}");
            assert_ne!(s.fake.state_of("demo").image.as_deref(), Some("new-image"));
        }
    }
}

#[test]
fn an_unknown_runtime_is_refused_never_run_by_podman() {
    let s = setup();
    let mut parts = Parts::lxc();
    parts.manifest["package_id"] = "box".into();
    let err = install(&s, parts.package()).unwrap_err();
    assert!(matches!(err, OpError::Unsupported(_)), "{err}");
    assert!(s.fake.calls().is_empty(), "{:?}", s.fake.calls());
}

/// Regression: a container without a log file fell back to the runtime's own log
/// command, which ignored --since (and --follow for LXC) and read an LXC console
/// path berthd never configures. Its log is now empty, and following it waits for
/// the file.
#[test]
fn the_log_of_a_container_that_wrote_nothing_is_empty_and_followed_once_it_writes() {
    use crate::ops::logs::LogRequest;
    let s = setup();
    install(&s, package("1.0.0", "--tty", "localhost/demo:1", b"a")).unwrap();
    let since = Some(std::time::SystemTime::now() - std::time::Duration::from_secs(60));
    let mut got = Vec::new();
    let request = LogRequest {
        since,
        ..Default::default()
    };
    s.daemon
        .logs("demo", &request, |b| {
            got.extend(b);
            true
        })
        .unwrap();
    assert!(got.is_empty(), "{got:?}");
    assert!(s.fake.calls().iter().all(|c| !c.starts_with("logs")));
    // Following: the first lines come when the file appears.
    let path = crate::container_log::path(s.daemon.home.working_path(), "demo");
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = humantime::format_rfc3339_nanos(std::time::SystemTime::now());
        std::fs::write(&path, format!("{now} stdout F first line\n")).unwrap();
    });
    let follow = LogRequest {
        follow: true,
        ..request
    };
    let mut followed = Vec::new();
    s.daemon
        .logs("demo", &follow, |b| {
            followed.extend(b);
            !followed.ends_with(b"first line\n")
        })
        .unwrap();
    writer.join().unwrap();
    assert_eq!(followed, b"first line\n");
}

mod rollback;
