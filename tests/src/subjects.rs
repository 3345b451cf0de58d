//! The test subjects shared by tests that are generic over the runtime: one package
//! id in two versions, on one runtime, whose container prints `version N` and
//! sleeps; how to crash it; what the runtime must hold for a registered version.
//! A new runtime adds a variant and a constructor here.

use crate::install::{assert_no_transient_images_in, manifest, pack, remove_container};
use crate::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn podman_ok(args: &[&str]) -> bool {
    run(&mut cmd("podman", args)).status.success()
}

/// The version containers.conf registers for `id`.
pub fn registered_version(dir: &Path, id: &str) -> Option<String> {
    let bytes = std::fs::read(dir.join("work/containers.conf")).ok()?;
    let conf: Value = serde_json::from_slice(&bytes).expect("containers.conf parses");
    conf["containers"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["version"].as_str().unwrap().to_string())
}

/// What each version runs by default: says its version (`{v}`), then serves until
/// stopped. Image containers run under `--init`; a runc or LXC bundle's shell ends
/// on SIGTERM (SIGPWR too, LXC's halt signal), as a service does: an init that
/// ignored them would hold every stop for its whole grace period.
const IMAGE_SERVICE: [&str; 2] = ["echo version {v}; exec sleep infinity"; 2];
const RUNC_SERVICE: [&str; 2] = ["echo version {v}; sleep 1000 & wait"; 2];
const LXC_SERVICE: [&str; 2] = ["echo version {v}; sleep 1000 & wait"; 2];

/// What the trials run: one package id in two versions, on one runtime.
pub struct Subject {
    pub id: &'static str,
    pub packages: [PathBuf; 2],
    pub runtime: Runtime,
}

pub enum Runtime {
    /// The image tags of version 1 and 2.
    Podman([String; 2]),
    /// The image tags of version 1 and 2, in Docker's store.
    Docker([String; 2]),
    Lxc,
    Runc,
}

impl Subject {
    /// Podman: images `localhost/<id>:1` and `:2`, packed in Digi's form (engine
    /// options only), with `policy` applied to each manifest.
    pub fn podman(dir: &Path, id: &'static str, policy: fn(&mut Value)) -> Subject {
        Self::podman_running(dir, id, policy, &IMAGE_SERVICE)
    }

    /// `podman`, version N running `scripts[N - 1]` (`sh -c`).
    pub fn podman_running(
        dir: &Path,
        id: &'static str,
        policy: fn(&mut Value),
        scripts: &[&str; 2],
    ) -> Subject {
        for suffix in ["", ".berth-new", ".berth-prev", ".berth-rolledback"] {
            remove_container(&format!("{id}{suffix}"));
        }
        let (packages, tags) = image_packages(dir, id, "podman", policy, scripts);
        Subject {
            id,
            packages: [packages[0].clone(), packages[1].clone()],
            runtime: Runtime::Podman([tags[0].clone(), tags[1].clone()]),
        }
    }

    /// Docker Engine: the podman subject's images (a `podman save` docker-archive,
    /// which berthd streams into dockerd), packed with `runtime: "docker"` and
    /// Docker's `--init`.
    pub fn docker(dir: &Path, id: &'static str, policy: fn(&mut Value)) -> Subject {
        Self::docker_running(dir, id, policy, &IMAGE_SERVICE)
    }

    /// `docker`, version N running `scripts[N - 1]` (`sh -c`).
    pub fn docker_running(
        dir: &Path,
        id: &'static str,
        policy: fn(&mut Value),
        scripts: &[&str; 2],
    ) -> Subject {
        require_docker();
        for suffix in ["", ".berth-new", ".berth-prev", ".berth-rolledback"] {
            let _ = run(&mut cmd("docker", &["rm", "-f", &format!("{id}{suffix}")]));
        }
        for v in ["1", "2"] {
            let _ = run(&mut cmd(
                "docker",
                &["rmi", "-f", &format!("localhost/{id}:{v}")],
            ));
        }
        let (packages, tags) = image_packages(dir, id, "docker", policy, scripts);
        Subject {
            id,
            packages: [packages[0].clone(), packages[1].clone()],
            runtime: Runtime::Docker([tags[0].clone(), tags[1].clone()]),
        }
    }

