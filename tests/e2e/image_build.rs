//! `berth image build`: layer counts read by skopeo, images podman runs with CMD and
//! ENTRYPOINT semantics, umoci unpacks; reproducible digests; rootfs split by the
//! rootfs's own dpkg and opkg databases.

use berth_e2e::cli::{berth, berth_ok};
use berth_e2e::images::skopeo_raw_digest;
use berth_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A busybox rootfs with an app under /opt/app and a config under /etc/app.
fn app_rootfs(dir: &Path) -> PathBuf {
    let rootfs = busybox_rootfs(dir);
    std::fs::create_dir_all(rootfs.join("opt/app")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc/app")).unwrap();
    std::fs::write(rootfs.join("opt/app/hello"), "hello from a built image\n").unwrap();
    std::fs::write(rootfs.join("etc/app/app.conf"), "port=80\n").unwrap();
    rootfs
}

/// A build without the cache (the cache tests below give theirs explicitly).
fn build_json(args: &[&str]) -> Value {
    let mut all = vec!["image", "build", "--json", "--no-cache"];
    all.extend_from_slice(args);
    serde_json::from_str(&berth_ok(&all)).unwrap()
}

fn skopeo_layers(reference: &str) -> usize {
    let v: Value = serde_json::from_str(&ok(cmd("skopeo", &["inspect", reference]))).unwrap();
    v["Layers"].as_array().unwrap().len()
}

/// The names in layer `i` of the image in layout `dir` (tag `tag`).
fn layer_names(dir: &Path, tag: &str, i: usize) -> Vec<String> {
    let layout = berth_image::Layout::open(dir).unwrap();
    let d = layout.resolve(tag).unwrap();
    let m: Value = serde_json::from_slice(
        &layout
            .read_blob(&d.digest().to_string().parse().unwrap(), 1 << 20)
            .unwrap(),
    )
    .unwrap();
    let digest: berth_image::Digest = m["layers"][i]["digest"].as_str().unwrap().parse().unwrap();
    let blob = layout.open_blob(&digest, None).unwrap();
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(blob));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

#[test]
fn layer_counts_are_one_by_default_base_plus_one_and_one_per_named_layer() {
    require(&["skopeo"]);
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    let r = rootfs.display().to_string();
    let one = format!("oci:{}:1", dir.path().join("one").display());
    let built = build_json(&["--rootfs", &r, "--tag", "latest", "--tag", "v1.0", &one]);
    assert_eq!(skopeo_layers(&one), 1);
    // --tag: the same manifest under each tag, as skopeo reads the layout.
    for tag in ["latest", "v1.0"] {
        let tagged = format!("oci:{}:{tag}", dir.path().join("one").display());
        assert_eq!(
            skopeo_raw_digest(&tagged),
            built["digest"].as_str().unwrap()
        );
    }
    let bad_tag = berth(&["image", "build", "--rootfs", &r, "--tag", "no/slash", &one]);
    assert_eq!(bad_tag.status.code(), Some(2));
    let app = dir.path().join("app-only");
    std::fs::create_dir_all(app.join("opt/app")).unwrap();
    std::fs::write(app.join("opt/app/extra"), "x").unwrap();
    let two = format!("oci:{}:1", dir.path().join("two").display());
    let report = build_json(&["--rootfs", &app.display().to_string(), "--base", &one, &two]);
    assert_eq!(report["base_layers"], 1);
    assert_eq!(skopeo_layers(&two), 2);
    let three = format!("oci:{}:1", dir.path().join("three").display());
    let report = build_json(&[
        "--rootfs",
        &r,
        "--layer",
        "app:directories:/opt/app",
        "--layer",
        "conf:files:/etc/app/app.conf",
        "--rest-layer",
        "base",
        &three,
    ]);
    assert_eq!(skopeo_layers(&three), 3);
    let names: Vec<&str> = report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app", "conf", "base"]);
    let app_layer = layer_names(&dir.path().join("three"), "1", 0);
    assert!(
        app_layer.contains(&"opt/app/hello".to_string())
            && !app_layer.iter().any(|n| n.starts_with("bin")),
        "{app_layer:?}"
    );
    let rest = layer_names(&dir.path().join("three"), "1", 2);
    assert!(
        rest.contains(&"bin/busybox".to_string()) && !rest.contains(&"opt/app/hello".to_string())
    );
    // Without --rest-layer, what no layer takes is left out.
    let only = format!("oci:{}:1", dir.path().join("only").display());
    build_json(&["--rootfs", &r, "--layer", "app:directories:/opt/app", &only]);
    assert_eq!(skopeo_layers(&only), 1);
    let names = layer_names(&dir.path().join("only"), "1", 0);
    assert!(!names.contains(&"bin/busybox".to_string()), "{names:?}");
    // A malformed layer is refused at the argument.
    let out = berth(&[
        "image",
        "build",
        "--rootfs",
        &r,
        "--layer",
        "x:bogus:/a",
        &only,
    ]);
    assert_eq!(out.status.code(), Some(2));
}

/// meta-virtualization's OCI_IMAGE_ENTRYPOINT_ARGS (issue 22): the entrypoint's
/// default arguments are the image's CMD, so podman and Docker both run the
/// entrypoint with them, and with the run's arguments instead when it gives some.
#[test]
fn podman_and_docker_run_built_images_with_entrypoint_args_as_cmd_and_umoci_unpacks_them() {
    require(&["podman", "skopeo", "umoci"]);
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    let layout = dir.path().join("img");
    let tag = "localhost/berth-e2e-built:1";
    build_json(&[
        "--rootfs",
        &rootfs.display().to_string(),
        "--entrypoint",
        "/bin/echo",
        "--entrypoint-args",
        "hello",
        "--env",
        "APP=1",
        "--workdir",
        "/opt/app",
        &format!("oci:{}:1", layout.display()),
    ]);
    let source = format!("oci:{}:1", layout.display());
    ok(cmd("skopeo", &["copy", "--quiet", &source]).arg(format!("containers-storage:{tag}")));
    ok(cmd("skopeo", &["copy", "--quiet", &source]).arg(format!("docker-daemon:{tag}")));
    let mut runs = Vec::new();
    for engine in ["podman", "docker"] {
        let plain = run(cmd(engine, &["run", "--rm", tag]));
        let given = run(cmd(engine, &["run", "--rm", tag, "world"]));
        runs.push((engine, plain, given));
    }
    let pwd = run(cmd(
        "podman",
        &[
            "run",
            "--rm",
            "--entrypoint",
            "/bin/sh",
            tag,
            "-c",
            "pwd; echo $APP; cat hello",
        ],
    ));
    let _ = run(cmd("podman", &["rmi", "-f", tag]));
    let _ = run(cmd("docker", &["rmi", "-f", tag]));
    for (engine, plain, given) in runs {
        let out = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert!(plain.status.success() && given.status.success(), "{engine}");
        assert_eq!(
            out(&plain),
            "hello",
            "{engine}: the entrypoint runs with its args"
        );
        assert_eq!(out(&given), "world", "{engine}: run arguments replace them");
    }
    assert_eq!(
        String::from_utf8_lossy(&pwd.stdout).trim(),
        "/opt/app\n1\nhello from a built image"
    );
    let bundle = dir.path().join("bundle");
    ok(cmd("umoci", &["unpack", "--image"])
        .arg(format!("{}:1", layout.display()))
        .arg(&bundle));
    assert_eq!(
        std::fs::read_to_string(bundle.join("rootfs/opt/app/hello")).unwrap(),
        "hello from a built image\n"
    );
}

#[test]
fn the_same_rootfs_gives_the_same_digest_on_any_thread_count_and_after_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    std::fs::hard_link(
        rootfs.join("opt/app/hello"),
        rootfs.join("opt/app/hello-again"),
    )
    .unwrap();
    let layers = [
        "--layer",
        "app:directories:/opt/app",
        "--layer",
        "conf:directories:/etc",
        "--rest-layer",
        "rest",
    ];
    let digest = |root: &Path, threads: &str, out: &str| -> String {
        let dest = format!("oci:{}:1", dir.path().join(out).display());
        let mut args = vec!["--rootfs", root.to_str().unwrap(), "--threads", threads];
        args.extend_from_slice(&layers);
        args.push(&dest);
        build_json(&args)["digest"].as_str().unwrap().to_string()
    };
    let first = digest(&rootfs, "1", "a");
    assert_eq!(digest(&rootfs, "1", "b"), first, "twice");
    assert_eq!(digest(&rootfs, "4", "c"), first, "any thread count");
    let copy = dir.path().join("elsewhere/rootfs");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    ok(cmd("cp", &["-a"]).arg(&rootfs).arg(&copy));
    // A copy has new inodes and new times (cp -a keeps mtimes; touch makes them newer).
    ok(cmd("touch", &[]).arg(copy.join("opt/app/hello")));
    assert_eq!(
        digest(&copy, "2", "d"),
        first,
        "after copying the rootfs elsewhere"
    );
    // SOURCE_DATE_EPOCH is the date and the clamp: the same build at two epochs is
    // two digests, each the same every time, and skopeo reads the epoch's date.
    let at_epoch = |epoch: &str, out: &str| -> (String, String) {
        let dest = format!("oci:{}:1", dir.path().join(out).display());
        let mut args = vec!["image", "build", "--json", "--no-cache", "--rootfs"];
        args.push(rootfs.to_str().unwrap());
        args.extend_from_slice(&layers);
        args.push(&dest);
        let built = run(std::process::Command::new(berth_bin())
            .args(&args)
            .env("SOURCE_DATE_EPOCH", epoch));
        assert!(built.status.success(), "{built:?}");
        let v: Value = serde_json::from_slice(&built.stdout).unwrap();
        let inspect: Value = serde_json::from_str(&ok(cmd("skopeo", &["inspect", &dest]))).unwrap();
        assert_eq!(inspect["Layers"].as_array().unwrap().len(), 3, "{inspect}");
        (
            v["digest"].as_str().unwrap().to_string(),
            inspect["Created"].as_str().unwrap().to_string(),
        )
    };
    let (e1, e1_again, e2) = (
        at_epoch("1700000000", "e1"),
        at_epoch("1700000000", "e1-again"),
        at_epoch("1800000000", "e2"),
    );
    assert_eq!(e1, e1_again, "the same epoch, the same digest");
    assert_eq!(e1.1, "2023-11-14T22:13:20Z");
    assert_eq!(e2.1, "2027-01-15T08:00:00Z");
    assert_ne!(e1.0, e2.0, "another epoch, another digest");
}

