//! `berth image build --cache`: unchanged layers taken from the layer cache, changed
//! ones (content, capabilities, xattrs) rebuilt.

use berth_e2e::build::app_rootfs;
use berth_e2e::cli::berth_ok;
use berth_e2e::*;
use serde_json::Value;
use std::path::Path;

fn cached_flags(report: &Value) -> Vec<bool> {
    report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["cached"].as_bool().unwrap())
        .collect()
}

/// `berth image build --json` of `rootfs` as two layers, app (/opt/app) and base
/// (the rest), with `cache`, into the layout `out`.
fn split_build_command(
    rootfs: &Path,
    cache: &Path,
    out: &Path,
    extra: &[&str],
) -> std::process::Command {
    let mut c = std::process::Command::new(berth_bin());
    c.args(["image", "build", "--json", "--rootfs"])
        .arg(rootfs)
        .args([
            "--layer",
            "app:directories:/opt/app",
            "--rest-layer",
            "base",
            "--cache-dir",
        ])
        .arg(cache)
        .args(extra)
        .arg(format!("oci:{}:1", out.display()));
    c
}

/// `split_build_command`'s report.
fn split_build(rootfs: &Path, cache: &Path, out: &Path, extra: &[&str]) -> Value {
    serde_json::from_str(&ok(split_build_command(rootfs, cache, out, extra))).unwrap()
}

#[test]
fn a_rebuild_takes_unchanged_layers_from_the_cache_and_rebuilds_exactly_the_changed_one() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    let cache = dir.path().join("cache");
    let build =
        |out: &str, extra: &[&str]| split_build(&rootfs, &cache, &dir.path().join(out), extra);
    let first = build("a", &[]);
    assert_eq!(cached_flags(&first), [false, false]);
    let again = build("b", &[]);
    assert_eq!(
        cached_flags(&again),
        [true, true],
        "nothing changed: both from the cache"
    );
    assert_eq!(again["digest"], first["digest"]);

    // A changed file: exactly its layer is rebuilt.
    let hello = rootfs.join("opt/app/hello");
    std::fs::write(&hello, "a new version of the app\n").unwrap();
    let changed = build("c", &[]);
    assert_eq!(cached_flags(&changed), [false, true]);
    assert_ne!(changed["digest"], first["digest"]);

    // The same size, and the mtime put back: the ctime still tells.
    let reference = dir.path().join("reference");
    ok(cmd("cp", &["-p"]).arg(&hello).arg(&reference));
    std::fs::write(&hello, "A NEW VERSION OF THE APP\n").unwrap();
    ok(cmd("touch", &["-r"]).arg(&reference).arg(&hello));
    let sneaky = build("d", &[]);
    assert_eq!(
        cached_flags(&sneaky),
        [false, true],
        "a same-size change with the mtime restored is caught"
    );
    let uncached = build("e", &["--no-cache"]);
    assert_eq!(
        sneaky["digest"], uncached["digest"],
        "what the cache gives is what a build without it gives"
    );

    // A corrupt entry is detected, never served, and rebuilt.
    for entry in std::fs::read_dir(cache.join("layers")).unwrap() {
        let blob = entry.unwrap().path().join("blob");
        let mut bytes = std::fs::read(&blob).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&blob, bytes).unwrap();
    }
    let repaired = build("f", &[]);
    assert_eq!(cached_flags(&repaired), [false, false]);
    assert_eq!(repaired["digest"], uncached["digest"]);
    assert_eq!(
        cached_flags(&build("g", &[])),
        [true, true],
        "the rebuilt entries serve again"
    );

    // Two builds at once on one cache: both succeed with the same image.
    std::fs::write(rootfs.join("etc/app/app.conf"), "port=8080\n").unwrap();
    let spawn = |out: &str| {
        split_build_command(&rootfs, &cache, &dir.path().join(out), &[])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (one, two) = (spawn("h"), spawn("i"));
    let (one, two) = (
        one.wait_with_output().unwrap(),
        two.wait_with_output().unwrap(),
    );
    assert!(
        one.status.success() && two.status.success(),
        "{}{}",
        String::from_utf8_lossy(&one.stderr),
        String::from_utf8_lossy(&two.stderr)
    );
    let d1: Value = serde_json::from_slice(&one.stdout).unwrap();
    let d2: Value = serde_json::from_slice(&two.stdout).unwrap();
    assert_eq!(d1["digest"], d2["digest"]);

    // Prune empties it; the next build builds everything.
    let pruned: Value = serde_json::from_str(&berth_ok(&[
        "image",
        "cache",
        "prune",
        "--json",
        "--cache-dir",
        cache.to_str().unwrap(),
    ]))
    .unwrap();
    assert!(
        pruned["removed"].as_u64().unwrap() >= 2 && pruned["bytes"] == 0,
        "{pruned}"
    );
    assert_eq!(cached_flags(&build("j", &[])), [false, false]);
    // A size limit evicts the least recently used entries after a build.
    let limited = build("k", &["--cache-max-size", "1"]);
    assert_eq!(cached_flags(&limited), [true, true]);
    assert_eq!(
        std::fs::read_dir(cache.join("layers")).unwrap().count(),
        0,
        "over the limit: evicted"
    );
}

#[test]
fn file_capabilities_and_user_xattrs_are_kept_and_a_changed_xattr_misses_the_cache() {
    require(&["umoci", "setcap", "getcap"]);
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    let conf = rootfs.join("etc/app/app.conf");
    let set_note = |value: &[u8]| {
        rustix::fs::setxattr(
            &conf,
            "user.berth.note",
            value,
            rustix::fs::XattrFlags::empty(),
        )
        .expect("the test directory's filesystem must hold user xattrs")
    };
    ok(cmd("setcap", &["cap_net_raw+ep"]).arg(rootfs.join("opt/app/hello")));
    set_note(b"v1");
    let cache = dir.path().join("cache");
    let build = |out: &str| split_build(&rootfs, &cache, &dir.path().join(out), &[]);
    assert_eq!(cached_flags(&build("a")), [false, false]);
    // umoci, a second opinion, restores both from the layers.
    let bundle = dir.path().join("bundle");
    ok(cmd("umoci", &["unpack", "--image"])
        .arg(format!("{}:1", dir.path().join("a").display()))
        .arg(&bundle));
    let caps = ok(cmd("getcap", &[]).arg(bundle.join("rootfs/opt/app/hello")));
    assert!(caps.contains("cap_net_raw=ep"), "{caps}");
    let mut note = [0u8; 16];
    let n = rustix::fs::getxattr(
        bundle.join("rootfs/etc/app/app.conf"),
        "user.berth.note",
        &mut note[..],
    )
    .unwrap();
    assert_eq!(&note[..n], b"v1");

    // Only an xattr changed: exactly its layer is rebuilt.
    set_note(b"v2");
    let changed = build("b");
    assert_eq!(cached_flags(&changed), [true, false]);
}
