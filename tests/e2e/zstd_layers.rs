//! zstd layers (issue 25 §2): `berth image build --compression zstd` and `berth image
//! copy --dest-compress-format zstd` write `application/vnd.oci.image.layer.v1.tar+zstd`
//! layers that skopeo and podman read, the same bytes for any thread count, cached by
//! format; copy gives what skopeo's own option gives; packages from a zstd image
//! install on podman and on Debian 12's Docker 20.10, which reads no zstd (berthd
//! serves such layers to it uncompressed).
//!
//! umoci reads zstd layers only from 0.5 on (Debian 12 has 0.4.7, which refuses
//! them by media type): it gets the image as skopeo converts it to gzip, and its
//! unpack is compared with berth's unpack of the zstd image.

use berth_e2e::build::{app_rootfs, build_json};
use berth_e2e::cli::{berth, berth_ok, berth_pack};
use berth_e2e::daemon::{ctl, start};
use berth_e2e::images::{skopeo_raw_digest, Registry};
use berth_e2e::install::{ctl_ok, remove_container, status, wait_for};
use berth_e2e::tree::tree_contents;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::Path;

const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

fn raw_manifest(reference: &str) -> Value {
    serde_json::from_str(&ok(cmd("skopeo", &["inspect", "--raw", reference]))).unwrap()
}

fn layer_types(reference: &str) -> Vec<String> {
    raw_manifest(reference)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

/// The diff_ids of `reference`'s config, and the sha256 of each layer as skopeo
/// writes it decompressed into a `dir:` (so skopeo decodes every layer).
fn decompressed_by_skopeo(reference: &str, dir: &Path) -> (Vec<String>, Vec<String>) {
    ok(cmd(
        "skopeo",
        &["copy", "--quiet", "--dest-decompress", reference],
    )
    .arg(format!("dir:{}", dir.display())));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let config_name = hex(manifest["config"]["digest"].as_str().unwrap());
    let config: Value =
        serde_json::from_slice(&std::fs::read(dir.join(config_name)).unwrap()).unwrap();
    let diff_ids = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let file = dir.join(hex(l["digest"].as_str().unwrap()));
            format!("sha256:{}", sha256_hex(&file))
        })
        .collect();
    (diff_ids, layers)
}

/// `berth image copy -q --dest-compress-format zstd ARGS…`.
fn copy_as_zstd(args: &[&str]) -> String {
    let mut all = vec!["image", "copy", "-q", "--dest-compress-format", "zstd"];
    all.extend_from_slice(args);
    berth_ok(&all)
}

fn build_zstd(rootfs: &Path, dest: &str, extra: &[&str]) -> Value {
    let mut args = vec!["--rootfs", rootfs.to_str().unwrap(), "--compression"];
    args.extend_from_slice(extra);
    args.push(dest);
    build_json(&args)
}

#[test]
fn a_zstd_image_is_the_same_on_any_thread_count_read_by_skopeo_run_by_podman_and_unpacked_as_umoci_does(
) {
    require(&["podman", "skopeo", "umoci"]);
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    let layers = [
        "--layer",
        "app:directories:/opt/app",
        "--rest-layer",
        "base",
    ];
    let at = |name: &str| format!("oci:{}:1", dir.path().join(name).display());
    let mut one = vec![
        "zstd:5",
        "--threads",
        "1",
        "--cmd",
        "/bin/cat /opt/app/hello",
    ];
    one.extend_from_slice(&layers);
    let mut two = one.clone();
    two[2] = "2";
    let first = build_zstd(&rootfs, &at("one"), &one);
    let second = build_zstd(&rootfs, &at("two"), &two);
    assert_eq!(first["digest"], second["digest"], "any thread count");
    assert_eq!(layer_types(&at("one")), [ZSTD, ZSTD]);

    // skopeo decodes every layer to the diff_id the config lists.
    let (diff_ids, decoded) = decompressed_by_skopeo(&at("one"), &dir.path().join("dir"));
    assert_eq!(decoded, diff_ids);
    let built_ids: Vec<&str> = first["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["diff_id"].as_str().unwrap())
        .collect();
    assert_eq!(built_ids, diff_ids);

    // podman runs it.
    let name = "localhost/berth-e2e-zstd-run:1";
    let _ = run(cmd("podman", &["rmi", "-f", name]));
    ok(cmd("skopeo", &["copy", "--quiet", &at("one")]).arg(format!("containers-storage:{name}")));
    let ran = run(cmd("podman", &["run", "--rm", name]));
    let _ = run(cmd("podman", &["rmi", "-f", name]));
    assert!(ran.status.success(), "{ran:?}");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "hello from a built image\n"
    );

    // berth unpacks the zstd image as umoci unpacks it (converted to gzip by skopeo,
    // umoci 0.4.7 reading no zstd).
    ok(cmd(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-compress-format",
            "gzip",
            &at("one"),
        ],
    )
    .arg(at("gzip")));
    ok(cmd("umoci", &["unpack", "--image"])
        .arg(format!("{}:1", dir.path().join("gzip").display()))
        .arg(dir.path().join("by-umoci")));
    berth_ok(&[
        "image",
        "unpack",
        &at("one"),
        dir.path().join("by-berth").to_str().unwrap(),
    ]);
    let by_umoci = tree_contents(&dir.path().join("by-umoci/rootfs"));
    assert!(by_umoci.keys().any(|k| k.ends_with("opt/app/hello")));
    assert_eq!(tree_contents(&dir.path().join("by-berth/rootfs")), by_umoci);
}

