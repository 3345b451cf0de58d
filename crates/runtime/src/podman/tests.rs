//! The podman driver over a recording runner: the exact argv, and what it reads of
//! podman's answers.

use super::*;
use crate::testkit::RecordingRunner;

/// A podman over a recording runner answering its calls in turn: the answers
/// are taken from the end of `answers`.
fn podman(answers: Vec<Result<String, CommandError>>) -> (Arc<RecordingRunner>, Podman) {
    let rec = Arc::new(RecordingRunner::default());
    for answer in answers.into_iter().rev() {
        match answer {
            Ok(out) => rec.answer("podman", &[], Ok(&out)),
            Err(CommandError::Failed { stderr, .. }) => rec.answer("podman", &[], Err(&stderr)),
            Err(e) => panic!("unscriptable answer {e}"),
        }
    }
    let p = Podman::new(
        rec.clone(),
        Duration::from_secs(30),
        Duration::from_secs(600),
    );
    (rec, p)
}

#[test]
fn create_passes_argv_with_berths_name_and_no_restart() {
    let (rec, p) = podman(vec![]);
    let args =
        crate::split_create_args("--env 'X=$(reboot)' localhost/app:1 sh -c 'echo; rm -rf /'")
            .unwrap();
    p.create("web", &args).unwrap();
    let call = &rec.calls()[0];
    assert_eq!(call.program, "podman");
    assert_eq!(
        call.args,
        [
            "create",
            "--name",
            "web",
            "--restart=no",
            "--pull=never",
            "--env",
            "X=$(reboot)",
            "localhost/app:1",
            "sh",
            "-c",
            "echo; rm -rf /"
        ]
    );
    assert_eq!(call.timeout, Duration::from_secs(30));
}

fn failed(stderr: &str) -> Result<String, CommandError> {
    Err(CommandError::Failed {
        command: "podman create".into(),
        status: "exit status: 125".into(),
        stderr: stderr.into(),
    })
}

#[test]
fn a_create_whose_image_lookup_raced_is_tried_again_a_few_times() {
    // Answers are popped from the end: two lookups miss, the third works.
    let (rec, p) = podman(vec![
        Ok(String::new()),
        failed("Error: localhost/app:1: image not known"),
        failed("Error: localhost/app:1: image not known"),
    ]);
    p.create("web", &["localhost/app:1".to_string()]).unwrap();
    assert_eq!(rec.calls().len(), 3);

    // An image that is really missing fails after the retries; other errors at once.
    let missing = (0..10)
        .map(|_| failed("Error: localhost/app:1: image not known"))
        .collect();
    let (rec, p) = podman(missing);
    let err = p
        .create("web", &["localhost/app:1".to_string()])
        .unwrap_err();
    assert!(err.to_string().contains("image not known"), "{err}");
    assert_eq!(rec.calls().len(), 1 + CREATE_RETRIES as usize);
    let (rec, p) = podman(vec![failed("Error: name is in use")]);
    assert!(p.create("web", &["localhost/app:1".to_string()]).is_err());
    assert_eq!(rec.calls().len(), 1);
}

#[test]
fn create_refuses_a_different_name() {
    let (_, p) = podman(vec![]);
    let args = crate::split_create_args("--name other img").unwrap();
    assert!(p.create("web", &args).is_err());
    let args = crate::split_create_args("--name=web img").unwrap();
    assert!(p.create("web", &args).is_ok());
}

#[test]
fn load_uses_the_load_timeout_and_reports_images() {
    let (rec, p) = podman(vec![Ok("Loaded image: localhost/a:1\n".into())]);
    assert_eq!(
        p.load_image(Path::new("/w/image.tar")).unwrap(),
        ["localhost/a:1"]
    );
    assert_eq!(rec.calls()[0].timeout, Duration::from_secs(600));
}

#[test]
fn state_is_read_from_inspect_json() {
    let json = r#"[{"Id":"abc","State":{"Status":"exited","Running":false,"Pid":0,"ExitCode":3,"StartedAt":"2026-01-01T00:00:00Z"}}]"#;
    let (_, p) = podman(vec![Ok(json.into())]);
    let s = p.state("web").unwrap();
    assert_eq!(
        (s.status.as_str(), s.running, s.pid, s.exit_code),
        ("exited", false, None, Some(3))
    );
}

#[test]
fn a_missing_container_is_told_apart() {
    let (_, p) = podman(vec![Err(CommandError::Failed {
        command: "podman inspect".into(),
        status: "exit status: 125".into(),
        stderr: "Error: no container with name or ID \"web\" found: no such container".into(),
    })]);
    assert!(matches!(
        p.state("web"),
        Err(RuntimeError::NoSuchContainer(_))
    ));
}

#[test]
fn a_resumed_event_stream_asks_podman_for_the_events_since() {
    let (rec, p) = podman(vec![]);
    drop(p.events(None).unwrap());
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    drop(p.events(Some(t)).unwrap());
    let calls = rec.calls();
    assert!(!calls[0].args.contains(&"--since".to_string()));
    let since = calls[1].args.iter().position(|a| a == "--since").unwrap();
    assert_eq!(calls[1].args[since + 1], "2026-09-21T14:13:20Z");
    assert!(calls[1].args.contains(&"event=died".to_string()));
}
