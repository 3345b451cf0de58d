//! The runc driver's pure parts (config rewrite, crun on hybrid cgroups) and its
//! pidfd exit watch over real processes.

use super::*;

#[test]
fn the_config_is_made_detachable_and_keeps_what_it_does_not_set() {
    let text = br#"{"ociVersion":"1.0.2-dobby","root":{"path":"rootfs"},
        "process":{"terminal":true,"args":["sh"],"cwd":"/"},"dobby":{"plugins":{}}}"#;
    let out: Value = serde_json::from_slice(&rewrite_config(text, "/berth/web").unwrap()).unwrap();
    assert_eq!(out["process"]["terminal"], false);
    assert_eq!(out["linux"]["cgroupsPath"], "/berth/web");
    assert_eq!(out["dobby"], serde_json::json!({"plugins": {}}));
    assert_eq!(out["ociVersion"], "1.0.2-dobby");
    for root in ["/", "/rootfs", "../x", "a/../../b", ""] {
        let text = format!(r#"{{"root":{{"path":{root:?}}},"process":{{}}}}"#);
        let err = rewrite_config(text.as_bytes(), "/berth/web").unwrap_err();
        assert!(err.contains("root.path"), "{root}: {err}");
    }
}

#[test]
fn crun_is_refused_on_hybrid_cgroups_only() {
    let hybrid = crate::cgroup::Mounts::parse(
        "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
         31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
    );
    let unified =
        crate::cgroup::Mounts::parse("31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    let why = crun_unavailable("/usr/bin/crun", &hybrid).unwrap();
    assert!(
        why.contains("hybrid") && why.contains("runtimes.oci_runtime"),
        "{why}"
    );
    assert_eq!(crun_unavailable("crun", &unified), None);
    assert_eq!(crun_unavailable("runc", &hybrid), None);
}

#[test]
fn exit_lines_name_the_container() {
    let rec = Arc::new(crate::testkit::RecordingRunner::default());
    let r = Runc::new(
        rec,
        "runc",
        "/s".into(),
        "/b".into(),
        "/c".into(),
        Duration::from_secs(1),
    );
    assert_eq!(r.parse_exit_event("exit web"), Some(("web".into(), None)));
    assert_eq!(r.parse_exit_event("garbage"), None);
}

#[test]
fn the_exit_of_a_watched_process_is_reported() {
    let watch = ExitWatch::new();
    let mut child = std::process::Command::new("sleep")
        .arg("0.3")
        .spawn()
        .unwrap();
    watch.watch("short", child.id());
    let long = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    watch.watch("long", long.id());
    assert_eq!(watch.next_exit().as_deref(), Some("short"));
    let _ = child.wait();
    let mut long = long;
    let _ = long.kill();
    let _ = long.wait();
    assert_eq!(watch.next_exit().as_deref(), Some("long"));
    // A process already gone is reported at once.
    watch.watch("gone", u32::MAX >> 2);
    assert_eq!(watch.next_exit().as_deref(), Some("gone"));
}
