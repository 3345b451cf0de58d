//! The test subjects shared by tests that are generic over the runtime: one package
//! id in two versions, on one runtime, whose container prints `version N` and
//! sleeps; how to crash it; what the runtime must hold for a registered version.
//! A new runtime adds a variant and a constructor here.

use crate::install::{assert_no_transient_images, manifest, pack, remove_container};
use berth_e2e::*;
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

/// What the trials run: one package id in two versions, on one runtime.
pub struct Subject {
    pub id: &'static str,
    pub packages: [PathBuf; 2],
    pub runtime: Runtime,
}

pub enum Runtime {
    /// The image tags of version 1 and 2.
    Podman([String; 2]),
    Lxc,
}

impl Subject {
    /// Podman: images `localhost/<id>:1` and `:2`, packed in Digi's form (engine
    /// options only), with `policy` applied to each manifest.
    pub fn podman(dir: &Path, id: &'static str, policy: fn(&mut Value)) -> Subject {
        remove_container(id);
        remove_container(&format!("{id}.berth-new"));
        let mut packages = Vec::new();
        let mut tags = Vec::new();
        for v in ["1", "2"] {
            let tag = format!("localhost/{id}:{v}");
            let image = TestImage::build(
                &dir.join(v),
                &tag,
                &format!("echo version {v}; exec sleep infinity"),
            );
            let tar = dir.join(format!("v{v}.tar"));
            image.save("docker-archive", &tar);
            image.remove();
            std::mem::forget(image); // removed by the tests themselves, or on drop
            let mut m = manifest(id, v, "--init", true);
            policy(&mut m);
            packages.push(pack(dir, &m, &tar));
            tags.push(tag);
        }
        Subject {
            id,
            packages: [packages[0].clone(), packages[1].clone()],
            runtime: Runtime::Podman([tags[0].clone(), tags[1].clone()]),
        }
    }

    /// LXC: busybox bundles without network.
    pub fn lxc(dir: &Path, id: &'static str, policy: fn(&mut Value)) -> Subject {
        let mut packages = Vec::new();
        for v in ["1", "2"] {
            let bundle = crate::supervise::lxc_bundle(
                &dir.join(v),
                id,
                &format!("echo version {v}; exec sleep 1000"),
                "lxc.net.0.type = none",
            );
            let mut m = crate::supervise::lxc_manifest(id);
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
            Runtime::Lxc => "lxc",
        }
    }

    /// A crash of the running container, for berthd's policy to handle.
    pub fn crash(&self, dir: &Path) {
        match &self.runtime {
            Runtime::Podman(_) => {
                let _ = run(&mut cmd("podman", &["kill", self.id]));
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

    /// The runtime holds exactly the registered version, or nothing.
    pub fn check_runtime(&self, ctx: &str, dir: &Path, version: Option<&str>) {
        let id = self.id;
        match &self.runtime {
            Runtime::Podman(tags) => {
                assert!(
                    !podman_ok(&["container", "exists", &format!("{id}.berth-new")]),
                    "{ctx}: an upgrade's container is left"
                );
                assert_no_transient_images(id, ctx);
                let Some(v) = version else {
                    assert!(
                        !podman_ok(&["container", "exists", id]),
                        "{ctx}: orphan container"
                    );
                    for tag in tags {
                        assert!(
                            !podman_ok(&["image", "exists", tag]),
                            "{ctx}: orphan image {tag}"
                        );
                    }
                    return;
                };
                let label = ok(&mut cmd(
                    "podman",
                    &[
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
                assert!(
                    podman_ok(&["image", "exists", mine]),
                    "{ctx}: its image is gone"
                );
                assert!(
                    !podman_ok(&["image", "exists", other]),
                    "{ctx}: orphan image {other}"
                );
            }
            Runtime::Lxc => {
                let place = dir.join("work/lxc").join(id);
                assert!(
                    !dir.join("work/lxc-previous").join(id).exists(),
                    "{ctx}: an upgrade's old bundle is left aside"
                );
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

impl Drop for Subject {
    fn drop(&mut self) {
        if let Runtime::Podman(tags) = &self.runtime {
            for tag in tags {
                let _ = run(&mut cmd("podman", &["rmi", "-f", tag]));
            }
        }
    }
}