    /// runc: OCI runtime bundles of busybox whose config.json is runc's own
    /// (`runc spec`), with the command set and its terminal left on (berthd turns it
    /// off to run detached). The script ends on SIGTERM, as a service does.
    pub fn runc(dir: &Path, id: &'static str, policy: fn(&mut Value)) -> Subject {
        Self::runc_running(dir, id, policy, &RUNC_SERVICE)
    }

    /// `runc`, version N running `scripts[N - 1]` (`sh -c`).
    pub fn runc_running(
        dir: &Path,
        id: &'static str,
        policy: fn(&mut Value),
        scripts: &[&str; 2],
    ) -> Subject {
        require(&["runc"]);
        let mut packages = Vec::new();
        for (v, script) in ["1", "2"].into_iter().zip(scripts) {
            let bundle = oci_bundle(
                &dir.join(v),
                id,
                &format!("trap 'exit 0' TERM; {}", script.replace("{v}", v)),
            );
            let mut m = crate::lxc::lxc_manifest(id);
            m["runtime"] = "runc".into();
            m["version"] = v.into();
            policy(&mut m);
            packages.push(pack(dir, &m, &bundle));
        }
        Subject {
            id,
            packages: [packages[0].clone(), packages[1].clone()],
            runtime: Runtime::Runc,
        }
    }

    /// LXC: busybox bundles without network.
    pub fn lxc(dir: &Path, id: &'static str, policy: fn(&mut Value)) -> Subject {
        Self::lxc_running(dir, id, policy, &LXC_SERVICE)
    }

    /// `lxc`, version N running `scripts[N - 1]` (`sh -c`).
    pub fn lxc_running(
        dir: &Path,
        id: &'static str,
        policy: fn(&mut Value),
        scripts: &[&str; 2],
    ) -> Subject {
        let mut packages = Vec::new();
        for (v, script) in ["1", "2"].into_iter().zip(scripts) {
            let bundle = crate::lxc::lxc_bundle(
                &dir.join(v),
                id,
                &format!("trap 'exit 0' PWR TERM; {}", script.replace("{v}", v)),
                "lxc.net.0.type = none",
            );
            let mut m = crate::lxc::lxc_manifest(id);
            m["version"] = v.into();
            policy(&mut m);
            packages.push(pack(dir, &m, &bundle));
        }
        Subject {
            id,
            packages: [packages[0].clone(), packages[1].clone()],
            runtime: Runtime::Lxc,
        }
    }