#[test]
fn the_layer_cache_keeps_zstd_and_gzip_layers_apart() {
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    let cache = dir.path().join("cache");
    let build = |compression: &str, out: &str| -> Value {
        let dest = format!("oci:{}:1", dir.path().join(out).display());
        let args = [
            "image",
            "build",
            "--json",
            "--cache-dir",
            cache.to_str().unwrap(),
            "--compression",
            compression,
            "--rootfs",
            rootfs.to_str().unwrap(),
            &dest,
        ];
        serde_json::from_str(&berth_ok(&args)).unwrap()
    };
    let cached = |v: &Value| v["layers"][0]["cached"].as_bool().unwrap();
    let zstd = build("zstd", "a");
    assert!(!cached(&zstd));
    let again = build("zstd", "b");
    assert!(cached(&again), "the same format again: {again}");
    assert_eq!(again["digest"], zstd["digest"]);
    let gzip = build("gzip", "c");
    assert!(!cached(&gzip), "another format is another layer: {gzip}");
    assert_ne!(gzip["digest"], zstd["digest"]);
    assert!(!cached(&build("zstd:9", "d")), "another level too");
    assert!(cached(&build("gzip", "e")));
    // A bad format or level is refused at the argument.
    let bad = berth(&[
        "image",
        "build",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--compression",
        "zstd:22",
        "oci:x:1",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("level 22 is out of range (zstd: 1-19)"),
        "{bad:?}"
    );
}

#[test]
fn copy_to_zstd_gives_what_skopeos_option_gives_and_podman_pulls_it_from_a_registry() {
    require(&["podman", "skopeo"]);
    let dir = tempfile::tempdir().unwrap();
    let rootfs = app_rootfs(dir.path());
    let at = |name: &str| format!("oci:{}:1", dir.path().join(name).display());
    build_json(&[
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--layer",
        "app:directories:/opt/app",
        "--rest-layer",
        "base",
        "--cmd",
        "/bin/cat /opt/app/hello",
        &at("gzip"),
    ]);
    let copied: Value = serde_json::from_str(&berth_ok(&[
        "image",
        "copy",
        "--json",
        "--dest-compress-format",
        "zstd",
        &at("gzip"),
        &at("berth"),
    ]))
    .unwrap();
    ok(cmd(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-compress-format",
            "zstd",
            &at("gzip"),
        ],
    )
    .arg(at("skopeo")));
    // The same image: config byte for byte, zstd layers whose content is the same.
    let (berth_m, skopeo_m) = (raw_manifest(&at("berth")), raw_manifest(&at("skopeo")));
    assert_eq!(berth_m["config"], skopeo_m["config"]);
    assert_eq!(layer_types(&at("berth")), [ZSTD, ZSTD]);
    assert_eq!(layer_types(&at("skopeo")), [ZSTD, ZSTD]);
    let by_berth = decompressed_by_skopeo(&at("berth"), &dir.path().join("b"));
    let by_skopeo = decompressed_by_skopeo(&at("skopeo"), &dir.path().join("s"));
    assert_eq!(by_berth.1, by_berth.0, "each layer decodes to its diff_id");
    assert_eq!(by_berth, by_skopeo);
    assert_eq!(
        copied["dest_digest"].as_str().unwrap(),
        skopeo_raw_digest(&at("berth"))
    );
    // Copied again, zstd layers stay as they are.
    copy_as_zstd(&[&at("berth"), &at("again")]);
    assert_eq!(raw_manifest(&at("again")), berth_m);

    // To a registry, and podman pulls and runs it.
    let registry = Registry::start();
    let remote = format!("{}:1", registry.image("e2e/zstd"));
    copy_as_zstd(&["--dest-compress-level", "9", &at("gzip"), &remote]);
    let pulled = remote.trim_start_matches("docker://").to_string();
    let ran = run(cmd(
        "podman",
        &["run", "--rm", "--tls-verify=false", &pulled],
    ));
    let _ = run(cmd("podman", &["rmi", "-f", &pulled]));
    assert!(ran.status.success(), "{ran:?}");
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout),
        "hello from a built image\n"
    );

    // A docker-archive stores layers uncompressed: refused, with nothing written.
    let archive = dir.path().join("app.tar");
    let out = berth(&[
        "image",
        "copy",
        "--dest-compress-format",
        "zstd",
        &at("gzip"),
        &format!("docker-archive:{}", archive.display()),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("stores layers uncompressed"));
    assert!(!archive.exists());
}

