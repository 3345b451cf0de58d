//! Which engine runs what: Digi's `runtime: "podman"` packages on Docker Engine when
//! berthd's config says so, crun refused where it cannot run, and what `berthctl
//! info` tells of each runtime.

use berth_e2e::daemon::{ctl, start_with};
use berth_e2e::install::{ctl_ok, manifest, pack, refused, status};
use berth_e2e::subjects::oci_bundle;
use berth_e2e::*;
use serde_json::json;

#[test]
fn a_digi_podman_package_runs_on_docker_engine_when_the_config_says_so() {
    require_docker();
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-on-docker";
    let tag = format!("localhost/{id}:1");
    let _ = run(&mut cmd("docker", &["rm", "-f", id]));
    let image = TestImage::build(
        dir.path(),
        &tag,
        "echo hello from docker; exec sleep infinity",
    );
    let tar = dir.path().join("image.tar");
    image.save("docker-archive", &tar);
    drop(image);
    // Digi's form: engine options only, `runtime: "podman"`.
    let pkg = pack(
        dir.path(),
        &manifest(id, "1", "--init --network host", true),
        &tar,
    );
    let d = start_with(dir.path(), json!({"runtimes": {"image_engine": "docker"}}));
    let info: serde_json::Value = serde_json::from_str(&ctl_ok(&d, &["info", "--json"])).unwrap();
    let podman = info["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "podman")
        .unwrap()
        .clone();
    assert_eq!(podman["engine"], "docker", "{info}");
    assert!(ctl_ok(&d, &["info"]).contains("podman   runs on docker"));

    assert_eq!(
        ctl_ok(&d, &["install", pkg.to_str().unwrap()]),
        format!("installed {id} 1, running\n")
    );
    assert_eq!(status(&d, id)["runtime"], "podman");
    // Docker's view: its container, host network, its image; podman has none.
    let inspect = ok(&mut cmd(
        "docker",
        &[
            "container",
            "inspect",
            "--format",
            "{{.HostConfig.NetworkMode}} {{.Config.Image}} {{.State.Running}}",
            id,
        ],
    ));
    assert_eq!(inspect.trim(), format!("host {tag} true"));
    assert!(!run(&mut cmd("podman", &["container", "exists", id]))
        .status
        .success());
    berth_e2e::install::wait_for("docker's output in berth's log", || {
        ctl_ok(&d, &["logs", id]).contains("hello from docker\n")
    });
    assert_eq!(
        ctl_ok(&d, &["uninstall", id]),
        format!("uninstalled {id}\n")
    );
    assert!(!docker_ok(&["container", "inspect", id]));
    assert!(!docker_ok(&["image", "inspect", &tag]), "its image is left");
}

/// crun refuses hybrid cgroup hierarchies (shared/HOST-NOTES.md): berthd says so
/// and why on such a host, and runs crun where the hierarchy is unified (cgroup v2
/// only: Debian 12's default). The test describes the host it runs on; the choice
/// itself is unit-tested over both hierarchies (runc/tests.rs).
#[test]
fn crun_runs_on_unified_cgroups_and_is_refused_on_hybrid_ones_with_the_reason() {
    require(&["crun", "runc"]);
    let cgroup = std::path::Path::new("/sys/fs/cgroup");
    let hybrid = cgroup.join("unified").is_dir() && cgroup.join("memory").is_dir();
    let unified = cgroup.join("cgroup.controllers").is_file();
    assert!(
        hybrid || unified,
        "neither a hybrid nor a unified cgroup hierarchy at /sys/fs/cgroup"
    );
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-crun";
    let bundle = oci_bundle(dir.path(), id, &format!("echo hi from crun; {SERVE}"));
    let mut m = berth_e2e::lxc::lxc_manifest(id);
    m["runtime"] = "runc".into();
    let pkg = pack(dir.path(), &m, &bundle);
    let d = start_with(dir.path(), json!({"runtimes": {"oci_runtime": "crun"}}));
    let out = ctl(&d.socket, &["install", pkg.to_str().unwrap()]);
    if hybrid {
        refused(
            &out,
            1,
            "crun cannot run containers on this host: its cgroups are in hybrid mode",
        );
        assert!(ctl_ok(&d, &["info"]).contains(
            "runc     not available: the runc runtime is not available on this device: crun cannot run"
        ));
        assert!(!dir.path().join("work/oci").join(id).exists());
    } else {
        assert!(out.status.success(), "{out:?}");
        berth_e2e::install::wait_for("crun's container output in berth's log", || {
            ctl_ok(&d, &["logs", id]).contains("hi from crun")
        });
        ctl_ok(&d, &["uninstall", id]);
    }
}

/// A second opinion on the runc payload: umoci's bundle (`umoci unpack` of an OCI
/// image skopeo copied out of podman) is packed by berth, installed by berthd, run
/// by runc, and its output reaches the log.
#[test]
fn an_oci_bundle_umoci_unpacked_is_packed_installed_and_run_under_runc() {
    require(&["podman", "skopeo", "umoci", "runc"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-umoci";
    let tag = format!("localhost/{id}:1");
    let image = TestImage::build(dir.path(), &tag, &format!("echo hello from umoci; {SERVE}"));
    let archive = dir.path().join("image.tar");
    image.save("oci-archive", &archive);
    let layout = dir.path().join("layout");
    ok(cmd("skopeo", &["copy", "--quiet"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("oci:{}:v1", layout.display())));
    let top = dir.path().join("bundles");
    std::fs::create_dir_all(&top).unwrap();
    ok(cmd("umoci", &["unpack", "--image"])
        .arg(format!("{}:v1", layout.display()))
        .arg(top.join(id)));
    let bundle = dir.path().join(format!("{id}.tar.gz"));
    ok(cmd(
        "tar",
        &[
            "-C",
            top.to_str().unwrap(),
            "-czf",
            bundle.to_str().unwrap(),
            id,
        ],
    ));
    let mut m = berth_e2e::lxc::lxc_manifest(id);
    m["runtime"] = "runc".into();
    let pkg = pack(dir.path(), &m, &bundle);

    let d = berth_e2e::daemon::start(dir.path());
    assert_eq!(
        ctl_ok(&d, &["install", pkg.to_str().unwrap()]),
        format!("installed {id} 1, running\n")
    );
    berth_e2e::install::wait_for("umoci's container output in the log", || {
        ctl_ok(&d, &["logs", id]).contains("hello from umoci\n")
    });
    assert_eq!(status(&d, id)["runtime"], "runc");
    assert_eq!(
        ctl_ok(&d, &["uninstall", id]),
        format!("uninstalled {id}\n")
    );
    assert!(!dir.path().join("work/oci").join(id).exists());
}
