//! A packed podman payload loads and runs in real podman.

use berth_e2e::*;
use berth_package::testkit::source_manifest;
use std::path::Path;

fn pack(dir: &Path, manifest: &serde_json::Value, payload: &Path, extra: &[&str]) -> String {
    let m = dir.join("manifest.json");
    write_manifest(&m, manifest);
    berth_e2e::cli::berth_pack(&m, payload, &dir.join("out"), extra)
        .display()
        .to_string()
}

fn load_and_run(pkg: &str, image: &TestImage, dir: &Path, decompress: &str) -> String {
    // The payload comes out of the package with GNU tar, as a device without berth
    // would take it, and goes into podman as the only copy of the image.
    image.remove();
    let x = dir.join("x");
    std::fs::create_dir_all(&x).unwrap();
    ok(&mut cmd(
        "tar",
        &[
            decompress,
            "-xf",
            pkg,
            "-C",
            x.to_str().unwrap(),
            "payload/image.tar",
        ],
    ));
    ok(&mut cmd(
        "podman",
        &[
            "load",
            "-q",
            "-i",
            x.join("payload/image.tar").to_str().unwrap(),
        ],
    ));
    ok(&mut cmd("podman", &["run", "--rm", &image.tag]))
}

#[test]
fn docker_archive_payload_loads_and_runs_in_podman() {
    require(&["podman", "tar"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(
        dir.path(),
        "localhost/berth-e2e-docker:1",
        "echo hello from docker-archive",
    );
    let payload = dir.path().join("image.tar");
    image.save("docker-archive", &payload);
    let mut m = source_manifest("podman");
    m["create_args"] = format!("--name e2e {}", image.tag).into();
    let pkg = pack(dir.path(), &m, &payload, &[]);

    let report: serde_json::Value = serde_json::from_str(&ok(cmd(
        berth_bin().to_str().unwrap(),
        &["inspect", "--json", &pkg],
    )))
    .unwrap();
    assert_eq!(report["payload"]["kind"], "docker-archive");
    assert_eq!(report["payload"]["images"][0], image.tag.as_str());
    assert_eq!(
        report["payload"]["digest"],
        format!("sha256:{}", sha256_hex(&payload)).as_str()
    );
    assert!(!report["payload"]["layers"].as_array().unwrap().is_empty());

    assert_eq!(
        load_and_run(&pkg, &image, dir.path(), "--gzip").trim(),
        "hello from docker-archive"
    );
}

#[test]
fn oci_archive_payload_signed_and_zstd_loads_and_runs_in_podman() {
    require(&["podman", "tar", "zstd"]);
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::build(
        dir.path(),
        "localhost/berth-e2e-oci:1",
        "echo hello from oci-archive",
    );
    let payload = dir.path().join("image.tar");
    image.save("oci-archive", &payload);
    let key = dir.path().join("k");
    ok(cmd(berth_bin().to_str().unwrap(), &["keygen", "--out"]).arg(&key));
    let pkg = pack(
        dir.path(),
        &source_manifest("podman"),
        &payload,
        &[
            "--compression",
            "zstd",
            "--sign",
            &format!("{}.key", key.display()),
        ],
    );
    let report: serde_json::Value = serde_json::from_str(&ok(cmd(
        berth_bin().to_str().unwrap(),
        &[
            "inspect",
            "--json",
            &pkg,
            "--trust",
            &format!("{}.pub", key.display()),
        ],
    )))
    .unwrap();
    assert_eq!(report["payload"]["kind"], "oci-archive");
    assert_eq!(report["signature"]["status"], "valid");
    assert_eq!(report["signature"]["trusted"], true);

    // zstd packages are read by GNU tar (with the zstd tool) too.
    assert_eq!(
        load_and_run(&pkg, &image, dir.path(), "--zstd").trim(),
        "hello from oci-archive"
    );
}

#[test]
fn a_payload_podman_cannot_load_is_refused_by_pack() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    // A plain rootfs tarball is a tar, but not an image archive.
    let rootfs = busybox_rootfs(dir.path());
    let payload = dir.path().join("image.tar");
    ok(&mut cmd(
        "tar",
        &[
            "-C",
            rootfs.to_str().unwrap(),
            "-cf",
            payload.to_str().unwrap(),
            ".",
        ],
    ));
    write_manifest(
        &dir.path().join("manifest.json"),
        &source_manifest("podman"),
    );
    let out = run(cmd(
        berth_bin().to_str().unwrap(),
        &[
            "pack",
            "--output-dir",
            dir.path().join("out").to_str().unwrap(),
        ],
    )
    .arg("--manifest")
    .arg(dir.path().join("manifest.json"))
    .arg("--payload")
    .arg(&payload));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a docker-archive or oci-archive"));
    // And podman agrees that it is not an image.
    let load = run(&mut cmd(
        "podman",
        &["load", "-q", "-i", payload.to_str().unwrap()],
    ));
    assert!(!load.status.success());
}
