//! `berth image unpack` against `umoci unpack` of the same image, file by file (the
//! hostile corpus is in `unpack_hostile`).

use berth_e2e::cli::berth_ok;
use berth_e2e::images::*;
use berth_e2e::*;
use berth_image::Layout;
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tar::EntryType;

#[test]
fn unpack_matches_umoci_file_by_file() {
    require(&["umoci"]);
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    let layout = Layout::create(&layout_dir).unwrap();
    let mut layers = busybox_layers(dir.path());
    let mut middle = LayerTar::new()
        .dir("etc", 0o755)
        .file(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n",
            0o644,
        )
        .file(
            "etc/group",
            b"root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
            0o644,
        )
        .file("app/suid", b"s", 0o4755)
        .file("app/secret", b"p", 0o600)
        .hardlink("app/secret-link", "app/secret")
        .symlink("app/abs", "/etc/passwd")
        .symlink("app/rel", "../etc/group")
        .dir("ro", 0o555)
        .file(
            "ro/inside",
            b"written before its directory became read-only",
            0o444,
        )
        .node("app/fifo", EntryType::Fifo, 0, 0)
        .node("app/null", EntryType::Char, 1, 3)
        .file_with_xattr("app/tagged", b"x", "user.berth", "yes")
        .dir("opq", 0o755)
        .file("opq/lower-a", b"a", 0o644)
        .file("opq/lower-b", b"b", 0o644)
        .dir("gone", 0o755)
        .file("gone/file", b"g", 0o644)
        .file("becomes-dir", b"f", 0o644);
    middle.file_owned("app/owned", b"o", 0o640, 1000, 2000);
    layers.push(middle.finish());
    layers.push(
        LayerTar::new()
            .file("opq/.wh..wh..opq", b"", 0o644)
            .file("opq/upper", b"u", 0o644)
            .file("app/.wh.run.sh", b"", 0o644)
            .file(".wh.gone", b"", 0o644)
            .dir("becomes-dir", 0o700)
            .finish(),
    );
    let run = json!({"User": "app", "Entrypoint": ["/bin/sh"], "Cmd": ["-c", "id"], "Env": ["PATH=/bin", "A=b"], "WorkingDir": "/app", "Labels": {"l": "v"}, "ExposedPorts": {"80/tcp": {}}});
    let (digest, size) = put_image(&layout, &layers, true, "amd64", None, run);
    tag_manifest(&layout, "v1", &digest, size);

    let ours = dir.path().join("berth");
    let theirs = dir.path().join("umoci");
    berth_ok(&[
        "image",
        "unpack",
        "--quiet",
        &format!("oci:{}:v1", layout_dir.display()),
        &ours.display().to_string(),
    ]);
    ok(cmd("umoci", &["unpack", "--image"])
        .arg(format!("{}:v1", layout_dir.display()))
        .arg(&theirs));
    // Issue 21, finding 6: DIR is as closed as umoci's (0700), not world-readable.
    let dir_mode = |d: &Path| std::fs::metadata(d).unwrap().mode() & 0o7777;
    assert_eq!(dir_mode(&theirs), 0o700, "umoci's DIR");
    assert_eq!(dir_mode(&ours), dir_mode(&theirs), "DIR's mode as umoci's");
    let (a, b) = (tree(&ours.join("rootfs")), tree(&theirs.join("rootfs")));
    for (path, theirs) in &b {
        assert_eq!(
            a.get(path),
            Some(theirs),
            "{path}: berth's differs from umoci's"
        );
    }
    assert_eq!(
        a.len(),
        b.len(),
        "the same paths: {:?}",
        a.keys().filter(|k| !b.contains_key(*k)).collect::<Vec<_>>()
    );
    assert!(
        a["opq/upper"].starts_with("file") && !a.contains_key("opq/lower-a"),
        "the opaque directory lost lower content only"
    );
    assert!(
        !a.contains_key("gone") && !a.contains_key("app/run.sh"),
        "whiteouts removed"
    );
    let spec = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(
        spec(&ours),
        spec(&theirs),
        "the same runtime spec as umoci's"
    );
}

#[test]
fn rootless_unpack_matches_umoci_rootless() {
    require(&["umoci"]);
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    let layout = Layout::create(&layout_dir).unwrap();
    let mut layer = LayerTar::new()
        .dir("dev", 0o755)
        .node("dev/null", EntryType::Char, 1, 3)
        .node("dev/sda", EntryType::Block, 8, 0)
        .node("pipe", EntryType::Fifo, 0, 0);
    layer.file_owned("owned", b"o", 0o640, 1000, 2000);
    let (digest, size) = put_image(
        &layout,
        &[layer.finish()],
        true,
        "amd64",
        None,
        json!({"Cmd": ["/bin/true"]}),
    );
    tag_manifest(&layout, "v1", &digest, size);
    let (ours, theirs) = (dir.path().join("berth"), dir.path().join("umoci"));
    berth_ok(&[
        "image",
        "unpack",
        "--quiet",
        "--rootless",
        &format!("oci:{}:v1", layout_dir.display()),
        &ours.display().to_string(),
    ]);
    ok(cmd("umoci", &["unpack", "--rootless", "--image"])
        .arg(format!("{}:v1", layout_dir.display()))
        .arg(&theirs));
    let (a, b) = (tree(&ours.join("rootfs")), tree(&theirs.join("rootfs")));
    assert_eq!(a, b, "berth's rootless tree is umoci's");
    assert!(
        a["dev/null"].starts_with("file 0 bytes"),
        "an empty file in place of a device: {}",
        a["dev/null"]
    );
    let me = format!(
        "owner {}:{}",
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw()
    );
    assert!(
        a["owned"].contains(&me),
        "owned by the caller: {}",
        a["owned"]
    );
    let spec = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("config.json")).unwrap()).unwrap()
    };
    assert_eq!(spec(&ours), spec(&theirs), "umoci's rootless runtime spec");
}
