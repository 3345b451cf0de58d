//! The docker-archive stream of `pack --image`: a layer that declares its
//! uncompressed size (berth's own) is not read to plan the archive, and the size it
//! declares is checked when the archive is written.

use super::docker_archive_stream::{plan, write, SpoolLimit};
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
    let plan = plan(source, None, None, None)?;
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
    let planned = plan(&bare, None, None, None).unwrap();
    let counted = plan(&MemorySource::image(&layers(), "amd64"), None, None, None).unwrap();
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

fn spool_in(dir: &std::path::Path, max_bytes: u64) -> SpoolLimit {
    SpoolLimit {
        dir: dir.to_path_buf(),
        max_bytes,
    }
}

#[test]
fn layers_without_a_declared_size_are_inflated_once_into_the_spool() {
    let source = MemorySource::image(&layers(), "amd64");
    let dir = tempfile::tempdir().unwrap();
    let planned = plan(&source, None, None, Some(&spool_in(dir.path(), 1 << 30))).unwrap();
    // The layers are gone from the source: only the spool can give them.
    let mut bare = source.clone();
    for digest in layer_digests(&source) {
        bare.blobs.remove(&digest);
    }
    let mut out = Vec::new();
    write(&planned, &bare, &mut out).unwrap();
    assert_eq!(out, archive(&source).unwrap());
    // The spool files are unnamed: nothing is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn past_the_spool_limit_a_layer_is_counted_and_inflated_again() {
    let source = MemorySource::image(&layers(), "amd64");
    let dir = tempfile::tempdir().unwrap();
    // Room for the first layer only.
    let first = layers()[0].len() as u64;
    let planned = plan(&source, None, None, Some(&spool_in(dir.path(), first))).unwrap();
    let mut bare = source.clone();
    bare.blobs.remove(&layer_digests(&source)[1]);
    let err = write(&planned, &bare, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("no blob"), "{err}");
    let mut bare_first = source.clone();
    bare_first.blobs.remove(&layer_digests(&source)[0]);
    let mut out = Vec::new();
    write(&planned, &bare_first, &mut out).unwrap();
    assert_eq!(out, archive(&source).unwrap());
}

#[test]
fn a_spooled_layer_that_is_not_its_diff_id_fails_the_plan() {
    let mut source = MemorySource::image(&layers(), "amd64");
    let other = Digest::of(b"another tar").to_string();
    source.rewrite_config(|c| c["rootfs"]["diff_ids"][0] = other.clone().into());
    let dir = tempfile::tempdir().unwrap();
    let err = plan(&source, None, None, Some(&spool_in(dir.path(), 1 << 30))).unwrap_err();
    assert!(err.to_string().contains(&other), "{err}");
}
