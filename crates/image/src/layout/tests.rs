//! The image layout: verified blobs in, verified blobs out, names in index.json, and
//! nothing left by a blob that fails its check.

use super::*;
use oci_spec::image::MediaType;

fn blob_files(layout: &Layout) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(layout.dir().join("blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_new_layout_has_the_version_marker_of_the_spec_and_opens_again() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let marker: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("oci-layout")).unwrap()).unwrap();
    assert_eq!(marker["imageLayoutVersion"], "1.0.0");
    assert!(layout.index().unwrap().manifests().is_empty());
    assert!(Layout::open(dir.path()).is_ok());
    // Not a layout: named, with the rule.
    let other = tempfile::tempdir().unwrap();
    let err = Layout::open(other.path()).unwrap_err().to_string();
    assert!(err.contains("no readable oci-layout"), "{err}");
    fs::write(
        other.path().join("oci-layout"),
        r#"{"imageLayoutVersion":"2"}"#,
    )
    .unwrap();
    let err = Layout::open(other.path()).unwrap_err().to_string();
    assert!(
        err.contains("imageLayoutVersion must be \"1.0.0\""),
        "{err}"
    );
}

#[test]
fn blobs_go_in_verified_and_come_out_verified() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let data = b"a layer".to_vec();
    let digest = Digest::of(&data);
    let (got, size) = layout.put_blob(&mut &data[..], Some((&digest, 7))).unwrap();
    assert_eq!((got.clone(), size), (digest.clone(), 7));
    assert!(layout.has_blob(&digest, Some(7)));
    assert_eq!(layout.read_blob(&digest, 1024).unwrap(), data);
    // The same blob again is kept, not written twice.
    layout.put_bytes(&data).unwrap();
    assert_eq!(blob_files(&layout), [digest.hex().to_string()]);

    // A blob changed on disk is caught as it is read.
    fs::write(layout.blob_path(&digest), b"a layeR").unwrap();
    let err = layout.read_blob(&digest, 1024).unwrap_err();
    assert!(
        matches!(err, LayoutError::Blob(VerifyError::Mismatch { .. })),
        "{err}"
    );
    let err = layout.read_blob(&Digest::of(b"x"), 1024).unwrap_err();
    assert!(matches!(err, LayoutError::MissingBlob { .. }), "{err}");
}

#[test]
fn a_blob_that_fails_its_check_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let claimed = Digest::of(b"the real thing");
    let err = layout
        .put_blob(&mut &b"something else"[..], Some((&claimed, 14)))
        .unwrap_err();
    assert!(
        matches!(err, LayoutError::Blob(VerifyError::Mismatch { .. })),
        "{err}"
    );
    // An endless body, declared 14 bytes.
    let err = layout
        .put_blob(&mut std::io::repeat(b'x'), Some((&claimed, 14)))
        .unwrap_err();
    assert!(
        matches!(err, LayoutError::Blob(VerifyError::TooLong { .. })),
        "{err}"
    );
    assert!(blob_files(&layout).is_empty(), "{:?}", blob_files(&layout));
}

#[test]
fn names_in_index_json_are_set_replaced_and_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let descriptor = |bytes: &[u8]| {
        let (digest, size) = layout.put_bytes(bytes).unwrap();
        super::descriptor(MediaType::ImageManifest, &digest, size)
    };
    let one = descriptor(br#"{"schemaVersion":2,"one":1}"#);
    let two = descriptor(br#"{"schemaVersion":2,"two":2}"#);
    layout.tag("v1", one.clone()).unwrap();
    layout.tag("latest", one.clone()).unwrap();
    layout.tag("v1", two.clone()).unwrap();
    assert_eq!(layout.index().unwrap().manifests().len(), 2);
    assert_eq!(layout.resolve("v1").unwrap().digest(), two.digest());
    assert_eq!(layout.resolve("latest").unwrap().digest(), one.digest());
    let err = layout.resolve("v9").unwrap_err().to_string();
    assert!(err.contains("no image named \"v9\""), "{err}");
    // What was written is read back by a fresh open.
    let again = Layout::open(dir.path()).unwrap();
    assert_eq!(ref_name(&again.resolve("latest").unwrap()), Some("latest"));
}

#[test]
fn a_blob_written_and_hashed_here_is_placed_and_linked_without_a_second_read() {
    let dir = tempfile::tempdir().unwrap();
    let source = Layout::create(&dir.path().join("src")).unwrap();
    let dest = Layout::create(&dir.path().join("dest")).unwrap();
    let content = b"layer bytes".to_vec();
    let digest = Digest::of(&content);
    let mut temp = source.blob_temp().unwrap();
    temp.as_file_mut().write_all(&content).unwrap();
    // The length still has to agree with what the writer counted.
    let short = source.blob_temp().unwrap();
    assert!(source.place_written(short, &digest, 11).is_err());
    source.place_written(temp, &digest, 11).unwrap();
    assert_eq!(fs::read(source.blob_path(&digest)).unwrap(), content);
    let file = source.blob_path(&digest);
    // Unchecked, a file that is not the digest is refused; checked, only its size is.
    let other = Digest::of(b"something else");
    assert!(dest.link_verified(&file, &other, 11, false).is_err());
    assert!(dest.link_verified(&file, &digest, 12, true).is_err());
    assert!(dest.link_verified(&file, &digest, 11, true).unwrap());
    assert_eq!(fs::read(dest.blob_path(&digest)).unwrap(), content);
    assert_eq!(blob_files(&dest), [digest.hex().to_string()]);
}
