//! `berth rootfs install` and berthd's first start: packages placed in a device
//! rootfs are verified there against the device's keys, installed by berthd at its
//! start and only then, kept or deleted as asked, and never downgrade what the
//! device installed since.

use berth_e2e::cli::berth;
use berth_e2e::daemon::{start_with, Daemon};
use berth_e2e::install::{ctl_ok, remove_container, status, wait_for};
use berth_e2e::signing::*;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::Path;

/// A device rootfs whose berthd.conf trusts `public` and requires signatures.
fn device_rootfs(root: &Path, public: &Path) {
    std::fs::create_dir_all(root.join("etc/berth/keys")).unwrap();
    std::fs::copy(public, root.join("etc/berth/keys/release.pub")).unwrap();
    let conf = json!({"version": 1,
        "service": {"working_path": "/var/lib/berth"},
        "trust": {"keys": ["/etc/berth/keys/release.pub"], "require_signature": true}});
    std::fs::write(root.join("etc/berth/berthd.conf"), conf.to_string()).unwrap();
}

/// berthd on the rootfs's working path, trusting the same key.
fn boot(dir: &Path, root: &Path, public: &Path) -> Daemon {
    start_with(
        dir,
        json!({"service": {"working_path": root.join("var/lib/berth"), "monitor_interval": 5},
               "trust": {"keys": [public], "require_signature": true}}),
    )
}

fn log_count(dir: &Path, needle: &str) -> usize {
    std::fs::read_to_string(dir.join("berthd.log"))
        .unwrap_or_default()
        .matches(needle)
        .count()
}

