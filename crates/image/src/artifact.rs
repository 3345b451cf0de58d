//! OCI 1.1 artifacts: a manifest with an `artifactType`, the empty config, files as
//! layers titled `org.opencontainers.image.title` (what ORAS writes and reads), and a
//! `subject` for a referrer such as a signature.

use crate::digest::Digest;
use crate::manifest::{OCI_EMPTY, OCI_MANIFEST};
use serde_json::{json, Map, Value};

/// The empty config's content.
pub const EMPTY: &[u8] = b"{}";
/// A file's name, on a layer.
pub const TITLE: &str = "org.opencontainers.image.title";

/// One file of an artifact.
pub struct File<'a> {
    pub media_type: &'a str,
    pub digest: &'a Digest,
    pub size: u64,
    pub title: &'a str,
}

/// A descriptor as JSON.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Value {
    json!({"mediaType": media_type, "digest": digest.to_string(), "size": size})
}

/// An artifact manifest's bytes.
pub fn manifest(
    artifact_type: &str,
    file: &File<'_>,
    subject: Option<Value>,
    annotations: Map<String, Value>,
) -> Vec<u8> {
    let mut layer = descriptor(file.media_type, file.digest, file.size);
    layer["annotations"] = json!({ TITLE: file.title });
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": descriptor(OCI_EMPTY, &Digest::of(EMPTY), EMPTY.len() as u64),
        "layers": [layer],
    });
    if let Some(s) = subject {
        m["subject"] = s;
    }
    if !annotations.is_empty() {
        m["annotations"] = Value::Object(annotations);
    }
    serde_json::to_vec(&m).expect("json serialises")
}

/// A file name taken from a title: one plain path component, nothing that could
/// name a directory or reach out of one.
pub fn safe_title(title: &str) -> Result<&str, String> {
    let fine = !title.is_empty()
        && title.len() <= 255
        && title != "."
        && title != ".."
        && !title.contains(['/', '\\', '\0'])
        && !title.starts_with('-');
    if fine {
        Ok(title)
    } else {
        Err(format!("{TITLE} {title:?} is not a plain file name"))
    }
}
