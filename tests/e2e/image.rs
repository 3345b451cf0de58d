//! The image crate's layout against the tools that read and write OCI layouts: one
//! berth writes is read by skopeo and umoci, and one skopeo writes is read by berth
//! with every blob verified.

use berth_e2e::*;
use berth_image::layout::descriptor;
use berth_image::{Digest, Layout};
use oci_spec::image::{ImageManifest, MediaType};
use serde_json::json;

#[test]
fn a_layout_berth_writes_is_read_by_skopeo_and_umoci() {
    require(&["skopeo", "umoci"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layout");
    let layout = Layout::create(&path).unwrap();
    // One uncompressed layer holding /hello, its config, its manifest.
    let mut layer = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    header.set_cksum();
    layer
        .append_data(&mut header, "hello", &b"hello\n"[..])
        .unwrap();
    let layer = layer.into_inner().unwrap();
    let (layer_digest, layer_size) = layout.put_bytes(&layer).unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest.to_string()]}
    }))
    .unwrap();
    let (config_digest, config_size) = layout.put_bytes(&config).unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.to_string(), "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest.to_string(), "size": layer_size}]
    }))
    .unwrap();
    let (manifest_digest, manifest_size) = layout.put_bytes(&manifest).unwrap();
    layout
        .tag(
            "v1",
            descriptor(MediaType::ImageManifest, &manifest_digest, manifest_size),
        )
        .unwrap();

    let inspected: serde_json::Value = serde_json::from_str(&ok(
        cmd("skopeo", &["inspect"]).arg(format!("oci:{}:v1", path.display()))
    ))
    .unwrap();
    assert_eq!(inspected["Digest"], manifest_digest.to_string());
    assert_eq!(inspected["Layers"][0], layer_digest.to_string());
    let tags = ok(cmd("umoci", &["ls", "--layout"]).arg(&path));
    assert_eq!(tags.trim(), "v1");
    let bundle = dir.path().join("bundle");
    ok(cmd("umoci", &["unpack", "--image"])
        .arg(format!("{}:v1", path.display()))
        .arg(&bundle));
    assert_eq!(
        std::fs::read(bundle.join("rootfs/hello")).unwrap(),
        b"hello\n"
    );
}

#[test]
fn a_layout_skopeo_writes_is_read_by_berth_with_every_blob_verified() {
    require(&["podman", "skopeo"]);
    let dir = tempfile::tempdir().unwrap();
    let tag = "localhost/berth-e2e-layout:1";
    let image = TestImage::build(dir.path(), tag, "exec sleep 1");
    let archive = dir.path().join("image.tar");
    image.save("oci-archive", &archive);
    let path = dir.path().join("layout");
    ok(cmd("skopeo", &["copy", "--quiet"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("oci:{}:v1", path.display())));

    let layout = Layout::open(&path).unwrap();
    let named = layout.resolve("v1").unwrap();
    let manifest_digest: Digest = named.digest().to_string().parse().unwrap();
    let manifest: ImageManifest =
        serde_json::from_slice(&layout.read_blob(&manifest_digest, 4 << 20).unwrap()).unwrap();
    let mut blobs = vec![manifest.config().clone()];
    blobs.extend(manifest.layers().iter().cloned());
    for d in &blobs {
        let digest: Digest = d.digest().to_string().parse().unwrap();
        let mut reader = layout.open_blob(&digest, Some(d.size())).unwrap();
        std::io::copy(&mut reader, &mut std::io::sink())
            .unwrap_or_else(|e| panic!("blob {digest}: {e}"));
    }
    assert!(!manifest.layers().is_empty());
    // Verified, not just read: one byte changed in a layer skopeo wrote is an error
    // naming its digest, and so is a layer cut short.
    let layer = &manifest.layers()[0];
    let digest: Digest = layer.digest().to_string().parse().unwrap();
    let file = path.join("blobs/sha256").join(digest.hex());
    let mut bytes = std::fs::read(&file).unwrap();
    let read_all = || -> Result<(), String> {
        let mut reader = layout
            .open_blob(&digest, Some(layer.size()))
            .map_err(|e| e.to_string())?;
        std::io::copy(&mut reader, &mut std::io::sink())
            .map(drop)
            .map_err(|e| e.to_string())
    };
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&file, &bytes).unwrap();
    let e = read_all().expect_err("a changed blob is refused");
    assert!(e.contains(digest.hex()), "{e}");
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&file, &bytes).unwrap();
    let e = read_all().expect_err("a short blob is refused");
    assert!(e.contains(digest.hex()), "{e}");
}

