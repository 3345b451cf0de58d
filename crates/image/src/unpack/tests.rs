//! Unpack over the in-memory source: layers in order, whiteouts, the diff id check,
//! and that a refused unpack leaves no directory.

use super::*;
use crate::copy::memory::{layer_tar, MemorySource};
use crate::copy::NoProgress;
use crate::{Digest, VerifyError};

fn unpack_to(source: &MemorySource, dir: &Path) -> Result<UnpackReport, ImageError> {
    let options = UnpackOptions {
        rootless: true,
        ..UnpackOptions::default()
    };
    unpack(source, dir, &options, &NoProgress)
}

#[test]
fn layers_are_applied_in_order_and_a_whiteout_removes_an_earlier_file() {
    let source = MemorySource::image(
        &[
            layer_tar(&[("etc/a", b"a\n"), ("etc/b", b"first\n")]),
            layer_tar(&[("etc/.wh.a", b""), ("etc/b", b"second\n")]),
        ],
        "arm64",
    );
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let report = unpack_to(&source, &bundle).unwrap();
    assert_eq!(report.layers, 2);
    assert_eq!(report.architecture.as_deref(), Some("arm64"));
    let rootfs = bundle.join("rootfs");
    assert!(
        !rootfs.join("etc/a").exists(),
        "whited out by the second layer"
    );
    assert!(
        !rootfs.join("etc/.wh.a").exists(),
        "the whiteout itself is not a file"
    );
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/b")).unwrap(),
        "second\n"
    );
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"], serde_json::json!(["/bin/sh"]));
    assert_eq!(spec["root"]["path"], "rootfs");
}

#[test]
fn a_layer_whose_content_is_not_its_diff_id_is_refused_and_leaves_nothing() {
    let mut source = MemorySource::image(&[layer_tar(&[("a", b"a")])], "amd64");
    // The compressed blob still matches the manifest; the config lies about its content.
    let other = Digest::of(b"other");
    source.rewrite_config(|c| c["rootfs"]["diff_ids"][0] = other.to_string().into());
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    let e = unpack_to(&source, &bundle).unwrap_err();
    assert!(
        matches!(&e, ImageError::Verify(VerifyError::Mismatch { expected, .. }) if *expected == other),
        "{e:?}"
    );
    assert!(!bundle.exists());
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "no work directory left: {left:?}");
}

#[test]
fn a_directory_that_is_not_empty_is_refused_and_kept() {
    let source = MemorySource::image(&[layer_tar(&[("a", b"a")])], "amd64");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("mine"), "keep").unwrap();
    let e = unpack_to(&source, dir.path()).unwrap_err();
    assert!(e.to_string().contains("exists and is not empty"), "{e}");
    assert_eq!(fs::read_to_string(dir.path().join("mine")).unwrap(), "keep");
}

#[test]
fn an_empty_directory_is_taken_as_the_bundle() {
    let source = MemorySource::image(&[layer_tar(&[("a", b"a")])], "amd64");
    let dir = tempfile::tempdir().unwrap();
    unpack_to(&source, dir.path()).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("rootfs/a")).unwrap(),
        "a"
    );
}
