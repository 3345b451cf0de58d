//! `berth image unpack` against `umoci unpack` of the same image, file by file, and
//! a corpus of hostile layers that try every way out of the extraction directory.

use crate::image_copy::{berth, berth_ok};
use berth_e2e::images::*;
use berth_e2e::*;
use berth_image::Layout;
use serde_json::json;
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use tar::EntryType;

/// Every path under `root`: type, mode, owner, size, content hash, link target,
/// device, mtime and user xattrs.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let t = m.file_type();
            let kind = if t.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if t.is_symlink() {
                format!(
                    "symlink -> {}",
                    std::fs::read_link(&path).unwrap().display()
                )
            } else if t.is_file() {
                format!("file {} bytes {}", m.len(), sha256_hex(&path))
            } else if t.is_fifo() {
                "fifo".into()
            } else if t.is_char_device() {
                format!("char {}", m.rdev())
            } else {
                format!("other {}", m.rdev())
            };
            let mut xattrs = Vec::new();
            let mut names = vec![0u8; 4096];
            if let Ok(n) = rustix::fs::llistxattr(&path, &mut names) {
                for name in names[..n]
                    .split(|b| *b == 0)
                    .filter(|n| n.starts_with(b"user."))
                {
                    let mut value = vec![0u8; 4096];
                    let name = std::str::from_utf8(name).unwrap();
                    let len = rustix::fs::lgetxattr(&path, name, &mut value).unwrap();
                    xattrs.push(format!("{name}={}", String::from_utf8_lossy(&value[..len])));
                }
            }
            let mode = if t.is_symlink() { 0 } else { m.mode() & 0o7777 };
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(
                rel,
                format!(
                    "{kind} mode {mode:o} owner {}:{} mtime {} {}",
                    m.uid(),
                    m.gid(),
                    m.mtime(),
                    xattrs.join(",")
                ),
            );
        }
    }
    out
}

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

/// One hostile layer on top of a small base; returns berth's output.
fn unpack_hostile(
    work: &Path,
    name: &str,
    layer: Vec<u8>,
) -> (std::process::Output, std::path::PathBuf) {
    let layout_dir = work.join(format!("layout-{name}"));
    let layout = Layout::create(&layout_dir).unwrap();
    let base = LayerTar::new()
        .dir("etc", 0o755)
        .file("etc/hostname", b"box\n", 0o644)
        .finish();
    let (digest, size) = put_image(&layout, &[base, layer], false, "amd64", None, json!({}));
    tag_manifest(&layout, "v1", &digest, size);
    let bundle = work.join(format!("bundle-{name}"));
    let out = berth(&[
        "image",
        "unpack",
        "--quiet",
        &format!("oci:{}:v1", layout_dir.display()),
        &bundle.display().to_string(),
    ]);
    (out, bundle)
}

