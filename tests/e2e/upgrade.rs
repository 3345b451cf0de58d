//! Upgrades through berthd against real podman: a failed one changes nothing, a good
//! one swaps; the same version is refused unless forced.

use berth_e2e::daemon::{ctl, start_with};
use berth_e2e::install::{ctl_ok, exists, manifest, pack, refused, remove_container, status};
use berth_e2e::*;
use serde_json::{json, Value};

#[test]
fn a_failed_upgrade_leaves_the_old_version_running_and_a_good_one_swaps() {
    require(&["podman"]);
    let dir = tempfile::tempdir().unwrap();
    let id = "berth-e2e-upgrade";
    remove_container(id);
    let v1 = TestImage::build(dir.path(), "localhost/berth-e2e-upgrade:1", SERVE);
    let tar1 = dir.path().join("v1.tar");
    v1.save("docker-archive", &tar1);
    let v1_id = v1.id();
    v1.remove();
    let v2 = TestImage::build(dir.path(), "localhost/berth-e2e-upgrade:2", SERVE);
    let tar2 = dir.path().join("v2.tar");
    v2.save("docker-archive", &tar2);
    let v2_id = v2.id();
    v2.remove();
    // The replaced version is not kept here: its image goes (the kept one:
    // tests/e2e/lifecycle.rs).
    let d = start_with(dir.path(), json!({"updates": {"keep_previous": false}}));

    let pkg1 = pack(dir.path(), &manifest(id, "1.0.0", &v1.tag, true), &tar1);
    ctl_ok(&d, &["install", pkg1.to_str().unwrap()]);
    let before = status(&d, id);
    assert_eq!(before["running"], true);
    let container_of = || ok(&mut cmd("podman", &["inspect", "--format", "{{.Id}}", id]));
    let v1_container = container_of();

    // v2 whose container cannot start: the upgrade fails, v1 runs on.
    let broken = pack(
        dir.path(),
        &manifest(
            id,
            "2.0.0-broken",
            &format!("{} /no/such/program", v2.tag),
            true,
        ),
        &tar2,
    );
    let out = ctl(&d.socket, &["install", broken.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = status(&d, id);
    assert_eq!(after["running"], true, "{after}");
    // The same container (v1's, never recreated) runs again, on v1's image; the
    // failed version's container and image are gone.
    assert_eq!(container_of(), v1_container);
    assert_ne!(after["pid"], Value::Null);
    let image_of = ok(&mut cmd(
        "podman",
        &["inspect", "--format", "{{.Image}}", id],
    ));
    assert_eq!(image_of.trim(), v1_id);
    let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(list[0]["version"], "1.0.0");
    assert!(!exists("container", &format!("{id}.berth-new")));
    assert!(exists("image", &v1_id));
    assert!(
        !exists("image", &v2_id),
        "the failed version's image is removed"
    );

    // A good v2 swaps: v2 registered and running, v1's image gone.
    let mut m2 = manifest(id, "2.0.0", &v2.tag, true);
    m2["registration_defaults"]["probation"] = 0.into();
    let pkg2 = pack(dir.path(), &m2, &tar2);
    assert_eq!(
        ctl_ok(&d, &["install", pkg2.to_str().unwrap()]),
        format!("installed {id} 2.0.0 (replaced 1.0.0), running\n")
    );
    let list: Value = serde_json::from_str(&ctl_ok(&d, &["list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["version"], "2.0.0");
    assert_eq!(status(&d, id)["running"], true);
    let image_of = ok(&mut cmd(
        "podman",
        &["inspect", "--format", "{{.ImageName}}", id],
    ));
    assert_eq!(image_of.trim(), v2.tag);
    assert!(!exists("image", &v1_id), "the old image is removed");

    // The same version again is refused, unless forced.
    let out = ctl(&d.socket, &["install", pkg2.to_str().unwrap()]);
    refused(&out, 2, "already installed");
    let forced = ctl_ok(&d, &["install", "--force", pkg2.to_str().unwrap()]);
    assert!(forced.contains("(replaced 2.0.0)"), "{forced}");
    assert_eq!(status(&d, id)["running"], true);
    assert!(
        exists("image", &v2.tag),
        "a forced reinstall keeps its image"
    );
    ctl_ok(&d, &["uninstall", id]);
}
