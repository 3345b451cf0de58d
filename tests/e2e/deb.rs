//! The Debian packages (`make deb ARCH=…`, scripts/deb.sh) for each device arch, from
//! the binaries `make device` left for arm64 and armhf (scripts/test.sh builds them
//! beside the other tests and runs these after them) and the test build's for amd64:
//! dpkg-deb reads them, lintian finds no error, the files land where Debian puts
//! them, the config is a conffile, and the units systemd-analyze verifies in the
//! unpacked root.

use berth_e2e::*;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// scripts/deb.sh ARCH PACKAGE into `out`, with `env`; returns the .deb.
fn deb(out: &Path, arch: &str, package: &str, env: &[(&str, &Path)]) -> PathBuf {
    let mut c = cmd("bash", &[]);
    c.arg(repo().join("scripts/deb.sh"))
        .args([arch, package])
        .env("DEB_OUT", out);
    for (k, v) in env {
        c.env(k, v);
    }
    PathBuf::from(ok(&mut c).trim())
}

fn field(deb: &Path, name: &str) -> String {
    ok(cmd("dpkg-deb", &["--field"]).arg(deb).arg(name))
        .trim()
        .to_string()
}

/// lintian's verdict: no error (warnings and informational tags are printed).
fn lintian_passes(deb: &Path) {
    let out = run(cmd(
        "lintian",
        &["--fail-on", "error", "--tag-display-limit", "0"],
    )
    .arg(deb));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("lintian {}:\n{text}", deb.display());
    assert!(out.status.success(), "lintian {}: {text}", deb.display());
    assert!(!text.lines().any(|l| l.starts_with("E: ")), "{text}");
}

/// The berthd package for `arch`, from `bin_dir` (None: where `make device` leaves the
/// binaries).
fn berthd_package_for(arch: &str, machine: &str, bin_dir: Option<&Path>) {
    require(&["dpkg-deb", "lintian", "systemd-analyze", "file"]);
    let dir = tempfile::tempdir().unwrap();
    let env: Vec<(&str, &Path)> = bin_dir.map(|d| ("BIN_DIR", d)).into_iter().collect();
    let deb = deb(dir.path(), arch, "berthd", &env);
    assert_eq!(
        deb.file_name().unwrap().to_str().unwrap(),
        format!("berthd_{}_{arch}.deb", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(field(&deb, "Package"), "berthd");
    assert_eq!(field(&deb, "Architecture"), arch);
    let depends = field(&deb, "Depends");
    assert!(depends.starts_with("libc6 (>= 2."), "{depends}");
    lintian_passes(&deb);

    let control = dir.path().join("control");
    ok(cmd("dpkg-deb", &["--control"]).arg(&deb).arg(&control));
    assert_eq!(
        std::fs::read_to_string(control.join("conffiles")).unwrap(),
        "/etc/berth/berthd.conf\n"
    );
    let postinst = std::fs::read_to_string(control.join("postinst")).unwrap();
    assert!(
        postinst.contains("deb-systemd-helper enable \"$unit\""),
        "{postinst}"
    );

    let root = dir.path().join("root");
    ok(cmd("dpkg", &["-x"]).arg(&deb).arg(&root));
    for b in ["berthd", "berthctl"] {
        let file = ok(cmd("file", &["-b"]).arg(root.join("usr/bin").join(b)));
        assert!(
            file.contains(machine) && file.contains("stripped") && !file.contains("not stripped"),
            "{b}: {file}"
        );
    }
    assert!(root.join("var/lib/berth").is_dir());
    assert_eq!(
        std::fs::read(root.join("etc/berth/berthd.conf")).unwrap(),
        std::fs::read(repo().join("contrib/berthd.conf")).unwrap()
    );
    // The units as packaged, their ExecStart/ExecStop pointed at the packaged
    // binary (systemd-analyze checks that it exists and is executable; a root of
    // its own would lack the host's targets and /bin/true).
    let packaged_berthd = root.join("usr/bin/berthd");
    let units: Vec<PathBuf> = ["berthd.service", "berthd-shutdown.service"]
        .iter()
        .map(|u| {
            let text = std::fs::read_to_string(root.join("lib/systemd/system").join(u)).unwrap();
            assert!(text.contains("/usr/bin/berthd"), "{u}: {text}");
            let local = dir.path().join(u);
            std::fs::write(
                &local,
                text.replace("/usr/bin/berthd", packaged_berthd.to_str().unwrap()),
            )
            .unwrap();
            local
        })
        .collect();
    ok(cmd("systemd-analyze", &["verify", "--man=no"]).args(&units));
}

#[test]
fn the_berthd_package_for_arm64_unpacks_and_passes_lintian() {
    berthd_package_for("arm64", "ARM aarch64", None);
}

#[test]
fn the_berthd_package_for_armhf_unpacks_and_passes_lintian() {
    berthd_package_for("armhf", "ARM, EABI5", None);
}

/// amd64's from the test build's berthd and berthctl, as the berth package below: the
/// release profile is built (and run under qemu) for arm64 and armhf.
#[test]
fn the_berthd_package_for_amd64_unpacks_and_passes_lintian() {
    let bin_dir = bin("berthd").parent().unwrap().to_path_buf();
    berthd_package_for("amd64", "x86-64", Some(&bin_dir));
}

/// The build host's package: berth (the test's debug build, stripped into it).
#[test]
fn the_berth_package_for_the_build_host_unpacks_and_passes_lintian() {
    require(&["dpkg-deb", "lintian"]);
    let dir = tempfile::tempdir().unwrap();
    let bin_dir = bin("berth").parent().unwrap().to_path_buf();
    let deb = deb(dir.path(), "amd64", "berth", &[("BIN_DIR", &bin_dir)]);
    assert_eq!(field(&deb, "Package"), "berth");
    assert_eq!(field(&deb, "Architecture"), "amd64");
    lintian_passes(&deb);
    let root = dir.path().join("root");
    ok(cmd("dpkg", &["-x"]).arg(&deb).arg(&root));
    let version = ok(cmd(
        root.join("usr/bin/berth").to_str().unwrap(),
        &["--version"],
    ));
    assert_eq!(
        version.trim(),
        format!("berth {}", env!("CARGO_PKG_VERSION"))
    );
    // A build host tool only: berthd's package is the device's.
    let refused = run(cmd("bash", &[])
        .arg(repo().join("scripts/deb.sh"))
        .args(["arm64", "berth"])
        .env("DEB_OUT", dir.path()));
    assert_eq!(refused.status.code(), Some(2));
}

/// The shipped default config is berthd's built-in defaults, written out: berthd
/// reads it to the same effective settings as an empty config.
#[test]
fn the_default_config_is_berthds_built_in_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.conf");
    std::fs::write(&empty, "{}").unwrap();
    let effective = |config: &Path| {
        ok(cmd(
            bin("berthd").to_str().unwrap(),
            &["--check-config", "--config"],
        )
        .arg(config))
    };
    assert_eq!(
        effective(&repo().join("contrib/berthd.conf")),
        effective(&empty)
    );
}