#[test]
fn hostile_layers_never_reach_outside_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    // What an escape would hit: a directory beside the bundle, and its secret.
    let outside = work.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "untouched").unwrap();
    let o = outside.display().to_string();
    let up = "../../../../../../../../..";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dotdot-name",
            LayerTar::new()
                .raw(&format!("{up}{o}/pwned"), EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "absolute-name",
            LayerTar::new()
                .raw(&format!("{o}/pwned"), EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "through-absolute-symlink",
            LayerTar::new()
                .symlink("evil", &o)
                .raw("evil/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "through-relative-symlink",
            LayerTar::new()
                .symlink("evil", &format!("{up}{o}"))
                .raw("evil/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "through-a-symlink-chain",
            LayerTar::new()
                .symlink("a", "b")
                .symlink("b", &format!("c{o}"))
                .symlink("c", up)
                .raw("a/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "dotdot-after-symlink",
            LayerTar::new()
                .dir("d", 0o755)
                .symlink("d/s", "/")
                .raw(
                    &format!("d/s/{up}{o}/pwned"),
                    EntryType::Regular,
                    None,
                    b"x",
                )
                .finish(),
        ),
        (
            "hardlink-to-outside",
            LayerTar::new()
                .raw(
                    "stolen",
                    EntryType::Link,
                    Some(&format!("{up}{o}/secret")),
                    b"",
                )
                .finish(),
        ),
        (
            "hardlink-through-symlink",
            LayerTar::new()
                .symlink("evil", &o)
                .raw("stolen", EntryType::Link, Some("evil/secret"), b"")
                .finish(),
        ),
        (
            "write-through-a-hardlinked-symlink",
            LayerTar::new()
                .symlink("evil", &format!("{o}/secret"))
                .raw("h", EntryType::Link, Some("evil"), b"")
                .raw("h", EntryType::Regular, None, b"overwritten")
                .finish(),
        ),
        (
            "file-over-symlink",
            LayerTar::new()
                .symlink("f", &format!("{o}/secret"))
                .raw("f", EntryType::Regular, None, b"overwritten")
                .finish(),
        ),
        (
            "whiteout-through-symlink",
            LayerTar::new()
                .symlink("evil", &o)
                .raw("evil/.wh.secret", EntryType::Regular, None, b"")
                .finish(),
        ),
        (
            "whiteout-dotdot",
            LayerTar::new()
                .raw(
                    &format!("{up}{o}/.wh.secret"),
                    EntryType::Regular,
                    None,
                    b"",
                )
                .finish(),
        ),
        (
            "opaque-through-symlink",
            LayerTar::new()
                .symlink("evil", &o)
                .raw("evil/.wh..wh..opq", EntryType::Regular, None, b"")
                .finish(),
        ),
        (
            "directory-over-symlink",
            LayerTar::new()
                .symlink("evil", &o)
                .dir("evil", 0o777)
                .raw("evil/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "device-node-name-escape",
            LayerTar::new()
                .raw(&format!("{up}{o}/null"), EntryType::Char, None, b"")
                .finish(),
        ),
        (
            "symlink-loop",
            LayerTar::new()
                .symlink("loop", "loop")
                .raw("loop/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "etc-symlinked-out-then-written",
            LayerTar::new()
                .raw(".wh.etc", EntryType::Regular, None, b"")
                .symlink("etc", &o)
                .raw("etc/hostname", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "whiteout-of-the-root",
            LayerTar::new()
                .raw(".wh..", EntryType::Regular, None, b"")
                .finish(),
        ),
    ];
    for (name, layer) in cases {
        let (out, bundle) = unpack_hostile(work, name, layer);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Either refused (exit 2, one line naming the layer and entry) or unpacked inside.
        match out.status.code() {
            Some(0) => assert!(bundle.join("rootfs").is_dir(), "{name}"),
            Some(2) => {
                assert_eq!(stderr.lines().count(), 1, "{name}: one line: {stderr}");
                assert!(
                    stderr.contains("layer sha256:"),
                    "{name}: names the layer: {stderr}"
                );
                assert!(!bundle.exists(), "{name}: a refused unpack leaves nothing");
            }
            other => panic!("{name}: exit {other:?}: {stderr}"),
        }
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "untouched",
            "{name}"
        );
        let names: Vec<_> = std::fs::read_dir(&outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("secret")],
            "{name}: nothing new outside"
        );
        let leftovers: Vec<_> = std::fs::read_dir(work)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".berth-unpack-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{name}: no work directory left: {leftovers:?}"
        );
    }
    // Where a name was cleaned, the file landed inside.
    let inside = work
        .join("bundle-dotdot-name/rootfs")
        .join(outside.strip_prefix("/").unwrap())
        .join("pwned");
    assert!(inside.is_file(), "../ names land inside the rootfs");
}

#[test]
fn a_layer_whose_content_is_not_its_diff_id_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout_dir = dir.path().join("layout");
    let layout = Layout::create(&layout_dir).unwrap();
    let layer = LayerTar::new().file("a", b"a", 0o644).finish();
    let (digest, size) = put_image(&layout, &[layer], true, "amd64", None, json!({}));
    tag_manifest(&layout, "v1", &digest, size);
    // Rewrite the config's diff_id: the gzip blob still matches the manifest.
    let manifest: serde_json::Value =
        serde_json::from_slice(&layout.read_blob(&digest, 1 << 20).unwrap()).unwrap();
    let config_digest: berth_image::Digest = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut config: serde_json::Value =
        serde_json::from_slice(&layout.read_blob(&config_digest, 1 << 20).unwrap()).unwrap();
    config["rootfs"]["diff_ids"][0] = json!(berth_image::Digest::of(b"other").to_string());
    let (new_config, new_size) = layout
        .put_bytes(&serde_json::to_vec(&config).unwrap())
        .unwrap();
    let mut manifest = manifest;
    manifest["config"]["digest"] = json!(new_config.to_string());
    manifest["config"]["size"] = json!(new_size);
    let (m, s) = layout
        .put_bytes(&serde_json::to_vec(&manifest).unwrap())
        .unwrap();
    tag_manifest(&layout, "bad", &m, s);
    let bundle = dir.path().join("bundle");
    let out = berth(&[
        "image",
        "unpack",
        &format!("oci:{}:bad", layout_dir.display()),
        &bundle.display().to_string(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("digest"));
    assert!(!bundle.exists());
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
