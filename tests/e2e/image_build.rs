//! `berth image build`: layer counts read by skopeo, images podman runs with CMD and
//! ENTRYPOINT semantics, umoci unpacks; reproducible digests. The layer cache is
//! `image_build_cache.rs`, the split by package databases `image_build_packages.rs`.

use berth_e2e::build::{app_rootfs, build_json, layer_names};
use berth_e2e::cli::berth;
use berth_e2e::images::skopeo_raw_digest;
use berth_e2e::*;
use serde_json::Value;
use std::path::Path;

fn skopeo_layers(reference: &str) -> usize {
    let v: Value = serde_json::from_str(&ok(cmd("skopeo", &["inspect", reference]))).unwrap();
    v["Layers"].as_array().unwrap().len()
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
