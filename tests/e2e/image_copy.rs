//! `berth image copy` and `inspect` against a real registry (Debian's
//! docker-registry), with skopeo and podman as second opinions: every pair of
//! transports, a multi-platform index, Isar's pinning rules, credentials.

use berth_e2e::cli::*;
use berth_e2e::images::*;
use berth_e2e::*;
use berth_image::{Digest, Layout};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

#[test]
fn every_pair_of_transports_keeps_the_image() {
    require(&["skopeo", "docker-registry"]);
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let (src, digest) = source_layout(dir.path());
    // skopeo's own docker-archive of the same image: what a docker-archive must read back as.
    let skopeo_archive = dir.path().join("skopeo.tar");
    ok(cmd("skopeo", &["copy", "--quiet", &src]).arg(format!(
        "docker-archive:{}:e2e/app:1",
        skopeo_archive.display()
    )));
    let archive_digest = skopeo_raw_digest(&format!("docker-archive:{}", skopeo_archive.display()));

    // Each kind of source holds the image, written by berth from the layout.
    let d = |name: &str| dir.path().join(name).display().to_string();
    let sources = [
        ("oci", src.clone(), digest.to_string()),
        (
            "oci-archive",
            format!("oci-archive:{}", d("src-oci.tar")),
            digest.to_string(),
        ),
        (
            "docker-archive",
            format!("docker-archive:{}:e2e/app:1", d("src-docker.tar")),
            archive_digest.clone(),
        ),
        (
            "registry",
            format!("{}:src", registry.image("e2e/app")),
            digest.to_string(),
        ),
    ];
    for (_, reference, _) in &sources[1..] {
        berth_ok(&["image", "copy", "--quiet", &src, reference]);
    }
    for (from, source, source_digest) in &sources {
        for to in [
            "oci",
            "oci-archive",
            "docker-archive",
            "docker-archive-zst",
            "registry",
        ] {
            let dest = match to {
                "oci" => format!("oci:{}:t", d(&format!("{from}-to-oci"))),
                "oci-archive" => format!("oci-archive:{}", d(&format!("{from}-to.oci.tar"))),
                "docker-archive" => format!(
                    "docker-archive:{}:e2e/app:1",
                    d(&format!("{from}-to.docker.tar"))
                ),
                "docker-archive-zst" => format!(
                    "docker-archive:{}:e2e/app:1",
                    d(&format!("{from}-to.docker.tar.zst"))
                ),
                _ => format!("{}:{from}", registry.image("e2e/copy")),
            };
            let report: Value =
                serde_json::from_str(&berth_ok(&["image", "copy", "--json", source, &dest]))
                    .unwrap();
            assert_eq!(
                &report["digest"],
                source_digest.as_str(),
                "{from} → {to}: the source's digest"
            );
            let readable = if to == "docker-archive-zst" {
                // skopeo cannot read a compressed archive: decompress it as Isar's loader does.
                let plain = d(&format!("{from}-unzstd.tar"));
                ok(cmd(
                    "zstd",
                    &[
                        "-dqf",
                        &d(&format!("{from}-to.docker.tar.zst")),
                        "-o",
                        &plain,
                    ],
                ));
                format!("docker-archive:{plain}")
            } else {
                dest.clone()
            };
            let seen = skopeo_raw_digest(&readable);
            // A docker-archive stores no manifest; an OCI layout holds no Docker manifest
            // (the docker-archive's is rewritten as OCI's there, as skopeo does too).
            let rewritten = *from == "docker-archive" && to.starts_with("oci");
            if to.starts_with("docker-archive") {
                assert_eq!(
                    seen, archive_digest,
                    "{from} → {to}: reads back as skopeo's own archive"
                );
            } else if !rewritten {
                assert_eq!(&seen, source_digest, "{from} → {to}: the digest is kept");
            }
            assert_eq!(
                report["dest_digest"],
                seen.as_str(),
                "{from} → {to}: berth reports what the destination holds"
            );
        }
    }
}