    /// The runtime's name in berthd's answers.
    pub fn runtime_name(&self) -> &'static str {
        match self.runtime {
            Runtime::Podman(_) => "podman",
            Runtime::Docker(_) => "docker",
            Runtime::Lxc => "lxc",
            Runtime::Runc => "runc",
        }
    }

    /// A crash of the running container, for berthd's policy to handle.
    pub fn crash(&self, dir: &Path) {
        match &self.runtime {
            Runtime::Podman(_) => {
                let _ = run(&mut cmd("podman", &["kill", self.id]));
            }
            Runtime::Docker(_) => {
                let _ = run(&mut cmd("docker", &["kill", self.id]));
            }
            Runtime::Runc => {
                let state = run(cmd("runc", &["--root"])
                    .arg(dir.join("work/oci-state"))
                    .args(["state", self.id]));
                let state: Value = serde_json::from_slice(&state.stdout).unwrap_or_default();
                if let Some(pid) = state["pid"].as_u64().filter(|p| *p > 0) {
                    let _ = run(&mut cmd("kill", &["-9", &pid.to_string()]));
                }
            }
            Runtime::Lxc => {
                let lxcpath = dir.join("work/lxc");
                let out = run(cmd("lxc-info", &["-n", self.id, "-p", "-H", "-P"]).arg(&lxcpath));
                let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !pid.is_empty() {
                    let _ = run(&mut cmd("kill", &["-9", &pid]));
                }
            }
        }
    }

    /// `check_runtime` once berthd has finished what it does in the background after
    /// a restart: a probation that ended while it was down is rolled back then, and
    /// seen in CI under load, the check ran in the middle of that rollback and found
    /// `<id>.berth-rolledback` or the rolled-back image. The check is repeated for up
    /// to 30 s, `version` read again each time; what is still wrong then fails as it
    /// is.
    pub fn check_runtime_settled(
        &self,
        ctx: &str,
        dir: &Path,
        version: impl Fn() -> Option<String>,
    ) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let v = version();
            let check = || self.check_runtime(ctx, dir, v.as_deref());
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
                Ok(()) => return,
                Err(failed) if std::time::Instant::now() >= deadline => {
                    std::panic::resume_unwind(failed)
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(500)),
            }
        }
    }

    /// The runtime holds exactly the registered version and the previous version
    /// state.json says is kept (stopped), or nothing; never a rolled-back version.
    pub fn check_runtime(&self, ctx: &str, dir: &Path, version: Option<&str>) {
        let id = self.id;
        let previous = kept_previous(dir, id);
        let previous = previous.as_deref().filter(|_| version.is_some());
        match &self.runtime {
            Runtime::Podman(tags) => check_image_engine("podman", tags, id, ctx, version, previous),
            Runtime::Docker(tags) => check_image_engine("docker", tags, id, ctx, version, previous),
            Runtime::Runc => {
                let place = dir.join("work/oci").join(id);
                check_bundle_aside(ctx, &dir.join("work/oci"), id, previous);
                let placed = std::fs::read_to_string(place.join("berth-version")).ok();
                assert_eq!(
                    placed.as_deref(),
                    version,
                    "{ctx}: the bundle in place is not the registered version"
                );
                let listed = ok(cmd("runc", &["--root"])
                    .arg(dir.join("work/oci-state"))
                    .args(["list", "-q"]));
                match version {
                    Some(_) => assert!(
                        place.join("rootfs/bin/busybox").exists(),
                        "{ctx}: bundle incomplete"
                    ),
                    None => assert!(
                        !listed.lines().any(|l| l.trim() == id),
                        "{ctx}: runc still has {id}: {listed}"
                    ),
                }
            }
            Runtime::Lxc => {
                let place = dir.join("work/lxc").join(id);
                check_bundle_aside(ctx, &dir.join("work/lxc"), id, previous);
                let placed = std::fs::read_to_string(place.join("berth-version")).ok();
                assert_eq!(
                    placed.as_deref(),
                    version,
                    "{ctx}: the bundle in place is not the registered version"
                );
                if version.is_some() {
                    assert!(
                        place.join("rootfs/bin/busybox").exists(),
                        "{ctx}: bundle incomplete"
                    );
                }
            }
        }
    }
}

/// Versions 1 and 2 of an image package for `runtime`: images `localhost/<id>:1`
/// and `:2` built with podman, saved as docker-archives and removed again (the engine
/// gets them from the packages only), packed in Digi's form (engine options only:
/// `--init`) with `policy` applied to each manifest. Returns packages and tags.
fn image_packages(
    dir: &Path,
    id: &str,
    runtime: &str,
    policy: fn(&mut Value),
    scripts: &[&str; 2],
) -> (Vec<PathBuf>, Vec<String>) {
    let mut packages = Vec::new();
    let mut tags = Vec::new();
    for (v, script) in ["1", "2"].into_iter().zip(scripts) {
        let tag = format!("localhost/{id}:{v}");
        let image = TestImage::build(&dir.join(v), &tag, &script.replace("{v}", v));
        let tar = dir.join(format!("v{v}.tar"));
        image.save("docker-archive", &tar);
        drop(image);
        let mut m = manifest(id, v, "--init", true);
        m["runtime"] = runtime.into();
        policy(&mut m);
        packages.push(pack(dir, &m, &tar));
        tags.push(tag);
    }
    (packages, tags)
}

/// The version of `id` state.json says berthd keeps for a rollback.
pub fn kept_previous(dir: &Path, id: &str) -> Option<String> {
    let state: Value =
        serde_json::from_slice(&std::fs::read(dir.join("work/state.json")).ok()?).ok()?;
    state["containers"][id]["previous"]["version"]
        .as_str()
        .map(String::from)
}

/// `<bundles>-previous/<id>` holds exactly the kept previous version, if any; no
/// rolled-back bundle is left.
fn check_bundle_aside(ctx: &str, bundles: &Path, id: &str, previous: Option<&str>) {
    let aside = |suffix: &str| {
        let mut name = bundles.file_name().unwrap().to_os_string();
        name.push(suffix);
        bundles.with_file_name(name).join(id)
    };
    let kept = std::fs::read_to_string(aside("-previous").join("berth-version")).ok();
    assert_eq!(
        kept.as_deref(),
        previous,
        "{ctx}: the bundle aside is not the kept previous version"
    );
    assert!(
        !aside("-rolledback").exists(),
        "{ctx}: a rolled-back bundle is left"
    );
}

