//! `berth pack --image`: one image built by `berth image build` into both of Digi's
//! package kinds, installed and run on berthd; the podman payload read by skopeo as
//! the archive skopeo itself writes; broken images leave no package behind.

use berth_e2e::cli::{berth, berth_ok};
use berth_e2e::daemon::start;
use berth_e2e::images::*;
use berth_e2e::install::{ctl_ok, remove_container, status, wait_for};
use berth_e2e::lxc::lxc_manifest;
use berth_e2e::*;
use berth_image::{Digest, Layout};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// A busybox image whose command needs a shell and has spaces in an argument (so
/// the LXC bundle needs its init script); `oci:DIR/img:1`.
fn built_image(dir: &Path) -> String {
    let rootfs = busybox_rootfs(&dir.join("src"));
    let reference = format!("oci:{}:1", dir.join("img").display());
    berth_ok(&[
        "image",
        "build",
        "--no-cache",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--entrypoint",
        r#"["/bin/sh", "-c"]"#,
        "--cmd",
        &format!(r#"["echo hello from the image in $APP_MODE mode; {SERVE}"]"#),
        "--env",
        "APP_MODE=test",
        &reference,
    ]);
    reference
}

fn pack_image(dir: &Path, manifest: &Value, extra: &[&str], epoch: &str) -> PathBuf {
    let id = manifest["package_id"].as_str().unwrap();
    let m = dir.join(format!("{id}.json"));
    write_manifest(&m, manifest);
    let out = dir.join(format!("out-{id}-{}", extra.join("-").replace('/', "_")));
    let mut c = std::process::Command::new(berth_bin());
    c.env("SOURCE_DATE_EPOCH", epoch)
        .args(["pack", "--manifest", m.to_str().unwrap()])
        .args(extra)
        .args(["--output-dir", out.to_str().unwrap()]);
    PathBuf::from(ok(c).trim())
}

fn podman_manifest(id: &str, image: &str) -> Value {
    json!({"package_id": id, "version": "1", "runtime": "podman", "create_args": image,
        "registration_defaults": {"autostart": true, "monitor": true,
            "restart": {"enabled": false, "max_retries": 0, "window": 60, "retry_delay": 0}},
        "device_types": ["e2e"]})
}

/// The one payload file of a package, extracted into `dir`.
fn payload_of(pkg: &Path, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    ok(cmd(
        "tar",
        &["-xzf", pkg.to_str().unwrap(), "-C", dir.to_str().unwrap()],
    ));
    let entry = std::fs::read_dir(dir.join("payload"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    entry.path()
}

#[test]
fn one_image_packs_as_podman_and_lxc_and_both_run_on_berthd() {
    require(&["podman", "skopeo", "lxc-start", "lxc-info", "lxc-monitor"]);
    let dir = tempfile::tempdir().unwrap();
    let image = built_image(dir.path());
    let name = "localhost/berth-e2e-pack-image:1";
    let podman_id = "berth-e2e-pack-image-podman";
    let lxc_id = "berth-e2e-pack-image-lxc";
    remove_container(podman_id);
    let _ = run(cmd("podman", &["rmi", "-f", name]));

    let podman_pkg = pack_image(
        dir.path(),
        &podman_manifest(podman_id, name),
        &["--image", &image, "--image-name", name],
        "1700000000",
    );
    let lxc_pkg = pack_image(
        dir.path(),
        &lxc_manifest(lxc_id),
        &["--image", &image],
        "1700000000",
    );
    // Reproducible whatever the thread count.
    let again = pack_image(
        dir.path(),
        &podman_manifest(podman_id, name),
        &["--image", &image, "--image-name", name, "--threads", "1"],
        "1700000000",
    );
    assert_eq!(sha256_hex(&podman_pkg), sha256_hex(&again));
    let lxc_again = pack_image(
        dir.path(),
        &lxc_manifest(lxc_id),
        &["--image", &image, "--threads", "3"],
        "1700000000",
    );
    assert_eq!(sha256_hex(&lxc_pkg), sha256_hex(&lxc_again));

    // skopeo reads the podman payload as the same image it writes itself.
    let archive = payload_of(&podman_pkg, &dir.path().join("podman-payload"));
    assert_eq!(archive.file_name().unwrap(), "image.tar");
    let skopeo_archive = dir.path().join("skopeo.tar");
    ok(cmd("skopeo", &["copy", "--quiet", &image]).arg(format!(
        "docker-archive:{}:{name}",
        skopeo_archive.display()
    )));
    let digest_of = |a: &Path| -> String {
        let v: Value = serde_json::from_str(&ok(cmd(
            "skopeo",
            &["inspect", &format!("docker-archive:{}", a.display())],
        )))
        .unwrap();
        v["Digest"].as_str().unwrap().to_string()
    };
    assert_eq!(digest_of(&archive), digest_of(&skopeo_archive));

    // The LXC payload: config from the image config, the init script for the
    // argument with spaces.
    let bundle = payload_of(&lxc_pkg, &dir.path().join("lxc-payload"));
    let listing = ok(cmd("tar", &["-tzf", bundle.to_str().unwrap()]));
    assert!(listing.lines().any(|l| l == "config") && listing.contains("rootfs/.berth-init"));
    let config = ok(cmd("tar", &["-xzOf", bundle.to_str().unwrap(), "config"]));
    for line in [
        "lxc.init.cmd = /.berth-init",
        "lxc.environment = APP_MODE=test",
        "lxc.net.0.type = empty",
        "lxc.arch = x86_64",
    ] {
        assert!(
            config.lines().any(|l| l == line),
            "{line:?} not in:\n{config}"
        );
    }

    // Both install and run on berthd.
    let d = start(dir.path());
    for (id, pkg) in [(podman_id, &podman_pkg), (lxc_id, &lxc_pkg)] {
        assert_eq!(
            ctl_ok(&d, &["install", pkg.to_str().unwrap()]),
            format!("installed {id} 1, running\n")
        );
        wait_for(&format!("{id}'s output"), || {
            ctl_ok(&d, &["logs", id]).contains("hello from the image in test mode")
        });
        assert_eq!(status(&d, id)["running"], true);
    }
    for id in [podman_id, lxc_id] {
        ctl_ok(&d, &["uninstall", id]);
    }
    let _ = run(cmd("podman", &["rmi", "-f", name]));
}

#[test]
fn a_layer_that_is_not_its_diff_id_fails_the_pack_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(&dir.path().join("bad")).unwrap();
    let layer = LayerTar::new()
        .file("app", b"the real content", 0o755)
        .finish();
    let (digest, size) = put_image(
        &layout,
        std::slice::from_ref(&layer),
        true,
        "amd64",
        None,
        json!({"Cmd": ["/app"]}),
    );
    tag_manifest(&layout, "1", &digest, size);
    // The config's diff_id names other content than the layer holds.
    let m: Value = serde_json::from_slice(&layout.read_blob(&digest, 1 << 20).unwrap()).unwrap();
    let config_digest: Digest = m["config"]["digest"].as_str().unwrap().parse().unwrap();
    let mut config: Value =
        serde_json::from_slice(&layout.read_blob(&config_digest, 1 << 20).unwrap()).unwrap();
    let forged = Digest::of(b"other content").to_string();
    config["rootfs"]["diff_ids"] = json!([forged]);
    let (config_digest, config_size) = layout
        .put_bytes(&serde_json::to_vec(&config).unwrap())
        .unwrap();
    let mut m = m;
    m["config"]["digest"] = json!(config_digest.to_string());
    m["config"]["size"] = json!(config_size);
    let (digest, size) = layout.put_bytes(&serde_json::to_vec(&m).unwrap()).unwrap();
    tag_manifest(&layout, "1", &digest, size);

    let manifest = dir.path().join("m.json");
    write_manifest(&manifest, &podman_manifest("bad", "localhost/bad:1"));
    let out = dir.path().join("out");
    let image = format!("oci:{}:1", dir.path().join("bad").display());
    let result = berth(&[
        "pack",
        "--manifest",
        manifest.to_str().unwrap(),
        "--image",
        &image,
        "--image-name",
        "localhost/bad:1",
        "--output-dir",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert_eq!(result.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&forged),
        "the error names the digest: {stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert!(
        left.is_empty(),
        "nothing is left in the output directory: {left:?}"
    );
}

#[test]
fn a_podman_package_from_a_local_image_is_named_after_the_package_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (image, _) = berth_e2e::cli::source_layout(dir.path());
    let pkg = pack_image(
        dir.path(),
        &podman_manifest("berth-e2e-named", "--tty"),
        &["--image", &image],
        "1700000000",
    );
    let archive = payload_of(&pkg, &dir.path().join("payload"));
    let listed = ok(cmd(
        "tar",
        &["-xOf", archive.to_str().unwrap(), "manifest.json"],
    ));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        listed[0]["RepoTags"],
        json!(["localhost/berth-e2e-named:1"])
    );
}
