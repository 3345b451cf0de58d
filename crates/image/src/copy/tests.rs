//! The copy engine over the in-memory source and destination: what is stored, what
//! is skipped, what is refused, and that a failed copy commits nothing.

use super::memory::{layer_tar, MemoryDest, MemorySource};
use super::*;
use crate::platform::Platform;

fn layers() -> Vec<Vec<u8>> {
    vec![
        layer_tar(&[("etc/hostname", b"box\n")]),
        layer_tar(&[("app/run", b"#!/bin/sh\necho hi\n")]),
    ]
}

fn platform(arch: &str) -> Platform {
    Platform {
        os: "linux".into(),
        architecture: arch.into(),
        variant: None,
    }
}

fn run(
    source: &MemorySource,
    dest: MemoryDest,
    options: &CopyOptions,
) -> Result<CopyReport, ImageError> {
    copy(source, Box::new(dest), options, &NoProgress)
}

#[test]
fn a_copy_stores_every_blob_and_the_manifest_as_they_are_then_commits() {
    let source = MemorySource::image(&layers(), "arm64");
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    let report = run(&source, dest, &CopyOptions::default()).unwrap();

    let stored = stored.lock().unwrap();
    assert_eq!(
        stored.blobs, source.blobs,
        "config and layers, byte for byte"
    );
    assert_eq!(
        stored.manifests,
        vec![(source.top.clone(), source.top_media_type.clone())]
    );
    let top_digest = Digest::of(&source.top);
    assert_eq!(stored.committed, Some(top_digest.clone()));
    assert_eq!(report.source_digest, top_digest.to_string());
    assert_eq!(report.dest_digest, top_digest.to_string());
    assert_eq!(report.layers.len(), 2);
    assert!(report.layers.iter().all(|l| !l.skipped));
    let layer_bytes: u64 = report.layers.iter().map(|l| l.size).sum();
    assert_eq!(
        report.bytes, layer_bytes,
        "layers copied, config not counted"
    );
    let config_roles = stored.roles.values().filter(|r| *r == "config").count();
    assert_eq!(config_roles, 1);
}

#[test]
fn blobs_the_destination_holds_are_skipped_and_not_counted() {
    let source = MemorySource::image(&layers(), "amd64");
    let first = report_of(&source).layers[0].digest.clone();
    let dest = MemoryDest::new().with_blob(&first, source.blobs[&first].clone());
    let report = run(&source, dest, &CopyOptions::default()).unwrap();
    assert!(report.layers[0].skipped);
    assert!(!report.layers[1].skipped);
    assert_eq!(report.bytes, report.layers[1].size);
}

fn report_of(source: &MemorySource) -> CopyReport {
    run(source, MemoryDest::new(), &CopyOptions::default()).unwrap()
}

#[test]
fn a_layer_that_is_not_what_its_digest_says_fails_the_copy_and_nothing_is_committed() {
    let mut source = MemorySource::image(&layers(), "amd64");
    let second = report_of(&source).layers[1].digest.clone();
    let last = source.blob_mut(&second).last_mut().unwrap();
    *last ^= 0xff;
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    let e = run(&source, dest, &CopyOptions::default()).unwrap_err();
    assert!(
        matches!(e, ImageError::Verify(crate::VerifyError::Mismatch { .. })),
        "{e}"
    );
    assert!(e.to_string().contains(&second), "names the blob: {e}");
    let stored = stored.lock().unwrap();
    assert_eq!(stored.committed, None);
    assert!(stored.manifests.is_empty(), "no manifest for a failed copy");
}

#[test]
fn a_truncated_layer_is_named_with_its_sizes() {
    let mut source = MemorySource::image(&layers(), "amd64");
    let first = report_of(&source).layers[0].digest.clone();
    source.blob_mut(&first).truncate(10);
    let e = run(&source, MemoryDest::new(), &CopyOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            ImageError::Verify(crate::VerifyError::TooShort { got: 10, .. })
        ),
        "{e}"
    );
}