/// A `packages` layer naming a package the rootfs's database lacks: exit 2, the
/// message naming it and containing `says`.
fn refuses_a_missing_package(rootfs: &Path, out: &Path, says: &str) {
    let missing = berth(&[
        "image",
        "build",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--layer",
        "x:packages:nosuch",
        &format!("oci:{}:2", out.display()),
    ]);
    assert_eq!(missing.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("nosuch") && stderr.contains(says),
        "{stderr}"
    );
}

#[test]
fn a_rootfs_splits_into_package_layers_by_its_dpkg_or_opkg_database() {
    for db in ["var/lib/dpkg/info", "var/lib/opkg/info"] {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = app_rootfs(dir.path());
        let info = rootfs.join(db);
        std::fs::create_dir_all(&info).unwrap();
        let (busybox_list, app_list) = if db.contains("dpkg") {
            ("busybox.list", "app:amd64.list")
        } else {
            ("busybox.list", "app.list")
        };
        std::fs::write(info.join(busybox_list), "/.\n/bin\n/bin/busybox\n/bin/sh\n").unwrap();
        std::fs::write(
            info.join(app_list),
            "/.\n/opt\n/opt/app\n/opt/app/hello\t644\n",
        )
        .unwrap();
        let out = dir.path().join("img");
        let report = build_json(&[
            "--rootfs",
            rootfs.to_str().unwrap(),
            "--layer",
            "busybox:packages:busybox",
            "--layer",
            "app:packages:app",
            "--rest-layer",
            "rest",
            &format!("oci:{}:1", out.display()),
        ]);
        assert_eq!(report["layers"].as_array().unwrap().len(), 3, "{db}");
        let busybox = layer_names(&out, "1", 0);
        assert_eq!(busybox, ["bin", "bin/busybox", "bin/sh"], "{db}");
        let app = layer_names(&out, "1", 1);
        assert_eq!(app, ["opt", "opt/app", "opt/app/hello"], "{db}");
        let rest = layer_names(&out, "1", 2);
        assert!(
            rest.contains(&"etc/app/app.conf".to_string())
                && !rest.contains(&"bin/busybox".to_string()),
            "{db}: {rest:?}"
        );
        refuses_a_missing_package(&rootfs, &out, "dpkg, opkg or rpm database");
    }
}

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