#[test]
fn podman_loads_a_docker_archive_berth_wrote_from_a_registry() {
    require(&["podman", "docker-registry"]);
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let (src, _) = source_layout(dir.path());
    let remote = format!("{}:1", registry.image("e2e/load"));
    berth_ok(&["image", "copy", "--quiet", &src, &remote]);
    let archive = dir.path().join("app.tar");
    berth_ok(&[
        "image",
        "copy",
        "--quiet",
        &remote,
        &format!(
            "docker-archive:{}:localhost/berth-e2e-load:1",
            archive.display()
        ),
    ]);
    let loaded = ok(cmd("podman", &["load", "-q", "-i"]).arg(&archive));
    assert!(loaded.contains("localhost/berth-e2e-load:1"), "{loaded}");
    let out = ok(cmd(
        "podman",
        &["run", "--rm", "localhost/berth-e2e-load:1"],
    ));
    let _ = run(cmd("podman", &["rmi", "-f", "localhost/berth-e2e-load:1"]));
    assert_eq!(out.trim(), "hello from berth");
}

#[test]
fn a_multi_platform_index_gives_the_platform_asked_for() {
    require(&["skopeo", "docker-registry"]);
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let layout = Layout::create(&dir.path().join("multi")).unwrap();
    let mut entries = Vec::new();
    for (arch, variant) in [("amd64", None), ("arm64", Some("v8")), ("arm", Some("v7"))] {
        let layer = LayerTar::new()
            .file("arch", arch.as_bytes(), 0o644)
            .finish();
        let (d, size) = put_image(&layout, &[layer], true, arch, variant, json!({}));
        entries.push((d, size, arch, variant));
    }
    let index = put_index(&layout, "1", &entries);
    let src = format!("oci:{}:1", dir.path().join("multi").display());
    let remote = format!("{}:1", registry.image("e2e/multi"));
    let report: Value = serde_json::from_str(&berth_ok(&[
        "image", "copy", "--all", "--json", &src, &remote,
    ]))
    .unwrap();
    assert_eq!(report["digest"], index.to_string());
    assert_eq!(
        skopeo_raw_digest(&remote),
        index.to_string(),
        "the whole index, digest kept"
    );
    let chosen = |platform: &str| -> Value {
        let dest = format!(
            "oci:{}:x",
            dir.path()
                .join(format!("one-{}", platform.replace('/', "-")))
                .display()
        );
        serde_json::from_str(&berth_ok(&[
            "image",
            "copy",
            "--json",
            "--platform",
            platform,
            &remote,
            &dest,
        ]))
        .unwrap()
    };
    assert_eq!(chosen("linux/arm64")["digest"], entries[1].0.to_string());
    assert_eq!(chosen("linux/arm64")["platform"], "linux/arm64/v8");
    assert_eq!(chosen("linux/arm/v7")["digest"], entries[2].0.to_string());
    // v8 falls back to v7 as containerd does; Debian's armhf is arm/v7.
    assert_eq!(chosen("linux/arm/v8")["digest"], entries[2].0.to_string());
    assert_eq!(chosen("linux/armhf")["digest"], entries[2].0.to_string());
    // armel is arm/v6: nothing older than v7 is there, so nothing fits.
    let out = berth(&[
        "image",
        "copy",
        "--platform",
        "linux/armel",
        &remote,
        &format!("oci:{}", dir.path().join("none").display()),
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("linux/arm/v6"));
    // The default is the host's platform (amd64 here).
    let dest = format!("oci:{}:x", dir.path().join("host").display());
    let report: Value =
        serde_json::from_str(&berth_ok(&["image", "copy", "--json", &remote, &dest])).unwrap();
    assert_eq!(report["digest"], entries[0].0.to_string());
    // A docker-archive holds one image: --all is refused, exit 2.
    let out = berth(&[
        "image",
        "copy",
        "--all",
        &remote,
        &format!("docker-archive:{}", dir.path().join("all.tar").display()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("all.tar").exists());
    // skopeo sees the platforms berth's inspect lists.
    let inspected: Value = serde_json::from_str(&berth_ok(&[
        "image",
        "inspect",
        "--json",
        "--platform",
        "linux/arm64",
        &remote,
    ]))
    .unwrap();
    assert_eq!(
        inspected["Platforms"],
        json!(["linux/amd64", "linux/arm64/v8", "linux/arm/v7"])
    );
    assert_eq!(inspected["ManifestDigest"], entries[1].0.to_string());
    assert_eq!(inspected["Architecture"], "arm64");
    assert_eq!(
        inspected["RepoTags"],
        json!(["1"]),
        "the registry's tag list"
    );
    let skopeo: Value = serde_json::from_str(&ok(cmd(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--override-arch",
            "arm64",
            &remote,
        ],
    )))
    .unwrap();
    assert_eq!(skopeo["Layers"], inspected["Layers"]);
}

#[test]
fn isar_pins_a_tag_that_disagrees_with_its_digest_is_exit_2_naming_both() {
    require(&["docker-registry"]);
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let (src, digest) = source_layout(dir.path());
    let name = registry.image("e2e/pin");
    berth_ok(&["image", "copy", "--quiet", &src, &format!("{name}:1")]);
    let other = Digest::of(b"another manifest");
    let dest = format!("oci:{}", dir.path().join("out").display());
    let out = berth(&[
        "image",
        "copy",
        &format!("{name};digest={other};tag=1"),
        &dest,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&digest.to_string()) && err.contains(&other.to_string()),
        "{err}"
    );
    assert!(
        err.contains(&format!("{name};digest={digest};tag=1")),
        "names the corrected reference: {err}"
    );
    assert!(!dir.path().join("out").exists(), "nothing written");
    // Agreeing: copied, no warning.
    let out = berth(&[
        "image",
        "copy",
        "--quiet",
        &format!("{name};digest={digest};tag=1"),
        &dest,
    ]);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // No digest: a warning naming the digest to pin; --strict makes it exit 2.
    let out = berth(&[
        "image",
        "copy",
        "--quiet",
        &format!("{name}:1"),
        &format!("oci:{}", dir.path().join("w").display()),
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning") && err.contains(&format!("digest={digest}")),
        "{err}"
    );
    let strict_dest = dir.path().join("strict");
    let out = berth(&[
        "image",
        "copy",
        "--strict",
        &format!("{name}:1"),
        &format!("oci:{}", strict_dest.display()),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&digest.to_string()));
    assert!(!strict_dest.exists());
}

#[test]
fn credentials_from_the_flag_or_the_auth_files_open_an_htpasswd_registry() {
    require(&["docker-registry", "htpasswd"]);
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start_with_auth("alice", "s3cret:x");
    let (src, digest) = source_layout(dir.path());
    let remote = format!("{}:1", registry.image("e2e/auth"));
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let berth_env = |args: &[&str], envs: &[(&str, &Path)]| -> Output {
        let mut c = Command::new(berth_bin());
        c.args(args)
            .env("HOME", &home)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("DOCKER_CONFIG")
            .env_remove("XDG_RUNTIME_DIR");
        for (k, v) in envs {
            c.env(k, v);
        }
        run(c)
    };
    let out = berth_env(&["image", "copy", "--quiet", &src, &remote], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("credentials"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = berth_env(
        &[
            "image",
            "copy",
            "--quiet",
            "--creds",
            "alice:wrong",
            &src,
            &remote,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "a wrong password is refused");
    let out = berth_env(
        &[
            "image",
            "copy",
            "--quiet",
            "--creds",
            "alice:s3cret:x",
            &src,
            &remote,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // podman/skopeo's auth.json, and docker's config.json.
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:x");
    let auth_json = dir.path().join("auth.json");
    std::fs::write(
        &auth_json,
        json!({"auths": {registry.host.clone(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let docker_dir = dir.path().join("docker");
    std::fs::create_dir_all(&docker_dir).unwrap();
    std::fs::write(
        docker_dir.join("config.json"),
        json!({"auths": {format!("http://{}", registry.host): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    for (var, path) in [
        ("REGISTRY_AUTH_FILE", auth_json.as_path()),
        ("DOCKER_CONFIG", docker_dir.as_path()),
    ] {
        let dest = format!("oci:{}:1", dir.path().join(var).display());
        let out = berth_env(&["image", "copy", "--json", &remote, &dest], &[(var, path)]);
        assert!(
            out.status.success(),
            "{var}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["digest"], digest.to_string());
    }
    // skopeo agrees the image is there, with the same credentials.
    let seen = ok(cmd(
        "skopeo",
        &[
            "inspect",
            "--raw",
            "--tls-verify=false",
            "--creds",
            "alice:s3cret:x",
            &remote,
        ],
    ));
    assert_eq!(Digest::of(seen.as_bytes()), digest);
}
