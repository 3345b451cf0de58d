//! Delta packages on podman and Docker Engine: `berth pack --delta-from OLD` leaves
//! out the layers OLD has; berthd rebuilds the payload from its engine's export of
//! the installed image and installs it to the same result as the full package; a
//! device without OLD's version refuses it (exit 2) naming that version.

use berth_e2e::cli::{berth, berth_ok};
use berth_e2e::daemon::{ctl, start};
use berth_e2e::install::{ctl_ok, manifest, remove_container, status};
use berth_e2e::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `berth pack --json` of `payload` with `manifest` (and `extra` options): its report.
fn pack_json(dir: &Path, manifest: &Value, payload: &Path, extra: &[&str]) -> Value {
    let version = manifest["version"].as_str().unwrap();
    let path = dir.join(format!("{version}.json"));
    write_manifest(&path, manifest);
    let out = dir.join(format!("out-{version}"));
    let mut args = vec![
        "pack",
        "--json",
        "--manifest",
        path.to_str().unwrap(),
        "--payload",
        payload.to_str().unwrap(),
        "--output-dir",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&berth_ok(&args)).unwrap()
}

/// Version 1: busybox plus a 4 MiB layer; version 2: version 1 plus a 256 KiB layer.
/// Returns the two docker-archives and version 2's image id.
fn two_versions(dir: &Path, id: &str) -> (PathBuf, PathBuf, String) {
    let tag1 = format!("localhost/{id}:1");
    let tag2 = format!("localhost/{id}:2");
    let v1 = TestImage::build(&dir.join("1"), &tag1, "echo running; exec sleep infinity");
    v1.add_layer(dir, "base.bin", &noise(1, 4 << 20));
    let tar1 = dir.join("v1.tar");
    v1.save("docker-archive", &tar1);
    ok(&mut cmd("podman", &["tag", &tag1, &tag2]));
    let v2 = TestImage { tag: tag2 };
    v2.add_layer(dir, "app.bin", &noise(2, 256 << 10));
    let tar2 = dir.join("v2.tar");
    v2.save("docker-archive", &tar2);
    let v2_id = v2.id();
    (tar1, tar2, v2_id)
}

fn delta_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("berth-e2e-delta-{runtime}");
    remove_container(&id);
    if runtime == "docker" {
        require_docker();
        let _ = run(&mut cmd("docker", &["rm", "-f", &id]));
    }
    let (tar1, tar2, v2_id) = two_versions(dir.path(), &id);
    let pack = |version: &str, tar: &Path, extra: &[&str]| -> Value {
        let mut m = manifest(&id, version, "--init", true);
        m["runtime"] = runtime.into();
        pack_json(dir.path(), &m, tar, extra)
    };
    let full1 = pack("1.0.0", &tar1, &[]);
    let pkg1 = full1["path"].as_str().unwrap().to_string();
    let both = pack("2.0.0", &tar2, &["--delta-from", &pkg1]);
    let full2 = both["package"]["path"].as_str().unwrap().to_string();
    let delta = &both["delta"];
    let delta_path = delta["path"].as_str().unwrap().to_string();
    // Only the new layer (and the archive's small files) travel.
    let delta_size = delta["size_bytes"].as_u64().unwrap();
    let full_size = std::fs::metadata(&full2).unwrap().len();
    assert!(
        delta["reused_bytes"].as_u64().unwrap() >= 4 << 20,
        "the 4 MiB layer is reused: {delta}"
    );
    assert!(
        delta_size < (256 << 10) + (64 << 10) && delta_size * 10 < full_size,
        "delta {delta_size} bytes, full package {full_size}: {delta}"
    );
    // berth verify says what a delta is, and that it is checked where it lands.
    let out = berth(&["verify", &delta_path]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a delta from"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let d = start(dir.path());
    // Nothing installed: refused, naming the version it needs.
    let out = ctl(&d.socket, &["install", &delta_path]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a delta from version 1.0.0"), "{err}");
    assert!(berth_e2e::subjects::registered_version(dir.path(), &id).is_none());

    ctl_ok(&d, &["install", &pkg1]);
    ctl_ok(&d, &["install", &delta_path]);
    let s = status(&d, &id);
    assert_eq!(s["version"], "2.0.0", "{s}");
    assert_eq!(s["running"], true, "{s}");
    // The same image the full package brings: its id is its config's digest.
    let image = ok(&mut cmd(
        runtime,
        &["inspect", "--format", "{{.Image}}", &id],
    ));
    assert_eq!(
        image.trim().trim_start_matches("sha256:"),
        v2_id.trim_start_matches("sha256:"),
        "the container runs version 2's image"
    );
    let app = ok(&mut cmd(
        runtime,
        &["exec", &id, "wc", "-c", "/etc/app.bin"],
    ));
    assert!(app.trim().starts_with(&(256 << 10).to_string()), "{app}");
    ctl_ok(&d, &["uninstall", &id]);
    berth_e2e::install::assert_no_scratch_files(dir.path(), "after the delta install");
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", &format!("localhost/{id}:1")],
    ));
}

