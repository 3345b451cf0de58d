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
}

/// The registry client (ureq, rustls) and the bundle generator (berth_bundle, goblin,
/// jsonschema) are for the build host: berthd and berthctl must not link them (the
/// check can fail: berth itself does link them).
#[test]
fn device_binaries_link_no_registry_client_or_bundle_generator() {
    // grep is fast on a 100 MB debug binary; a byte loop in this unoptimised test is not.
    let holds = |name: &str, needle: &[u8]| {
        let needle = String::from_utf8_lossy(needle).into_owned();
        run(cmd("grep", &["-q", "-a", "-F", &needle]).arg(bin(name)))
            .status
            .success()
    };
    let build_host: [&[u8]; 6] = [
        b"ureq",
        b"rustls",
        b"berth_registry",
        b"berth_bundle",
        b"goblin",
        b"jsonschema",
    ];
    for crate_name in build_host {
        assert!(
            holds("berth", crate_name),
            "berth links {}",
            String::from_utf8_lossy(crate_name)
        );
    }
    for device in ["berthd", "berthctl"] {
        for crate_name in build_host {
            assert!(
                !holds(device, crate_name),
                "{device} links {}",
                String::from_utf8_lossy(crate_name)
            );
        }
    }
}