fn docker_manifest(id: &str, image: &str, runtime: &str) -> Value {
    json!({"package_id": id, "version": "1", "runtime": runtime, "create_args": image,
        "registration_defaults": {"autostart": true, "monitor": true,
            "restart": {"enabled": false, "max_retries": 0, "window": 60, "retry_delay": 0}},
        "device_types": ["e2e"]})
}

/// `berth pack --image` of a zstd image (a docker-archive payload, layers stored
/// plain) runs on podman and Docker; an oci-archive payload that keeps the zstd
/// layers (skopeo's archive) runs on podman as it is and on Docker 20.10 through
/// berthd's decompression.
#[test]
fn packages_of_a_zstd_image_run_on_podman_and_on_docker_20_10() {
    require(&["podman", "skopeo"]);
    require_docker();
    let dir = tempfile::tempdir().unwrap();
    // An image per payload kind, their layers apart: an engine that holds a layer
    // already (by its diff_id) would not fetch it, and so never read its zstd.
    let image_for = |payload: &str| -> String {
        let rootfs = app_rootfs(&dir.path().join(payload));
        std::fs::write(rootfs.join("opt/app/payload"), payload).unwrap();
        let image = format!("oci:{}:1", dir.path().join(payload).join("zstd").display());
        build_json(&[
            "--rootfs",
            rootfs.to_str().unwrap(),
            "--compression",
            "zstd",
            "--cmd",
            &format!(r#"["/bin/sh", "-c", "cat /opt/app/hello; {SERVE}"]"#),
            &image,
        ]);
        image
    };
    let images = [image_for("image"), image_for("oci-archive")];
    let d = start(dir.path());
    let mut installed = Vec::new();
    for (runtime, payload) in [
        ("docker", "oci-archive"),
        ("podman", "oci-archive"),
        ("docker", "image"),
        ("podman", "image"),
    ] {
        let image = &images[usize::from(payload == "oci-archive")];
        let id = format!("berth-e2e-zstd-{runtime}-{payload}");
        let name = format!("localhost/{id}:1");
        remove_container(&id);
        let _ = run(cmd("docker", &["rm", "-f", &id]));
        let manifest_path = dir.path().join(format!("{id}.json"));
        write_manifest(&manifest_path, &docker_manifest(&id, &name, runtime));
        let out = dir.path().join(format!("out-{id}"));
        let pkg = match payload {
            "image" => {
                let args = [
                    "pack",
                    "--manifest",
                    manifest_path.to_str().unwrap(),
                    "--image",
                    image,
                    "--image-name",
                    &name,
                    "--output-dir",
                    out.to_str().unwrap(),
                ];
                berth_ok(&args).trim().to_string()
            }
            _ => {
                let archive = dir.path().join(format!("{id}.tar"));
                ok(cmd("skopeo", &["copy", "--quiet", image])
                    .arg(format!("oci-archive:{}:{name}", archive.display())));
                berth_pack(&manifest_path, &archive, &out, &[])
                    .display()
                    .to_string()
            }
        };
        let answer = ctl(&d.socket, &["install", &pkg]);
        installed.push((id.clone(), runtime, name.clone()));
        assert!(
            answer.status.success(),
            "{runtime} {payload}: {}",
            String::from_utf8_lossy(&answer.stderr)
        );
        wait_for(&format!("{id}'s output"), || {
            ctl_ok(&d, &["logs", &id]).contains("hello from a built image")
        });
        assert_eq!(status(&d, &id)["running"], true, "{runtime} {payload}");
    }
    for (id, runtime, name) in installed {
        ctl_ok(&d, &["uninstall", &id]);
        let _ = run(cmd(runtime, &["rmi", "-f", &name]));
    }
}