#[test]
fn podman_a_delta_package_upgrades_a_device_that_has_the_old_version() {
    require(&["podman"]);
    delta_on("podman");
}

#[test]
fn docker_a_delta_package_upgrades_a_device_that_has_the_old_version() {
    require(&["podman"]);
    delta_on("docker");
}

/// From a registry: `berth push` adds the package's parts; a device that runs
/// version 1 fetches version 2's head and only its new layer; a fresh device, and
/// `berth pull`, get the whole package as before.
fn parts_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let id = &format!("berth-e2e-parts-{runtime}");
    remove_container(id);
    if runtime == "docker" {
        require_docker();
        let _ = run(&mut cmd("docker", &["rm", "-f", id]));
    }
    let (tar1, tar2, v2_id) = two_versions(dir.path(), id);
    let (sign, public) = berth_e2e::signing::keygen(dir.path(), "release");
    let packages: Vec<String> = [("1.0.0", &tar1), ("2.0.0", &tar2)]
        .iter()
        .map(|(version, tar)| {
            let mut m = manifest(id, version, "--init", true);
            m["runtime"] = runtime.into();
            let path = dir.path().join(format!("{version}.json"));
            write_manifest(&path, &m);
            let out = dir.path().join(format!("out-{version}"));
            berth_e2e::cli::berth_pack(&path, tar, &out, &["--sign", sign.to_str().unwrap()])
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let registry = berth_e2e::images::Registry::start();
    let base = registry.image("apps/parts");
    let pushed: Vec<Value> = packages
        .iter()
        .zip(["1", "2"])
        .map(|(p, tag)| {
            serde_json::from_str(&berth_ok(&["push", p, &format!("{base}:{tag}"), "--json"]))
                .unwrap()
        })
        .collect();
    // busybox's layer, the 4 MiB one, and (version 2) the new one.
    assert_eq!(pushed[1]["parts"]["layers"], 3, "{}", pushed[1]);
    // berth pull still gets the whole package, byte for byte.
    let pulled = dir.path().join("pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    berth_ok(&[
        "pull",
        &format!("{base}:2"),
        "--output-dir",
        pulled.to_str().unwrap(),
    ]);
    let file = std::fs::read_dir(&pulled)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&packages[1]).unwrap()
    );

    let d = berth_e2e::daemon::start_with(
        dir.path(),
        serde_json::json!({"trust": {"keys": [public], "require_signature": true}}),
    );
    ctl_ok(&d, &["install", &format!("{base}:1")]);
    ctl_ok(&d, &["install", &format!("{base}:2")]);
    let s = status(&d, id);
    assert_eq!(s["version"], "2.0.0", "{s}");
    assert_eq!(s["running"], true, "{s}");
    let image = ok(&mut cmd(
        runtime,
        &["inspect", "--format", "{{.Image}}", id],
    ));
    assert_eq!(
        image.trim().trim_start_matches("sha256:"),
        v2_id.trim_start_matches("sha256:")
    );
    let log = std::fs::read_to_string(dir.path().join("berthd.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("from the registry's parts"))
        .unwrap_or_else(|| panic!("no parts install in the log: {log}"));
    // One layer fetched: the 256 KiB one (plus its tar header); the other two reused.
    assert!(
        line.contains("fetched 1 (26") && line.contains("reused 2 ("),
        "{line}"
    );
    ctl_ok(&d, &["uninstall", id]);
    let _ = run(&mut cmd(
        "podman",
        &["rmi", "-f", &format!("localhost/{id}:1")],
    ));
}

#[test]
fn podman_an_upgrade_from_a_registry_fetches_only_the_layers_the_device_lacks() {
    require(&["podman"]);
    parts_on("podman");
}

#[test]
fn docker_an_upgrade_from_a_registry_fetches_only_the_layers_the_device_lacks() {
    require(&["podman"]);
    parts_on("docker");
}

/// Two versions of a bundle (`lxc` or `runc`): busybox, and a 64 KiB file
/// `/etc/app.bin` that differs between them; returns the two .tar.gz.
fn bundle_versions(dir: &Path, id: &str, runtime: &str) -> [PathBuf; 2] {
    ["1", "2"].map(|v| {
        let d = dir.join(format!("bundle-{v}"));
        let (gz, top) = if runtime == "runc" {
            let script = "trap 'exit 0' TERM; echo running; sleep 1000 & wait";
            let gz = berth_e2e::subjects::oci_bundle(&d, id, script);
            (gz, d.join(format!("oci-{id}")))
        } else {
            // Ends on LXC's halt signal: a stop is not held for its grace period.
            let init = "trap 'exit 0' PWR TERM; sleep 1000 & wait";
            let gz = berth_e2e::lxc::lxc_bundle(&d, id, init, "lxc.net.0.type = none");
            (gz, d.join(format!("bundle-{id}")))
        };
        std::fs::create_dir_all(top.join("rootfs/etc")).unwrap();
        std::fs::write(
            top.join("rootfs/etc/app.bin"),
            noise(v.parse().unwrap(), 64 << 10),
        )
        .unwrap();
        std::fs::remove_file(&gz).unwrap();
        ok(cmd(
            "tar",
            &["-C", d.to_str().unwrap(), "-czf", gz.to_str().unwrap()],
        )
        .arg(top.file_name().unwrap()));
        gz
    })
}

/// LXC and runc: a delta package carries the changed file (and the config), not
/// busybox; the device rebuilds the bundle from its installed one. From a registry
/// the device fetches the head and only the changed file.
fn bundle_delta_on(runtime: &str) {
    let dir = tempfile::tempdir().unwrap();
    let id = format!("berth-e2e-delta-{runtime}");
    let [gz1, gz2] = bundle_versions(dir.path(), &id, runtime);
    let pack = |version: &str, gz: &Path, extra: &[&str]| -> Value {
        let mut m = berth_e2e::lxc::lxc_manifest(&id);
        m["runtime"] = runtime.into();
        m["version"] = version.into();
        pack_json(dir.path(), &m, gz, extra)
    };
    let full1 = pack("1", &gz1, &[]);
    let pkg1 = full1["path"].as_str().unwrap().to_string();
    let both = pack("2", &gz2, &["--delta-from", &pkg1]);
    let pkg2 = both["package"]["path"].as_str().unwrap().to_string();
    let delta = &both["delta"];
    let delta_path = delta["path"].as_str().unwrap().to_string();
    // busybox comes from the installed bundle; the changed file and the config travel.
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find_map(|p| std::fs::metadata(p).ok())
        .unwrap()
        .len();
    assert!(
        delta["reused_bytes"].as_u64().unwrap() >= busybox,
        "busybox is reused: {delta}"
    );
    // The changed file, incompressible, and busybox's ~400 applet links' headers,
    // which compress to little.
    let size = delta["size_bytes"].as_u64().unwrap();
    assert!((64 << 10..128 << 10).contains(&size), "{delta}");

    let d = start(dir.path());
    let out = ctl(&d.socket, &["install", &delta_path]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("a delta from version 1"), "{err}");
    ctl_ok(&d, &["install", &pkg1]);
    ctl_ok(&d, &["install", &delta_path]);
    let s = status(&d, &id);
    assert_eq!(s["version"], "2", "{s}");
    assert_eq!(s["running"], true, "{s}");
    let bundles = dir
        .path()
        .join("work")
        .join(if runtime == "runc" { "oci" } else { "lxc" });
    assert_eq!(
        std::fs::read(bundles.join(&id).join("rootfs/etc/app.bin")).unwrap(),
        noise(2, 64 << 10),
        "version 2's file is in place"
    );
    ctl_ok(&d, &["uninstall", &id]);

    // From a registry, in parts.
    let registry = berth_e2e::images::Registry::start();
    let base = registry.image(&format!("apps/{runtime}"));
    for (p, tag) in [(&pkg1, "1"), (&pkg2, "2")] {
        berth_ok(&["push", p, &format!("{base}:{tag}")]);
    }
    ctl_ok(&d, &["install", &format!("{base}:1")]);
    ctl_ok(&d, &["install", &format!("{base}:2")]);
    let s = status(&d, &id);
    assert_eq!(
        (s["version"].as_str(), s["running"].as_bool()),
        (Some("2"), Some(true)),
        "{s}"
    );
    let log = std::fs::read_to_string(dir.path().join("berthd.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("from the registry's parts"))
        .unwrap_or_else(|| panic!("no parts install in the log: {log}"));
    // The changed 64 KiB file fetched; busybox reused.
    assert!(
        line.contains("fetched 1 (65536 bytes)") && line.contains("reused 1 ("),
        "{line}"
    );
    ctl_ok(&d, &["uninstall", &id]);
}

#[test]
fn runc_a_delta_package_and_registry_parts_carry_only_the_changed_file() {
    require(&["runc"]);
    bundle_delta_on("runc");
}

#[test]
fn lxc_a_delta_package_and_registry_parts_carry_only_the_changed_file() {
    require(&["lxc-start", "lxc-info"]);
    bundle_delta_on("lxc");
}

/// bench/delta.sh, small: two devices upgrade a 20 MiB image whose new version
/// changes one 1 MiB layer, from a registry (within 1.1 times the layer plus the
/// head per device, what `podman pull` fetches too) and as a delta file.
#[test]
fn bench_delta_two_devices_fetch_only_the_changed_layer() {
    require(&["podman", "docker-registry"]);
    let dir = tempfile::tempdir().unwrap();
    let (ok, printed, result) =
        run_bench("delta.sh", dir.path(), &[("N", "2"), ("SIZE_MIB", "20")]);
    assert!(ok, "{printed}");
    let f: Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    let get = |k: &str| f[k].as_u64().unwrap_or_else(|| panic!("{k}: {printed}"));
    assert!(get("first_bytes_per_device") > 20 << 20, "{printed}");
    assert!(
        get("upgrade_bytes_per_device") > get("app_layer_bytes"),
        "{printed}"
    );
    assert!(
        get("upgrade_bytes_per_device") <= get("target_bytes"),
        "{printed}"
    );
    assert!(
        get("delta_bytes") * 10 < get("full_package_bytes"),
        "{printed}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| *n != *result.file_name().unwrap())
        .collect();
    assert!(left.is_empty(), "the bench left {left:?} behind");
}