/// An rpm of `name` owning `file` (with content `name`), built by rpmbuild in `top`.
fn rpm_package(top: &Path, name: &str, file: &str) -> PathBuf {
    let spec = top.join(format!("{name}.spec"));
    std::fs::create_dir_all(top).unwrap();
    let dir = Path::new(file).parent().unwrap().display().to_string();
    std::fs::write(
        &spec,
        format!(
            "Name: {name}\nVersion: 1.0\nRelease: 1\nSummary: test\nLicense: MIT\nBuildArch: noarch\n\
             %description\ntest\n%install\nmkdir -p %{{buildroot}}{dir}\necho {name} > %{{buildroot}}{file}\n\
             %files\n{file}\n"
        ),
    )
    .unwrap();
    ok(cmd("rpmbuild", &["--quiet", "--define"])
        .arg(format!("_topdir {}", top.display()))
        .arg("-bb")
        .arg(&spec));
    top.join(format!("RPMS/noarch/{name}-1.0-1.noarch.rpm"))
}

#[test]
fn a_rootfs_splits_into_package_layers_by_its_rpm_database_which_is_not_written() {
    require(&["rpm", "rpmbuild"]);
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    let top = dir.path().join("rpmbuild");
    let hello = rpm_package(&top, "berth-hello", "/opt/hello/hello.txt");
    let other = rpm_package(&top, "berth-other", "/opt/other/other.txt");
    let rpm = |args: &[&str]| {
        ok(cmd("rpm", &["--root"])
            .arg(&rootfs)
            .args(["--dbpath", "/var/lib/rpm"])
            .args(args))
    };
    rpm(&["--initdb"]);
    rpm(&[
        "-i",
        "--nodeps",
        "--noscripts",
        "--nosignature",
        hello.to_str().unwrap(),
        other.to_str().unwrap(),
    ]);
    let db_dir = rootfs.join("var/lib/rpm");
    let listing = |d: &Path| -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = listing(&db_dir);
    assert!(
        before.iter().any(|(n, _)| n == "rpmdb.sqlite"),
        "{before:?}"
    );
    let out = dir.path().join("img");
    let report = build_json(&[
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--layer",
        "hello:packages:berth-hello",
        "--rest-layer",
        "rest",
        &format!("oci:{}:1", out.display()),
    ]);
    assert_eq!(report["layers"].as_array().unwrap().len(), 2);
    assert_eq!(
        layer_names(&out, "1", 0),
        ["opt", "opt/hello", "opt/hello/hello.txt"]
    );
    let rest = layer_names(&out, "1", 1);
    assert!(
        rest.contains(&"opt/other/other.txt".to_string())
            && !rest.contains(&"opt/hello/hello.txt".to_string()),
        "{rest:?}"
    );
    assert_eq!(
        listing(&db_dir),
        before,
        "reading the database wrote into the rootfs"
    );
    refuses_a_missing_package(&rootfs, &out, "not in the rootfs's rpm database");
}
