//! `berth image build` splitting a rootfs into layers by its own package database:
//! dpkg, opkg and rpm (read without writing it).

use berth_e2e::build::{app_rootfs, build_json, layer_names};
use berth_e2e::cli::berth;
use berth_e2e::*;
use std::path::{Path, PathBuf};

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
