//! The bundles berthd unpacks on a device (LXC's and OCI runtime bundles) are a
//! stranger's archives too (issue 21): the device's unpacker is the build host's
//! root-confined applier (berth-fs), run here on the hostile layer corpus and on a
//! bundle that would fill the disk.

use berth_e2e::hostile::{hostile_layers, make_sentinel, sentinel};
use berth_e2e::images::{gzip, LayerTar};
use berth_e2e::*;
use berth_runtime::{bundle_unpack as bundle, RuntimeError};
use std::path::Path;

/// berthd's unpack of an LXC bundle (`config` + `rootfs/`) from the .tar.gz `tgz`.
fn unpack_lxc(tgz: &[u8], dest: &Path) -> Result<std::path::PathBuf, RuntimeError> {
    bundle::unpack(&mut &tgz[..], dest, "LXC bundle", |d| {
        d.join("config").is_file() && d.join("rootfs").is_dir()
    })
}

#[test]
fn hostile_bundles_never_reach_outside_where_berthd_unpacks_them() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let outside = make_sentinel(work);
    let before = sentinel(&outside);
    let o = outside.display().to_string();
    for (name, layer) in hostile_layers(&o) {
        let dest = work.join(format!("bundle-{name}"));
        // Refused or unpacked inside: what matters is where it wrote.
        let result = unpack_lxc(&gzip(&layer), &dest);
        if let Err(RuntimeError::Archive(why)) = &result {
            assert!(
                why.is_empty() || why.starts_with("LXC bundle: "),
                "{name}: {why}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(outside.join("secret")).unwrap(),
            "untouched",
            "{name}"
        );
        assert_eq!(
            sentinel(&outside),
            before,
            "{name}: nothing outside changed (contents, modes, owners, times)"
        );
    }
    let inside = work
        .join("bundle-dotdot-name")
        .join(outside.strip_prefix("/").unwrap())
        .join("pwned");
    assert!(
        inside.is_file(),
        "../ names land inside the bundle directory"
    );
}

#[test]
fn a_bundle_that_would_fill_the_disk_is_refused_naming_the_limit() {
    require(&["mount", "umount"]);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    ok(&mut cmd(
        "mount",
        &[
            "-t",
            "tmpfs",
            "-o",
            "size=8m",
            "tmpfs",
            store.to_str().unwrap(),
        ],
    ));
    let _mount = Unmount(store.clone());
    // 32 MiB of zeros: a few KiB compressed, four times the space there is.
    let tar = LayerTar::new()
        .file("config", b"lxc.uts.name = big\n", 0o644)
        .dir("rootfs", 0o755)
        .file("rootfs/zeros", &vec![0; 32 << 20], 0o644)
        .finish();
    let err = unpack_lxc(&gzip(&tar), &store.join("bundle")).unwrap_err();
    let RuntimeError::Archive(why) = err else {
        panic!("{err}");
    };
    assert!(
        why.contains("rootfs/zeros") && why.contains("expand to more than the limit of"),
        "{why}"
    );
    // Refused at the header, before its data was written.
    let used = rustix::fs::statvfs(&store).unwrap();
    assert!(
        used.f_bfree * used.f_frsize > 7 << 20,
        "the tmpfs stays empty"
    );

    // A bundle that fits is unpacked, owners and modes kept.
    let tar = LayerTar::new()
        .file("config", b"lxc.uts.name = small\n", 0o644)
        .dir("rootfs", 0o755)
        .file("rootfs/setuid", b"x", 0o4755)
        .finish();
    let at = unpack_lxc(&gzip(&tar), &store.join("small")).unwrap();
    assert_eq!(at, store.join("small"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(at.join("rootfs/setuid"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o4755);
}

/// Unmounts a mount when dropped.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = run(&mut cmd("umount", &[self.0.to_str().unwrap()]));
    }
}