fn installed_version(d: &Daemon, id: &str) -> Option<String> {
    let list: Value = serde_json::from_str(&ctl_ok(d, &["list", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["version"].as_str().unwrap().to_string())
}

#[test]
fn preinstalled_packages_run_at_first_start_and_only_then() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    let (secret, public) = keygen(dir.path(), "release");
    device_rootfs(&root, &public);
    let (kept, deleted) = ("berth-e2e-pre-kept", "berth-e2e-pre-del");
    for id in [kept, deleted] {
        remove_container(id);
    }
    let kept_v1 = signed_package(dir.path(), &secret, kept, "1.0.0", SERVE);
    let deleted_v1 = signed_package(dir.path(), &secret, deleted, "1.0.0", SERVE);
    // Signed by a key the device does not trust: refused at build time with one
    // error line, while the good package is still placed.
    let (other, _) = keygen(dir.path(), "other");
    let untrusted = signed_package(
        dir.path(),
        &other,
        "berth-e2e-pre-untrusted",
        "1.0.0",
        SERVE,
    );
    let rootfs = root.to_str().unwrap();
    let out = berth(&[
        "rootfs",
        "install",
        "--rootfs",
        rootfs,
        untrusted.to_str().unwrap(),
        kept_v1.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not among the trusted keys"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.contains("error")).count(),
        1,
        "{err}"
    );
    let pre = root.join("var/lib/berth/preinstalled");
    let names = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&pre), [format!("{kept}.tar.gz")]);
    let out = berth(&[
        "rootfs",
        "install",
        "--rootfs",
        rootfs,
        "--delete-after-install",
        "--json",
        deleted_v1.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let placed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        placed[0]["device_path"],
        format!("/var/lib/berth/preinstalled/{deleted}.tar.gz")
    );
    assert!(placed[0]["signature"]
        .as_str()
        .unwrap()
        .contains("trusted key"));
    // What was placed is the package, byte for byte.
    assert_eq!(
        sha256_hex(&pre.join(format!("{kept}.tar.gz"))),
        sha256_hex(&kept_v1)
    );

    // First start: both installed and running; the one asked for is deleted.
    let d = boot(dir.path(), &root, &public);
    for id in [kept, deleted] {
        wait_for(&format!("{id} running"), || {
            installed_version(&d, id).is_some() && status(&d, id)["status"] == "running"
        });
    }
    wait_for("the delete-after-install package deleted", || {
        names(&pre) == [format!("{kept}.tar.gz"), ".applied.json".to_string()]
            || names(&pre) == [".applied.json".to_string(), format!("{kept}.tar.gz")]
    });
    // berthd logs the pass's lines when the whole pass is done.
    wait_for("both installs in berthd's log", || {
        log_count(dir.path(), "pre-installed") == 2
    });
    let state = |root: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(root.join("var/lib/berth/state.json")).unwrap())
            .unwrap()
    };
    let installed_at = state(&root)["containers"][kept]["installed_at"].clone();
    drop(d);

    // Second start: nothing installed again.
    let d = boot(dir.path(), &root, &public);
    wait_for("the kept container running again", || {
        status(&d, kept)["status"] == "running"
    });
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(log_count(dir.path(), "pre-installed"), 2);
    assert_eq!(
        state(&root)["containers"][kept]["installed_at"],
        installed_at
    );
    drop(d);

    // A rootfs update brings 1.1.0: installed once, at the next start.
    let kept_v11 = signed_package(
        dir.path(),
        &secret,
        kept,
        "1.1.0",
        &format!("echo 1.1.0; {SERVE}"),
    );
    let out = berth(&[
        "rootfs",
        "install",
        "--rootfs",
        rootfs,
        kept_v11.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = boot(dir.path(), &root, &public);
    wait_for("1.1.0 installed from the rootfs", || {
        installed_version(&d, kept).as_deref() == Some("1.1.0")
    });
    // The operator installs 2.0.0 since: the next start does not go back to 1.1.0.
    let kept_v2 = signed_package(
        dir.path(),
        &secret,
        kept,
        "2.0.0",
        &format!("echo 2.0.0; {SERVE}"),
    );
    ctl_ok(&d, &["install", kept_v2.to_str().unwrap()]);
    drop(d);
    let d = boot(dir.path(), &root, &public);
    wait_for("a line about the superseded package", || {
        log_count(dir.path(), "was installed from here before") == 1
    });
    assert_eq!(installed_version(&d, kept).as_deref(), Some("2.0.0"));
    // Uninstalled on the device: the factory copy comes back at the next start.
    ctl_ok(&d, &["uninstall", kept]);
    drop(d);
    let d = boot(dir.path(), &root, &public);
    wait_for("the factory package back", || {
        installed_version(&d, kept).as_deref() == Some("1.1.0")
    });
    for id in [kept, deleted] {
        ctl_ok(&d, &["uninstall", id]);
    }
}

#[test]
fn a_preinstalled_package_that_fails_is_kept_and_does_not_stop_the_others() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    let (secret, public) = keygen(dir.path(), "release");
    device_rootfs(&root, &public);
    let id = "berth-e2e-pre-good";
    remove_container(id);
    let good = signed_package(dir.path(), &secret, id, "1.0.0", SERVE);
    let out = berth(&[
        "rootfs",
        "install",
        "--rootfs",
        root.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A package damaged on the device after it was placed (a bad sector, a bad
    // copy): sorted before the good one, so berthd meets it first.
    let pre = root.join("var/lib/berth/preinstalled");
    let mut damaged = std::fs::read(&good).unwrap();
    let at = damaged.len() - 100;
    damaged[at] ^= 0xff;
    std::fs::write(pre.join("a-damaged.tar.gz"), &damaged).unwrap();
    let d = boot(dir.path(), &root, &public);
    wait_for("the good package running", || {
        installed_version(&d, id).is_some() && status(&d, id)["status"] == "running"
    });
    wait_for("the damaged one reported", || {
        log_count(dir.path(), "a-damaged.tar.gz") >= 1
    });
    let log = std::fs::read_to_string(dir.path().join("berthd.log")).unwrap();
    assert!(log.contains("kept; tried again at the next start"), "{log}");
    assert!(pre.join("a-damaged.tar.gz").exists());
    ctl_ok(&d, &["uninstall", id]);
}

#[test]
fn rootfs_install_writes_only_inside_the_rootfs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    let host = dir.path().join("host");
    std::fs::create_dir_all(root.join("var/lib")).unwrap();
    std::fs::create_dir_all(&host).unwrap();
    // The rootfs's working path is an absolute symlink: on the device it points
    // inside the device; here it must not lead to the build host's directory.
    std::os::unix::fs::symlink(&host, root.join("var/lib/berth")).unwrap();
    let parts = berth_package::testkit::Parts::podman();
    let pkg = dir.path().join("demo.tar.gz");
    std::fs::write(&pkg, parts.package()).unwrap();
    let out = berth(&[
        "rootfs",
        "install",
        "--rootfs",
        root.to_str().unwrap(),
        pkg.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        0,
        "wrote to the host"
    );
    let inside = root
        .join(host.strip_prefix("/").unwrap())
        .join("preinstalled/demo.tar.gz");
    assert!(inside.exists(), "{}", inside.display());
    // A package that is not one: exit 2, nothing placed.
    std::fs::write(&pkg, b"not a package").unwrap();
    let out = berth(&[
        "rootfs",
        "install",
        "--rootfs",
        root.to_str().unwrap(),
        pkg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let left: Vec<_> = std::fs::read_dir(inside.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["demo.tar.gz"], "a refused package left files");
}
