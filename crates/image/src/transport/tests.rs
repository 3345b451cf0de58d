//! Each local transport written and read back with no outside tool: an image goes
//! from memory into the transport and out again, and arrives whole. (Whether skopeo,
//! umoci, podman and Docker read what berth writes is the e2e suite's question.)

use crate::copy::memory::{layer_tar, MemoryDest, MemorySource};
use crate::copy::{copy, CopyOptions, NoProgress};
use crate::reference::ImageRef;
use crate::{Digest, ImageError};

fn source() -> MemorySource {
    MemorySource::image(
        &[
            layer_tar(&[("etc/hostname", b"box\n")]),
            layer_tar(&[("app/run", b"#!/bin/sh\n")]),
        ],
        "amd64",
    )
}

fn image_ref(text: &str) -> ImageRef {
    text.parse().unwrap()
}

/// Copies `from` into `reference`, then reads it back into memory.
fn round_trip(from: &MemorySource, reference: &str) -> (MemoryDest, crate::CopyReport) {
    let r = image_ref(reference);
    let dest = super::local_dest(&r).unwrap().expect("a local transport");
    copy(from, dest, &CopyOptions::default(), &NoProgress).unwrap();
    let back = super::local_source(&r).unwrap().expect("a local transport");
    let memory = MemoryDest::new();
    let report = copy(
        &*back,
        Box::new(memory.clone()),
        &CopyOptions::default(),
        &NoProgress,
    )
    .unwrap();
    (memory, report)
}

#[test]
fn an_oci_layout_and_an_oci_archive_give_back_the_same_manifest_and_blobs() {
    let from = source();
    let dir = tempfile::tempdir().unwrap();
    for reference in [
        format!("oci:{}:v1", dir.path().join("layout").display()),
        format!("oci-archive:{}:v1", dir.path().join("image.tar").display()),
    ] {
        let (back, report) = round_trip(&from, &reference);
        let stored = back.stored.lock().unwrap();
        assert_eq!(stored.blobs, from.blobs, "{reference}");
        assert_eq!(
            stored.manifests[0].0, from.top,
            "{reference}: byte for byte"
        );
        assert_eq!(report.source_digest, Digest::of(&from.top).to_string());
    }
}

#[test]
fn a_docker_archive_gives_back_the_config_and_the_uncompressed_layers() {
    let from = source();
    let dir = tempfile::tempdir().unwrap();
    let reference = format!(
        "docker-archive:{}:localhost/app:1",
        dir.path().join("image.tar").display()
    );
    let (back, report) = round_trip(&from, &reference);
    let stored = back.stored.lock().unwrap();
    // docker-archive keeps the config as it is and the layers uncompressed: their
    // digests are the diff ids now.
    let config = &from.blobs[report.config_digest.as_ref().unwrap()];
    let diff_ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(config).unwrap()
        ["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect();
    let layers: Vec<&String> = report.layers.iter().map(|l| &l.digest).collect();
    assert_eq!(layers, diff_ids.iter().collect::<Vec<_>>());
    for id in &diff_ids {
        assert_eq!(Digest::of(&stored.blobs[id]).to_string(), *id);
    }
    assert_eq!(
        stored.blobs[report.config_digest.as_ref().unwrap()],
        *config
    );
}

#[test]
fn a_docker_archive_read_by_a_name_it_does_not_hold_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("image.tar");
    let missing = image_ref(&format!(
        "docker-archive:{}:localhost/other:9",
        file.display()
    ));
    let from = source();
    let dest = super::local_dest(&image_ref(&format!(
        "docker-archive:{}:localhost/app:1",
        file.display()
    )))
    .unwrap()
    .unwrap();
    copy(&from, dest, &CopyOptions::default(), &NoProgress).unwrap();
    let e = super::local_source(&missing).err().expect("no such image");
    assert!(matches!(e, ImageError::Format { .. }), "{e}");
    assert!(
        e.to_string().contains("no image tagged localhost/other:9"),
        "{e}"
    );
}

#[test]
fn a_copy_that_fails_leaves_no_image_in_a_layout() {
    let mut from = source();
    let layer = from
        .blobs
        .iter()
        .find(|(_, b)| b.starts_with(&[0x1f, 0x8b]))
        .map(|(d, _)| d.clone())
        .unwrap();
    from.blob_mut(&layer).truncate(5);
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let r = image_ref(&format!("oci:{}:v1", layout.display()));
    let dest = super::local_dest(&r).unwrap().unwrap();
    copy(&from, dest, &CopyOptions::default(), &NoProgress).unwrap_err();
    // The layout may open; its tag v1 names nothing.
    let e = super::local_source(&r)
        .and_then(|s| s.expect("a local transport").top())
        .expect_err("no v1 in the layout");
    assert!(e.to_string().contains("v1"), "{e}");
}
