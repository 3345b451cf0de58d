//! The device binaries for the devices' CPUs (`make device ARCH=arm64|armhf`, which
//! scripts/test.sh runs beside the other tests, running these after them) under
//! qemu-user: the cross-built berthd serves its API, the cross-built berthctl installs
//! a podman package and a runc bundle package with this host's engines (an emulated
//! process runs the host's podman and runc natively), the containers run, logs and
//! statistics answer, and an uninstall leaves nothing.

use berth_e2e::daemon::{start_command, Daemon};
use berth_e2e::install::{exists, manifest, pack, remove_container, wait_for};
use berth_e2e::subjects::oci_bundle;
use berth_e2e::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Arch {
    name: &'static str,
    triple: &'static str,
    qemu: &'static str,
    /// Where Debian's libc6-<arch>-cross keeps the target's dynamic loader and libc.
    sysroot: &'static str,
}

const ARM64: Arch = Arch {
    name: "arm64",
    triple: "aarch64-unknown-linux-gnu",
    qemu: "qemu-aarch64-static",
    sysroot: "/usr/aarch64-linux-gnu",
};

const ARMHF: Arch = Arch {
    name: "armhf",
    triple: "armv7-unknown-linux-gnueabihf",
    qemu: "qemu-arm-static",
    sysroot: "/usr/arm-linux-gnueabihf",
};

impl Arch {
    /// `berthd` or `berthctl` of this arch, as `make device` leaves it.
    fn binary(&self, name: &str) -> PathBuf {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target")
            .join(self.triple)
            .join("release")
            .join(name);
        assert!(
            path.exists(),
            "{} is missing: run `make device ARCH={}` (scripts/test.sh does)",
            path.display(),
            self.name
        );
        path
    }

    /// `name` run under qemu-user (the file's architecture checked first).
    fn command(&self, name: &str) -> Command {
        let binary = self.binary(name);
        let file = ok(cmd("file", &["-b"]).arg(&binary));
        let machine = if self.name == "arm64" {
            "ARM aarch64"
        } else {
            "ARM, EABI5"
        };
        assert!(file.contains(machine), "{}: {file}", binary.display());
        let mut c = Command::new(self.qemu);
        c.arg("-L").arg(self.sysroot).arg(binary);
        c
    }

    fn ctl(&self, d: &Daemon, args: &[&str]) -> Output {
        run(self
            .command("berthctl")
            .arg("--socket")
            .arg(&d.socket)
            .args(args))
    }

    fn ctl_ok(&self, d: &Daemon, args: &[&str]) -> String {
        let out = self.ctl(d, args);
        assert!(
            out.status.success(),
            "{} berthctl {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Installs `pkg` (package `id`), sees its greeting in the logs and its statistics,
/// and uninstalls it.
fn life(arch: &Arch, d: &Daemon, id: &str, pkg: &Path, greeting: &str) {
    assert_eq!(
        arch.ctl_ok(d, &["install", pkg.to_str().unwrap()]),
        format!("installed {id} 1, running\n")
    );
    wait_for(&format!("{id}'s greeting in the logs"), || {
        arch.ctl_ok(d, &["logs", id]).contains(greeting)
    });
    let status: Value = serde_json::from_str(&arch.ctl_ok(d, &["status", id, "--json"])).unwrap();
    assert_eq!(status["running"], true, "{status}");
    let stats: Value = serde_json::from_str(&arch.ctl_ok(d, &["stats", id, "--json"])).unwrap();
    assert!(stats["pids"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["memory_bytes"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(
        arch.ctl_ok(d, &["uninstall", id]),
        format!("uninstalled {id}\n")
    );
}

fn berthd_under_qemu_runs_podman_and_runc_packages(arch: &Arch) {
    require(&["podman", "runc", arch.qemu, "file"]);
    let dir = tempfile::tempdir().unwrap();
    let d = start_command(dir.path(), json!({}), arch.command("berthd"));
    let info: Value = serde_json::from_str(&arch.ctl_ok(&d, &["info", "--json"])).unwrap();
    assert!(info["runtimes"].as_array().is_some(), "{info}");

    // A podman package.
    let id = format!("berth-e2e-cross-{}", arch.name);
    remove_container(&id);
    let tag = format!("localhost/{id}:1");
    let greeting = format!("hello from berthd on {}", arch.name);
    let image = TestImage::build(dir.path(), &tag, &format!("echo {greeting}; {SERVE}"));
    let tar = dir.path().join("image.tar");
    image.save("docker-archive", &tar);
    image.remove();
    let pkg = pack(dir.path(), &manifest(&id, "1", "--init", true), &tar);
    life(arch, &d, &id, &pkg, &greeting);
    assert!(!exists("container", &id), "container {id} left behind");
    assert!(!exists("image", &tag), "image {tag} left behind");

    // A runc bundle package.
    let id = format!("berth-e2e-cross-runc-{}", arch.name);
    let bundle = oci_bundle(dir.path(), &id, &format!("echo {greeting}; {SERVE}"));
    let mut m = berth_e2e::lxc::lxc_manifest(&id);
    m["runtime"] = "runc".into();
    let pkg = pack(dir.path(), &m, &bundle);
    life(arch, &d, &id, &pkg, &greeting);
    let state = dir.path().join("work/oci-state");
    let runc_list = ok(cmd("runc", &["--root"]).arg(&state).args(["list", "-q"]));
    assert!(!runc_list.lines().any(|l| l == id), "runc still lists {id}");
    assert!(!dir.path().join("work/oci").join(&id).exists());
}

#[test]
fn arm64_berthd_under_qemu_runs_podman_and_runc_packages() {
    berthd_under_qemu_runs_podman_and_runc_packages(&ARM64);
}

#[test]
fn armhf_berthd_under_qemu_runs_podman_and_runc_packages() {
    berthd_under_qemu_runs_podman_and_runc_packages(&ARMHF);
}