#[test]
fn a_config_listing_another_number_of_layers_is_refused() {
    let mut source = MemorySource::image(&layers(), "amd64");
    // The manifest lists one layer fewer than the config's two diff ids.
    let mut manifest: serde_json::Value = serde_json::from_slice(&source.top).unwrap();
    manifest["layers"].as_array_mut().unwrap().pop();
    source.top = serde_json::to_vec(&manifest).unwrap();
    let e = run(&source, MemoryDest::new(), &CopyOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("1 layers but the config lists 2 diff_ids"),
        "{e}"
    );
}

#[test]
fn from_an_index_the_wanted_platform_is_copied() {
    let source = MemorySource::index(&layers(), &["amd64", "arm64"]);
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    let options = CopyOptions {
        platform: Some(platform("arm64")),
        ..CopyOptions::default()
    };
    let report = run(&source, dest, &options).unwrap();
    assert_eq!(report.platform.as_deref(), Some("linux/arm64"));
    let stored = stored.lock().unwrap();
    let (manifest, media_type) = &stored.manifests[0];
    assert_eq!(media_type, berth_format::media_type::OCI_MANIFEST);
    assert_eq!(source.manifests[&report.digest], *manifest);
    let config: serde_json::Value =
        serde_json::from_slice(&stored.blobs[report.config_digest.as_ref().unwrap()]).unwrap();
    assert_eq!(config["architecture"], "arm64");
}

#[test]
fn an_index_without_the_wanted_platform_names_the_ones_it_has() {
    let source = MemorySource::index(&layers(), &["amd64", "arm64"]);
    let options = CopyOptions {
        platform: Some(platform("riscv64")),
        ..CopyOptions::default()
    };
    let e = run(&source, MemoryDest::new(), &options).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ImageError::NoPlatform { .. }), "{text}");
    assert!(text.contains("linux/amd64, linux/arm64"), "{text}");
}

#[test]
fn a_whole_index_is_copied_with_every_image_but_not_to_a_destination_of_one() {
    let source = MemorySource::index(&layers(), &["amd64", "arm64"]);
    let all = CopyOptions {
        all: true,
        ..CopyOptions::default()
    };
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    run(&source, dest, &all).unwrap();
    let stored = stored.lock().unwrap();
    assert_eq!(stored.manifests.len(), 3, "two images, then the index");
    assert_eq!(stored.manifests[2].0, source.top);
    assert_eq!(stored.committed, Some(Digest::of(&source.top)));

    let one = MemoryDest {
        holds_index: false,
        ..MemoryDest::new()
    };
    let e = run(&source, one, &all).unwrap_err();
    assert!(
        e.to_string().contains("holds one image, not an index"),
        "{e}"
    );
}

#[test]
fn a_docker_manifest_is_rewritten_in_oci_types_for_a_destination_of_oci_only() {
    let source = MemorySource::docker_image(&layers(), "amd64");
    let dest = MemoryDest {
        oci_only: true,
        ..MemoryDest::new()
    };
    let stored = dest.stored.clone();
    let report = run(&source, dest, &CopyOptions::default()).unwrap();
    let stored = stored.lock().unwrap();
    let (bytes, media_type) = &stored.manifests[0];
    assert_eq!(media_type, berth_format::media_type::OCI_MANIFEST);
    let manifest: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    assert_eq!(
        manifest["config"]["mediaType"],
        berth_format::media_type::OCI_CONFIG
    );
    for layer in manifest["layers"].as_array().unwrap() {
        assert_eq!(layer["mediaType"], berth_format::media_type::OCI_LAYER_GZIP);
    }
    // The blobs are the same; only the manifest (and so the digest readers see) changed.
    assert_eq!(stored.blobs, source.blobs);
    assert_eq!(report.dest_digest, Digest::of(bytes).to_string());
    assert_ne!(report.dest_digest, report.source_digest);
}
