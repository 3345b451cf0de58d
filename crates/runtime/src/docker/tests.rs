//! The docker driver over a recording runner: the exact argv, and what it reads of
//! Docker's answers.

use super::*;
use crate::testkit::RecordingRunner;

fn docker() -> (Arc<RecordingRunner>, Docker) {
    let rec = Arc::new(RecordingRunner::default());
    let d = Docker::new(
        rec.clone(),
        Duration::from_secs(30),
        Duration::from_secs(600),
    );
    (rec, d)
}

#[test]
fn create_turns_dockers_restart_off_and_never_pulls() {
    let (rec, d) = docker();
    let args = crate::split_create_args("--init --env 'X=$(reboot)' localhost/app:1").unwrap();
    d.create("web", &args).unwrap();
    assert_eq!(
        rec.calls()[0].args,
        [
            "create",
            "--name",
            "web",
            "--restart=no",
            "--pull=never",
            "--init",
            "--env",
            "X=$(reboot)",
            "localhost/app:1"
        ]
    );
}

#[test]
fn inspect_json_gives_state_labels_image_and_log() {
    let json = r#"[{"Id":"0f","Name":"/web","Image":"sha256:abc","LogPath":"/var/lib/docker/containers/1/1-json.log",
        "State":{"Status":"exited","Running":false,"Pid":0,"ExitCode":3,"StartedAt":"2026-01-01T00:00:00Z"},
        "Config":{"Labels":{"berth.id":"web"}}}]"#;
    let s = listing::parse_inspect(json).unwrap().pop().unwrap();
    assert_eq!(
        (
            s.id.as_str(),
            s.status.as_str(),
            s.running,
            s.pid,
            s.exit_code
        ),
        ("web", "exited", false, None, Some(3))
    );
    assert_eq!(s.image.as_deref(), Some("abc"));
    assert_eq!(s.labels["berth.id"], "web");
    assert_eq!(
        s.log_path.unwrap(),
        Path::new("/var/lib/docker/containers/1/1-json.log")
    );
}

#[test]
fn die_events_give_the_name_and_exit_code() {
    let (_, d) = docker();
    let line = r#"{"status":"die","id":"1f","Type":"container","Action":"die","Actor":{"ID":"1f","Attributes":{"exitCode":"137","name":"web"}},"time":1}"#;
    assert_eq!(d.parse_exit_event(line), Some(("web".into(), Some(137))));
    let start = line.replace("\"die\"", "\"start\"");
    assert_eq!(d.parse_exit_event(&start), None);
    assert_eq!(d.parse_exit_event("not json"), None);
}

#[test]
fn a_missing_container_is_told_apart() {
    let (rec, d) = docker();
    rec.answer(
        "docker",
        &["container", "inspect"],
        Err("Error: No such container: web"),
    );
    assert!(matches!(
        d.state("web"),
        Err(RuntimeError::NoSuchContainer(_))
    ));
}

#[test]
fn images_are_grouped_by_id_with_their_names() {
    let (rec, d) = docker();
    rec.answer(
        "docker",
        &["image", "ls"],
        Ok(concat!(
            r#"{"ID":"sha256:aa","Repository":"localhost/app","Tag":"1"}"#,
            "\n",
            r#"{"ID":"sha256:aa","Repository":"app","Tag":"latest"}"#,
            "\n",
            r#"{"ID":"sha256:bb","Repository":"<none>","Tag":"<none>"}"#,
            "\n"
        )),
    );
    assert_eq!(
        d.images().unwrap(),
        [
            (
                "aa".to_string(),
                vec!["localhost/app:1".to_string(), "app:latest".into()]
            ),
            ("bb".to_string(), vec![])
        ]
    );
}

#[test]
fn a_tick_lists_with_one_ps_and_inspects_only_what_changed() {
    let (rec, d) = docker();
    let inspect = |state: &str, running: bool| {
        format!(
            r#"[{{"Id":"c1","Name":"/web","State":{{"Status":"{state}","Running":{running},"Pid":0,"ExitCode":0}},"Config":{{"Labels":{{}}}}}}]"#
        )
    };
    rec.answer_always("docker", &["ps"], "c1\tweb\texited\n");
    rec.answer(
        "docker",
        &["container", "inspect"],
        Ok(&inspect("exited", false)),
    );
    let first = d.list().unwrap();
    assert_eq!(
        (first[0].id.as_str(), first[0].status.as_str()),
        ("web", "exited")
    );
    // Nothing changed: no inspect.
    assert_eq!(d.list().unwrap(), first);
    let inspects = || {
        rec.calls()
            .iter()
            .filter(|c| c.args.first().map(String::as_str) == Some("container"))
            .count()
    };
    assert_eq!(inspects(), 1);
    assert_eq!(
        rec.calls()[0].args,
        [
            "ps",
            "-a",
            "--no-trunc",
            "--format",
            "{{.ID}}\t{{.Names}}\t{{.State}}"
        ]
    );
}

#[test]
fn a_changed_state_or_name_is_inspected_again() {
    let rec = Arc::new(RecordingRunner::default());
    let d = Docker::new(
        rec.clone(),
        Duration::from_secs(30),
        Duration::from_secs(600),
    );
    let inspect = |name: &str, status: &str| {
        format!(
            r#"[{{"Id":"c1","Name":"/{name}","State":{{"Status":"{status}","Running":false,"Pid":0,"ExitCode":0}}}}]"#
        )
    };
    for (ps, name, status) in [
        ("c1\tweb.berth-new\tcreated\n", "web.berth-new", "created"),
        ("c1\tweb.berth-new\texited\n", "web.berth-new", "exited"),
        ("c1\tweb\texited\n", "web", "exited"),
    ] {
        rec.answer("docker", &["ps"], Ok(ps));
        rec.answer(
            "docker",
            &["container", "inspect"],
            Ok(&inspect(name, status)),
        );
        let listed = d.list().unwrap();
        assert_eq!(
            (listed[0].id.as_str(), listed[0].status.as_str()),
            (name, status)
        );
    }
    // A container gone from ps is gone from the listing.
    rec.answer("docker", &["ps"], Ok(""));
    assert!(d.list().unwrap().is_empty());
}
