//! `--dest-compress-format`: layers written anew in the format asked, the manifest
//! rewritten to name them (as OCI's), their content checked against the diff_ids.

use super::memory::{layer_tar, MemoryDest, MemorySource};
use super::*;
use crate::layer_format::LayerFormat;
use serde_json::Value;

fn layers() -> Vec<Vec<u8>> {
    vec![
        layer_tar(&[("etc/hostname", b"box\n")]),
        layer_tar(&[("app/run", b"#!/bin/sh\necho hi\n")]),
    ]
}

fn zstd_options() -> CopyOptions {
    CopyOptions {
        recompress: Some(LayerFormat::Zstd { level: 3 }),
        ..CopyOptions::default()
    }
}

/// The manifest stored last, parsed, with its media type.
fn stored_manifest(stored: &memory::Stored) -> (Value, String) {
    let (bytes, media_type) = stored.manifests.last().expect("a manifest").clone();
    (serde_json::from_slice(&bytes).unwrap(), media_type)
}

fn check_zstd_layers(source_layers: &[Vec<u8>], manifest: &Value, stored: &memory::Stored) {
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), source_layers.len());
    for (layer, plain) in layers.iter().zip(source_layers) {
        assert_eq!(layer["mediaType"], berth_format::media_type::OCI_LAYER_ZSTD);
        let blob = &stored.blobs[layer["digest"].as_str().unwrap()];
        assert_eq!(layer["size"], blob.len());
        assert_eq!(Digest::of(blob).to_string(), layer["digest"]);
        assert_eq!(&zstd::decode_all(&blob[..]).unwrap(), plain, "the same tar");
    }
}

#[test]
fn gzip_layers_are_written_as_zstd_and_the_manifest_names_them() {
    let source = MemorySource::image(&layers(), "amd64");
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    let report = copy(&source, Box::new(dest), &zstd_options(), &NoProgress).unwrap();
    let stored = stored.lock().unwrap();
    let (manifest, media_type) = stored_manifest(&stored);
    assert_eq!(media_type, berth_format::media_type::OCI_MANIFEST);
    check_zstd_layers(&layers(), &manifest, &stored);
    let source_manifest: Value = serde_json::from_slice(&source.top).unwrap();
    assert_eq!(manifest["config"], source_manifest["config"], "config kept");
    assert_eq!(
        Some(Digest::of(&stored.manifests.last().unwrap().0)),
        stored.committed
    );
    assert_eq!(
        report.dest_digest,
        stored.committed.clone().unwrap().to_string()
    );
    assert_ne!(report.dest_digest, report.source_digest);
    for (layer, reported) in manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&report.layers)
    {
        assert_eq!(layer["digest"], reported.digest.as_str());
    }
    // The gzip blobs were not stored.
    assert_eq!(stored.blobs.len(), 3, "config and two zstd layers");
}

#[test]
fn a_docker_manifest_becomes_an_oci_one_with_zstd_layers() {
    let source = MemorySource::docker_image(&layers(), "amd64");
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    copy(&source, Box::new(dest), &zstd_options(), &NoProgress).unwrap();
    let stored = stored.lock().unwrap();
    let (manifest, media_type) = stored_manifest(&stored);
    assert_eq!(media_type, berth_format::media_type::OCI_MANIFEST);
    assert_eq!(
        manifest["mediaType"],
        berth_format::media_type::OCI_MANIFEST
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        berth_format::media_type::OCI_CONFIG
    );
    check_zstd_layers(&layers(), &manifest, &stored);
}

#[test]
fn zstd_layers_copied_to_zstd_again_are_kept_byte_for_byte() {
    let source = MemorySource::image(&layers(), "amd64");
    let first = MemoryDest::new();
    let once = first.stored.clone();
    copy(&source, Box::new(first), &zstd_options(), &NoProgress).unwrap();
    let once = once.lock().unwrap();
    let (manifest, _) = stored_manifest(&once);
    let mut zstd_source = MemorySource {
        top: once.manifests.last().unwrap().0.clone(),
        top_media_type: berth_format::media_type::OCI_MANIFEST.into(),
        ..MemorySource::default()
    };
    zstd_source.blobs = once.blobs.clone();
    let again = MemoryDest::new();
    let twice = again.stored.clone();
    let report = copy(&zstd_source, Box::new(again), &zstd_options(), &NoProgress).unwrap();
    let twice = twice.lock().unwrap();
    assert_eq!(
        twice.manifests.last().unwrap().0,
        zstd_source.top,
        "manifest as it was"
    );
    assert_eq!(report.dest_digest, report.source_digest);
    check_zstd_layers(&layers(), &manifest, &twice);
}

#[test]
fn an_index_copied_whole_names_its_images_rewritten() {
    let source = MemorySource::index(&layers(), &["amd64", "arm64"]);
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    let options = CopyOptions {
        all: true,
        ..zstd_options()
    };
    copy(&source, Box::new(dest), &options, &NoProgress).unwrap();
    let stored = stored.lock().unwrap();
    let (index, media_type) = stored_manifest(&stored);
    assert_eq!(media_type, berth_format::media_type::OCI_INDEX);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    for (entry, (bytes, _)) in entries.iter().zip(&stored.manifests) {
        assert_eq!(entry["digest"], Digest::of(bytes).to_string());
        let manifest: Value = serde_json::from_slice(bytes).unwrap();
        check_zstd_layers(&layers(), &manifest, &stored);
    }
    assert_eq!(
        entries[1]["platform"]["architecture"], "arm64",
        "platforms kept"
    );
}

#[test]
fn a_layer_whose_content_is_not_its_diff_id_is_refused_and_nothing_committed() {
    let mut source = MemorySource::image(&layers(), "amd64");
    // The config claims another tar for layer 2: the gzip blob verifies, its
    // content does not.
    let other = Digest::of(b"another tar").to_string();
    source.rewrite_config(|c| c["rootfs"]["diff_ids"][1] = other.clone().into());
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    let err = copy(&source, Box::new(dest), &zstd_options(), &NoProgress).unwrap_err();
    assert!(err.to_string().contains(&other), "{err}");
    assert_eq!(stored.lock().unwrap().committed, None);
}

#[test]
fn gzip_asked_of_gzip_layers_keeps_them() {
    let source = MemorySource::image(&layers(), "amd64");
    let dest = MemoryDest::new();
    let stored = dest.stored.clone();
    let options = CopyOptions {
        recompress: Some(LayerFormat::Gzip { level: 9 }),
        ..CopyOptions::default()
    };
    let report = copy(&source, Box::new(dest), &options, &NoProgress).unwrap();
    assert_eq!(report.dest_digest, report.source_digest);
    assert_eq!(stored.lock().unwrap().blobs, source.blobs);
}