/// `engine` (podman or docker) holds the registered version of `id` — its container,
/// labelled with that version, and that version's image — and the kept previous
/// version (stopped, as `<id>.berth-prev`, with its image), or nothing of `id`;
/// never an upgrade's or a rollback's container, or a transient image.
fn check_image_engine(
    engine: &str,
    tags: &[String; 2],
    id: &str,
    ctx: &str,
    version: Option<&str>,
    previous: Option<&str>,
) {
    let has = |kind: &str, name: &str| {
        run(&mut cmd(engine, &[kind, "inspect", name]))
            .status
            .success()
    };
    for leftover in [format!("{id}.berth-new"), format!("{id}.berth-rolledback")] {
        assert!(
            !has("container", &leftover),
            "{ctx}: {leftover} is left in {engine}"
        );
    }
    let prev = format!("{id}.berth-prev");
    match previous {
        Some(p) => {
            let label = ok(&mut cmd(
                engine,
                &[
                    "container",
                    "inspect",
                    "--format",
                    "{{index .Config.Labels \"berth.version\"}} {{.State.Running}}",
                    &prev,
                ],
            ));
            assert_eq!(
                label.trim(),
                format!("{p} false"),
                "{ctx}: {prev} is not the kept previous version, stopped"
            );
        }
        None => assert!(
            !has("container", &prev),
            "{ctx}: {prev} is left in {engine}"
        ),
    }
    assert_no_transient_images_in(engine, id, ctx);
    let Some(v) = version else {
        assert!(!has("container", id), "{ctx}: orphan container in {engine}");
        for tag in tags {
            assert!(!has("image", tag), "{ctx}: orphan image {tag} in {engine}");
        }
        return;
    };
    let label = ok(&mut cmd(
        engine,
        &[
            "container",
            "inspect",
            "--format",
            "{{index .Config.Labels \"berth.version\"}}",
            id,
        ],
    ));
    assert_eq!(
        label.trim(),
        v,
        "{ctx}: the container is not the registered version"
    );
    let (mine, other) = if v == "1" {
        (&tags[0], &tags[1])
    } else {
        (&tags[1], &tags[0])
    };
    assert!(has("image", mine), "{ctx}: its image is gone from {engine}");
    let other_kept = previous.is_some_and(|p| p != v);
    assert_eq!(
        has("image", other),
        other_kept,
        "{ctx}: image {other} in {engine} (kept previous version: {previous:?})"
    );
}

impl Drop for Subject {
    fn drop(&mut self) {
        match &self.runtime {
            Runtime::Podman(tags) => {
                for tag in tags {
                    let _ = run(&mut cmd("podman", &["rmi", "-f", tag]));
                }
            }
            Runtime::Docker(tags) => {
                for suffix in ["", ".berth-new", ".berth-prev", ".berth-rolledback"] {
                    let name = format!("{}{suffix}", self.id);
                    let _ = run(&mut cmd("docker", &["rm", "-f", &name]));
                }
                for tag in tags {
                    let _ = run(&mut cmd("docker", &["rmi", "-f", tag]));
                }
            }
            Runtime::Lxc | Runtime::Runc => {}
        }
    }
}

/// An OCI runtime bundle of busybox under `dir`, its config.json made by `runc spec`
/// with `script` as the command; returns the .tar.gz.
pub fn oci_bundle(dir: &Path, id: &str, script: &str) -> PathBuf {
    oci_bundle_running(dir, id, &["/bin/sh", "-c", script])
}

/// The same, running `args`.
pub fn oci_bundle_running(dir: &Path, id: &str, args: &[&str]) -> PathBuf {
    let top = dir.join(format!("oci-{id}"));
    busybox_rootfs(&top);
    ok(cmd("runc", &["spec", "--bundle", top.to_str().unwrap()]));
    let path = top.join("config.json");
    let mut spec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(
        spec["process"]["terminal"], true,
        "runc spec's default changed"
    );
    spec["process"]["args"] = serde_json::json!(args);
    spec["hostname"] = id.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let out = dir.join(format!("{id}.tar.gz"));
    ok(cmd(
        "tar",
        &["-C", dir.to_str().unwrap(), "-czf", out.to_str().unwrap()],
    )
    .arg(format!("oci-{id}")));
    out
}
