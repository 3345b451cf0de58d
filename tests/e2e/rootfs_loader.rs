//! `berth rootfs loader`: Isar's layout, and its script run against real podman and
//! Docker Engine: loads what is absent or changed, leaves what is present, goes on
//! past a broken image, deletes archives when asked.

use berth_e2e::cli::berth;
use berth_e2e::*;
use std::path::Path;

fn engine_id(engine: &str, reference: &str) -> Option<String> {
    let out = run(cmd(
        engine,
        &["image", "inspect", "--format", "{{.Id}}", reference],
    ));
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .trim_start_matches("sha256:")
            .to_string()
    })
}

fn remove_image(engine: &str, reference: &str) {
    let _ = run(cmd(engine, &["rmi", "-f", reference]));
}

/// A docker-archive of a busybox image printing `word`, built in podman under a tag
/// of `engine`'s test alone (the podman and Docker tests run at the same time).
fn archive(dir: &Path, engine: &str, name: &str, word: &str) -> String {
    let image = TestImage::build(
        dir,
        &format!("localhost/berth-build-{engine}-{name}:1"),
        &format!("echo {word}"),
    );
    let tar = dir.join(format!("{name}-{word}.tar"));
    image.save("docker-archive", &tar);
    image.remove();
    format!("docker-archive:{}", tar.display())
}

/// Runs the loader as its unit would; returns (success, stdout + stderr).
fn load(root: &Path) -> (bool, String) {
    let out = run(cmd("sh", &[]).arg(root.join("usr/share/container-loader/container-loader.sh")));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn loader_behaves(engine: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let (a, b, c) = (
        format!("localhost/berth-loader-{engine}-a:1"),
        format!("localhost/berth-loader-{engine}-b:1"),
        format!("localhost/berth-loader-{engine}-c:1"),
    );
    for r in [&a, &b, &c] {
        remove_image(engine, r);
    }
    let write = |extra: &[&str], images: &[String]| {
        let mut args = vec![
            "rootfs",
            "loader",
            "--rootfs",
            root.to_str().unwrap(),
            "--engine",
            engine,
        ];
        args.extend_from_slice(extra);
        args.extend(images.iter().map(String::as_str));
        let out = berth(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let a1 = archive(dir.path(), engine, "a", "one");
    let b1 = archive(dir.path(), engine, "b", "one");
    let c1 = archive(dir.path(), engine, "c", "one");
    write(
        &[],
        &[
            format!("{a1}={a}"),
            format!("{b1}={b}"),
            format!("{c1}={c}"),
        ],
    );
    let share = root.join("usr/share/container-loader");
    let list = std::fs::read_to_string(share.join("image.list")).unwrap();
    assert_eq!(
        list,
        format!(
            "localhost.berth-loader-{engine}-a:1.zst {a}\nlocalhost.berth-loader-{engine}-b:1.zst {b}\nlocalhost.berth-loader-{engine}-c:1.zst {c}\n"
        )
    );
    let unit = root.join("lib/systemd/system/container-loader.service");
    let unit_text = std::fs::read_to_string(&unit).unwrap();
    assert!(unit_text.contains("Type=oneshot") && unit_text.contains("RemainAfterExit=yes"));
    if engine == "docker" {
        assert!(unit_text.contains("After=docker.service"));
    }
    // Verified inside the rootfs (its script is there, not on this host), which
    // needs systemd's targets and the engine's unit there, as on a device.
    let units = root.join("lib/systemd/system");
    for entry in std::fs::read_dir("/lib/systemd/system").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".target") || name == "docker.service" || name == "docker.socket" {
            std::fs::copy(&path, units.join(&name)).unwrap();
        }
    }
    let verified = run(cmd("systemd-analyze", &["verify"])
        .arg(format!("--root={}", root.display()))
        .arg("container-loader.service"));
    assert!(
        verified.status.success() && verified.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(root
        .join("etc/systemd/system/multi-user.target.wants/container-loader.service")
        .is_symlink());

    // c's archive broken on the device: a and b still load; c is reported, exit 1.
    let c_file = share.join(format!("images/localhost.berth-loader-{engine}-c:1.zst"));
    let bytes = std::fs::read(&c_file).unwrap();
    std::fs::write(&c_file, &bytes[..bytes.len() / 2]).unwrap();
    let (success, text) = load(&root);
    assert!(!success, "{text}");
    assert!(
        text.contains(&format!("{a}: loaded")) && text.contains(&format!("{b}: loaded")),
        "{text}"
    );
    assert!(text.contains(&format!("{c}: failed to load")), "{text}");
    let ids = std::fs::read_to_string(share.join("image.ids")).unwrap();
    let a_id = engine_id(engine, &a).expect("a loaded");
    assert!(ids.contains(&a_id), "{ids} lacks {a_id}");
    assert!(engine_id(engine, &c).is_none());

    // Second boot with c repaired: a and b are present and left alone.
    std::fs::write(&c_file, &bytes).unwrap();
    let (success, text) = load(&root);
    assert!(success, "{text}");
    assert!(
        text.contains(&format!("{a}: present")) && text.contains(&format!("{b}: present")),
        "{text}"
    );
    assert!(text.contains(&format!("{c}: loaded")), "{text}");

    // A rootfs update rebuilds a under the same tag, and deletes after load: the
    // changed a is loaded (Isar's loader would keep the old one), b is not.
    let a2 = archive(dir.path(), engine, "a", "two");
    write(
        &["--delete-after-load"],
        &[format!("{a2}={a}"), format!("{b1}={b}")],
    );
    let (success, text) = load(&root);
    assert!(success, "{text}");
    assert!(
        text.contains(&format!("{a}: loaded")) && text.contains(&format!("{b}: present")),
        "{text}"
    );
    assert_ne!(
        engine_id(engine, &a).unwrap(),
        a_id,
        "the rebuilt a was not loaded"
    );
    let images: Vec<_> = std::fs::read_dir(share.join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        images,
        [format!("localhost.berth-loader-{engine}-c:1.zst")],
        "a and b deleted, c not listed"
    );
    let (success, text) = load(&root);
    assert!(success && text.contains(&format!("{a}: present")), "{text}");
    // The first a, untagged by the rebuilt one, too (found left in Docker by
    // scripts/host-guard.sh).
    for r in [&a, &b, &c, &a_id] {
        remove_image(engine, r);
    }
}

#[test]
fn the_loader_loads_absent_and_changed_images_into_podman() {
    require(&["podman", "zstd", "systemd-analyze"]);
    loader_behaves("podman");
}

#[test]
fn the_loader_loads_absent_and_changed_images_into_docker() {
    require(&["podman", "zstd", "systemd-analyze"]);
    require_docker();
    loader_behaves("docker");
}

#[test]
fn loader_images_need_a_name_and_a_valid_loader_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = berth(&[
        "rootfs",
        "loader",
        "--rootfs",
        dir.path().to_str().unwrap(),
        "--engine",
        "docker",
        "oci:/nonexistent:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name it: IMAGE=NAME:TAG"));
    let out = berth(&[
        "rootfs",
        "loader",
        "--rootfs",
        dir.path().to_str().unwrap(),
        "--engine",
        "docker",
        "--name",
        "../etc",
        "oci:/nonexistent:1=localhost/x:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--name"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
