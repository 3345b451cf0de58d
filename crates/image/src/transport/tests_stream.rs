//! The docker-archive stream of `pack --image`: a layer that declares its
//! uncompressed size (berth's own) is not read to plan the archive, and the size it
//! declares is checked when the archive is written.

use super::docker_archive_stream::{plan, write};
use crate::copy::memory::{layer_tar, MemorySource};
use crate::manifest::LAYER_UNCOMPRESSED_SIZE;
use crate::Digest;
use serde_json::Value;

fn layers() -> Vec<Vec<u8>> {
    vec![
        layer_tar(&[("etc/hostname", b"box\n")]),
        layer_tar(&[("app/run", b"#!/bin/sh\necho hi\n")]),
    ]
}

/// The image with each layer annotated with `sizes[i]`.
fn annotated(sizes: &[u64]) -> MemorySource {
    let mut source = MemorySource::image(&layers(), "amd64");
    let mut manifest: Value = serde_json::from_slice(&source.top).unwrap();
    for (layer, size) in manifest["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .zip(sizes)
    {
        layer["annotations"] = serde_json::json!({LAYER_UNCOMPRESSED_SIZE: size.to_string()});
    }
    source.top = serde_json::to_vec(&manifest).unwrap();
    source
}

fn archive(source: &MemorySource) -> Result<Vec<u8>, crate::ImageError> {
    let plan = plan(source, None, None)?;
    let mut out = Vec::new();
    write(&plan, source, &mut out)?;
    assert_eq!(out.len() as u64, plan.size);
    Ok(out)
}

fn layer_digests(source: &MemorySource) -> Vec<String> {
    let manifest: Value = serde_json::from_slice(&source.top).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn declared_sizes_plan_the_archive_without_reading_a_layer() {
    let sizes: Vec<u64> = layers().iter().map(|l| l.len() as u64).collect();
    let source = annotated(&sizes);
    // With the layers gone, only the declared sizes can plan it.
    let mut bare = source.clone();
    for digest in layer_digests(&source) {
        bare.blobs.remove(&digest);
    }
    let planned = plan(&bare, None, None).unwrap();
    let counted = plan(&MemorySource::image(&layers(), "amd64"), None, None).unwrap();
    assert_eq!(planned.size, counted.size);
    assert_eq!(planned.digest, counted.digest, "the same image to skopeo");
    // And the archive is the one counting gives.
    assert_eq!(
        archive(&source).unwrap(),
        archive(&MemorySource::image(&layers(), "amd64")).unwrap()
    );
}

#[test]
fn a_wrong_declared_size_fails_the_archive_naming_the_layer() {
    let real: Vec<u64> = layers().iter().map(|l| l.len() as u64).collect();
    for lie in [real[1] - 512, real[1] + 512] {
        let source = annotated(&[real[0], lie]);
        let err = archive(&source).unwrap_err().to_string();
        let diff_id = Digest::of(&layers()[1]).to_string();
        assert!(err.contains(&diff_id), "{err}");
        assert!(err.contains(&lie.to_string()), "{err}");
    }
}
