//! The podman driver against real podman: load, create, start, state, stop, remove;
//! create_args arrive as literal argv.

use berth_e2e::*;
use berth_runtime::{split_create_args, Podman, Runtime, RuntimeError, SystemRunner};
use std::sync::Arc;
use std::time::Duration;

fn driver() -> Podman {
    Podman::new(
        Arc::new(SystemRunner),
        Duration::from_secs(60),
        Duration::from_secs(300),
    )
}

#[test]
fn podman_driver_runs_a_container_through_its_life() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(dir.path(), "localhost/berth-e2e-driver:1", "sleep 300");
    let archive = dir.path().join("image.tar");
    image.save("docker-archive", &archive);
    image.remove();

    let p = driver();
    let id = "berth-e2e-driver";
    let _ = p.remove(id);
    assert_eq!(p.load_image(&archive).unwrap(), vec![image.tag.clone()]);
    p.create(id, &split_create_args(&image.tag).unwrap())
        .unwrap();
    assert_eq!(p.state(id).unwrap().status, "created");
    p.start(id).unwrap();
    let running = p.state(id).unwrap();
    assert!(running.running && running.pid.is_some(), "{running:?}");
    // podman's own restart policy is off: berthd is the only one restarting.
    let policy = ok(&mut cmd(
        "podman",
        &[
            "inspect",
            "--format",
            "{{.HostConfig.RestartPolicy.Name}}",
            id,
        ],
    ));
    assert!(
        matches!(policy.trim(), "no" | ""),
        "restart policy {policy:?}"
    );

    p.stop(id, Duration::from_secs(1)).unwrap();
    let stopped = p.state(id).unwrap();
    assert!(
        !stopped.running && stopped.exit_code.is_some(),
        "{stopped:?}"
    );
    p.remove(id).unwrap();
    assert!(matches!(p.state(id), Err(RuntimeError::NoSuchContainer(_))));
    assert!(matches!(p.start(id), Err(RuntimeError::NoSuchContainer(_))));
    p.remove_image(&image.tag).unwrap();
}

#[test]
fn shell_tricks_in_create_args_arrive_as_literal_argv() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(dir.path(), "localhost/berth-e2e-argv:1", "true");
    let p = driver();
    let id = "berth-e2e-argv";
    let _ = p.remove(id);
    let canary = dir.path().join("pwned");
    let text = format!(
        r#"--env 'X=$(touch {c})' {img} sh -c 'echo "$X"; echo ; touch {c}-not'"#,
        c = canary.display(),
        img = image.tag
    );
    p.create(id, &split_create_args(&text).unwrap()).unwrap();
    p.start(id).unwrap();
    let _ = ok(&mut cmd("podman", &["wait", id]));
    let logs = ok(&mut cmd("podman", &["logs", id]));
    assert_eq!(
        logs.lines().next(),
        Some(format!("$(touch {})", canary.display()).as_str())
    );
    // Nothing ran on the host: the canary does not exist outside the container.
    assert!(!canary.exists());
    p.remove(id).unwrap();
}
