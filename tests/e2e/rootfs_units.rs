//! `berth rootfs units` and `berth rootfs loader`, read by their second opinions:
//! `systemd-analyze verify` on every unit, podman's own Quadlet generator on the
//! Quadlet files, and the loader script run against real podman and Docker Engine.

use berth_e2e::cli::berth;
use berth_e2e::units::{quadlet_services, verify};
use berth_e2e::*;
use std::path::Path;

#[test]
fn units_pass_systemd_analyze_verify_and_quadlet() {
    require(&["systemd-analyze", "docker", "podman"]);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(&root).unwrap();
    let custom = dir.path().join("mine.service");
    std::fs::write(
        &custom,
        "[Unit]\nDescription=mine\n\n[Service]\nExecStart=/usr/bin/docker run --rm --name mine mine:1\nRestart=on-failure\n",
    )
    .unwrap();
    let out = berth(&[
        "rootfs",
        "units",
        "--rootfs",
        root.to_str().unwrap(),
        "--json",
        "--bundled",
        "127.0.0.1:5000/org/web:1.4:docker:unless-stopped",
        "--bundled",
        "app-2:docker:on-failure",
        "--bundled",
        "side:docker:external",
        "--bundled",
        "stopped:docker:no",
        "--bundled",
        "mine:1:docker:autostart",
        "--bundled",
        "localhost/pod:3:podman:always",
        "--bundled",
        "localhost/ext:podman:external",
        "--service-file",
        &format!("mine={}", custom.display()),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let units = root.join("lib/systemd/system");
    for name in ["web", "app-2", "side", "stopped", "mine"] {
        let unit = units.join(format!("container-{name}.service"));
        verify(&unit).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(units.join("container-mine.service")).unwrap(),
        std::fs::read_to_string(&custom).unwrap()
    );
    let web = std::fs::read_to_string(units.join("container-web.service")).unwrap();
    assert!(
        web.contains("Restart=always\n") && web.contains("--name web 127.0.0.1:5000/org/web:1.4")
    );
    // Started at boot exactly when the policy asks: `external` is no policy.
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    let mut enabled: Vec<String> = std::fs::read_dir(&wants)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    enabled.sort();
    assert_eq!(
        enabled,
        [
            "container-app-2.service",
            "container-mine.service",
            "container-web.service"
        ]
    );
    assert_eq!(
        std::fs::read_link(wants.join("container-web.service")).unwrap(),
        Path::new("/lib/systemd/system/container-web.service")
    );
    // The same check fails meta-virtualization's unit: it can fail.
    let theirs = dir.path().join("container-theirs.service");
    std::fs::write(
        &theirs,
        web.replace("Restart=always", "Restart=unless-stopped"),
    )
    .unwrap();
    let err = verify(&theirs).unwrap_err();
    assert!(
        err.contains("Failed to parse service restart specifier"),
        "{err}"
    );

    // Podman: Quadlet reads the files, and what it generates verifies.
    let quadlets = root.join("etc/containers/systemd");
    let services = quadlet_services(&quadlets, dir.path());
    let mut names: Vec<_> = services
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["ext.service", "pod.service"]);
    for service in &services {
        verify(service).unwrap();
    }
    let pod = std::fs::read_to_string(dir.path().join("pod.service")).unwrap();
    assert!(
        pod.contains("podman run --name pod") && pod.contains("localhost/pod:3"),
        "{pod}"
    );
    assert!(
        pod.contains("Restart=always") && pod.contains("WantedBy=multi-user.target"),
        "{pod}"
    );
    let ext = std::fs::read_to_string(dir.path().join("ext.service")).unwrap();
    assert!(!ext.contains("WantedBy"), "{ext}");
}

#[test]
fn units_refuse_bad_entries_and_write_nothing_outside_the_rootfs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    let host = dir.path().join("host");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&host).unwrap();
    for (entry, rule) in [
        ("web", "no RUNTIME"),
        ("web:docker:sometimes", "POLICY"),
        ("Web:docker", "NAME"),
        // Issue 21, finding 9: a newline in the host injected a line into the unit,
        // spaces arguments into `docker run`.
        (
            "reg.io\nExecStartPre=/bin/touch /tmp/pwned/web:docker",
            "registry host",
        ),
        ("reg.io:5000 --privileged/web:docker", "registry host"),
    ] {
        let out = berth(&[
            "rootfs",
            "units",
            "--rootfs",
            root.to_str().unwrap(),
            "--bundled",
            entry,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{entry}: {err}");
        assert!(
            err.contains(rule) && err.lines().count() == 1,
            "{entry}: {err}"
        );
    }
    let out = berth(&[
        "rootfs",
        "units",
        "--rootfs",
        root.to_str().unwrap(),
        "--bundled",
        "web:docker",
        "--service-file",
        "other=/dev/null",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_dir(&root).unwrap().count(),
        0,
        "a refused run wrote"
    );
    // /lib and /etc are absolute symlinks in the rootfs (usrmerge, say): followed
    // inside it.
    std::os::unix::fs::symlink(&host, root.join("lib")).unwrap();
    std::os::unix::fs::symlink(&host, root.join("etc")).unwrap();
    let out = berth(&[
        "rootfs",
        "units",
        "--rootfs",
        root.to_str().unwrap(),
        "--bundled",
        "web:docker:always",
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
    let inside = root.join(host.strip_prefix("/").unwrap());
    assert!(inside.join("systemd/system/container-web.service").exists());
    assert!(inside
        .join("systemd/system/multi-user.target.wants/container-web.service")
        .is_symlink());
}
