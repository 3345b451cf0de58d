//! Routing and error answers, over a fake runtime.

use super::*;
use crate::config::Config;
use crate::driver::image::ImageDriver;
use berth_runtime::testkit::FakeRuntime;
use berth_runtime::{CommandError, RuntimeError};
use http_body_util::BodyExt;
use std::path::Path;

/// A daemon over a fake runtime where "web" runs (and "gone" does not exist).
fn daemon(dir: &Path) -> Daemon {
    let mut config = Config::default();
    config.service.working_path = dir.to_path_buf();
    let fake = Arc::new(FakeRuntime::default());
    fake.add_container("web", "img", true, &[]);
    let driver = ImageDriver::new(berth_package::RuntimeKind::Podman, fake);
    Daemon::new(config, vec![Arc::new(driver)])
}

fn body(r: Answer) -> (StatusCode, serde_json::Value) {
    let status = r.status();
    let bytes = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(r.into_body().collect())
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn status_asks_the_runtime_and_reports_a_container_removed_behind_its_back() {
    let dir = tempfile::tempdir().unwrap();
    let entry = |id: &str| {
        serde_json::json!({"id": id, "version": "1", "runtime": "podman", "autostart": true, "monitor": true,
            "restart": {"enabled": true, "max_retries": 1, "retry_delay": 0, "window": 1}})
    };
    let conf = serde_json::json!({"containers": [entry("web"), entry("gone")]});
    std::fs::write(dir.path().join("containers.conf"), conf.to_string()).unwrap();
    let d = daemon(dir.path());
    let s = d.status("web").unwrap();
    assert_eq!((s.status.as_str(), s.pid), ("running", Some(4242)));
    assert_eq!(d.status("gone").unwrap().status, "missing");
    let (s, v) = body(op_error(&d.status("nope").unwrap_err()));
    assert_eq!(
        (s, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some(codes::NO_SUCH_CONTAINER))
    );
}

#[test]
fn every_operation_error_has_its_stable_code() {
    let cases = [
        (
            OpError::Package("x".into()),
            StatusCode::BAD_REQUEST,
            codes::PACKAGE_INVALID,
        ),
        (
            OpError::AlreadyInstalled {
                id: "a".into(),
                version: "1".into(),
            },
            StatusCode::CONFLICT,
            codes::ALREADY_INSTALLED,
        ),
        (
            OpError::NoSpace("x".into()),
            StatusCode::INSUFFICIENT_STORAGE,
            codes::NO_SPACE,
        ),
        (
            OpError::BadRequest("x".into()),
            StatusCode::BAD_REQUEST,
            codes::BAD_REQUEST,
        ),
        (
            OpError::Runtime {
                context: "c".into(),
                source: RuntimeError::Command(CommandError::Timeout {
                    command: "podman".into(),
                    timeout: Duration::from_secs(1),
                }),
            },
            StatusCode::GATEWAY_TIMEOUT,
            codes::RUNTIME_FAILED,
        ),
    ];
    for (e, status, code) in cases {
        let (s, v) = body(op_error(&e));
        assert_eq!((s, v["code"].as_str()), (status, Some(code)), "{e}");
    }
}

#[test]
fn a_broken_containers_conf_is_reported_not_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("containers.conf"), b"{\"containers\": 3}").unwrap();
    let d = daemon(dir.path());
    let (s, v) = body(op_error(&d.entry("web").unwrap_err()));
    assert_eq!(
        (s, v["code"].as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Some(codes::STORE_INVALID)
        )
    );
    assert!(v["message"]
        .as_str()
        .unwrap()
        .contains("containers is required"));
    let err = d
        .config_set("web", "autostart", &serde_json::json!(false))
        .unwrap_err();
    assert!(err.to_string().contains("containers is required"), "{err}");
    assert_eq!(
        std::fs::read(dir.path().join("containers.conf")).unwrap(),
        b"{\"containers\": 3}"
    );
}