/// The bundle generator (berth_bundle, goblin, jsonschema), the image builder and
/// rootfs tools are for the build host: berthd and berthctl never link them. The
/// registry client (ureq, rustls) reaches berthd only through its `device-registry`
/// feature, which the test build turns on (--all-features): berthctl never links it
/// (the check can fail: berth itself links all of them).
#[test]
fn device_binaries_link_and_build_no_build_host_code_and_only_berthd_with_device_registry_a_registry_client(
) {
    // Code linked in, by its defined function symbols (a debug binary's debug
    // info names types of every crate in the graph, linked or not).
    let code_of = |name: &str| -> std::collections::BTreeSet<String> {
        let out = ok(cmd("nm", &["--defined-only", "-C"]).arg(bin(name)));
        out.lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ' ');
                let (_, kind, symbol) = (f.next()?, f.next()?, f.next()?);
                matches!(kind, "t" | "T").then(|| {
                    symbol
                        .trim_start_matches('<')
                        .split("::")
                        .next()
                        .map(str::to_string)
                })?
            })
            .collect()
    };
    let (berth, berthd, berthctl) = (code_of("berth"), code_of("berthd"), code_of("berthctl"));
    let holds = |name: &str, crate_name: &str| match name {
        "berth" => berth.contains(crate_name),
        "berthd" => berthd.contains(crate_name),
        _ => berthctl.contains(crate_name),
    };
    let registry = ["ureq", "rustls", "berth_registry"];
    let build_host = [
        "berth_bundle",
        "goblin",
        "jsonschema",
        "berth_rootfs",
        "rusqlite",
    ];
    for crate_name in registry.iter().chain(&build_host) {
        assert!(holds("berth", crate_name), "berth links {crate_name}");
    }
    for crate_name in registry.iter().chain(&build_host) {
        assert!(
            !holds("berthctl", crate_name),
            "berthctl links {crate_name}"
        );
    }
    for crate_name in build_host {
        assert!(!holds("berthd", crate_name), "berthd links {crate_name}");
    }
    for crate_name in registry {
        assert!(
            holds("berthd", crate_name),
            "berthd (device-registry) lacks {crate_name}"
        );
    }
    // Without the feature berthd's library depends on no registry client at all.
    let tree = |package: &str, features: &[&str]| {
        let mut c = cmd(
            "cargo",
            &[
                "tree",
                "--offline",
                "-e",
                "normal",
                "--prefix",
                "none",
                "-p",
                package,
            ],
        );
        c.args(features).current_dir(env!("CARGO_MANIFEST_DIR"));
        ok(c)
    };
    let plain = tree("berth-daemon", &[]);
    let with = tree("berth-daemon", &["--features", "registry"]);
    for crate_name in ["berth-registry", "ureq", "rustls"] {
        assert!(
            !plain.contains(crate_name),
            "berth-daemon without features depends on {crate_name}"
        );
        assert!(
            with.contains(crate_name),
            "berth-daemon with registry lacks {crate_name}"
        );
    }
    // Each device binary is a crate of its own: building it for a device compiles
    // none of the build host's dependencies (issue 22). berthd's registry client
    // brings berth-image's copy engine, without its rpm reader (SQLite).
    let depends = |deps: &str, crate_name: &str| {
        deps.lines()
            .any(|l| l.starts_with(&format!("{crate_name} ")))
    };
    let berthctl_deps = tree("berthctl", &[]);
    let berthd_deps = tree("berthd", &["--features", "device-registry"]);
    for crate_name in [
        "rusqlite",
        "jsonschema",
        "goblin",
        "berth-bundle",
        "berth-rootfs",
    ] {
        assert!(
            !depends(&berthctl_deps, crate_name),
            "building berthctl compiles {crate_name}"
        );
        assert!(
            !depends(&berthd_deps, crate_name),
            "building berthd compiles {crate_name}"
        );
    }
    for crate_name in ["tokio", "berth-daemon", "berth-image", "ureq"] {
        assert!(
            !depends(&berthctl_deps, crate_name),
            "building berthctl compiles {crate_name}"
        );
    }
}
