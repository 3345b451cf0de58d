//! zstd layers for an engine that cannot read them (Docker Engine before 23: its
//! `docker pull` refuses `application/vnd.oci.image.layer.v1.tar+zstd`): each is
//! decompressed into the staging directory and served uncompressed, its digest then
//! the diff_id the config already lists, so the image and its id are the same.

use super::archive_error;
use crate::loopback_registry::Blob;
use crate::RuntimeError;
use berth_format::media_type::{OCI_LAYER, OCI_LAYER_ZSTD};
use berth_format::stream::HashingReader;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// Rewrites `manifest` (an OCI image manifest) and `blobs` so that no layer is
/// zstd: each zstd layer decompressed into a file of its own under `staging`.
pub(super) fn zstd_layers_decompressed(
    staging: &Path,
    manifest: &[u8],
    blobs: &mut HashMap<String, Blob<'static>>,
) -> Result<Vec<u8>, RuntimeError> {
    let mut parsed: serde_json::Value = serde_json::from_slice(manifest)
        .map_err(|e| archive_error(format!("an image manifest: {e}")))?;
    let Some(layers) = parsed.get_mut("layers").and_then(|l| l.as_array_mut()) else {
        return Ok(manifest.to_vec());
    };
    let mut changed = false;
    for layer in layers.iter_mut() {
        if layer["mediaType"] != OCI_LAYER_ZSTD {
            continue;
        }
        let digest = layer["digest"].as_str().unwrap_or_default().to_string();
        let compressed: Box<dyn Read> = match blobs.remove(&digest) {
            Some(Blob::Bytes(bytes)) => Box::new(io::Cursor::new(bytes)),
            Some(Blob::File(path)) => Box::new(
                File::open(&path).map_err(|e| archive_error(format!("{}: {e}", path.display())))?,
            ),
            _ => {
                return Err(archive_error(format!(
                    "layer {digest} is not in the archive"
                )))
            }
        };
        let plain_path = staging.join(format!("plain-{}", digest.replace(':', "-")));
        let mut plain = HashingReader::new(
            zstd::stream::read::Decoder::new(compressed)
                .map_err(|e| archive_error(format!("layer {digest}: not zstd: {e}")))?,
        );
        let mut out = File::create(&plain_path).map_err(RuntimeError::Scratch)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = plain
                .read(&mut buf)
                .map_err(|e| archive_error(format!("layer {digest}: not readable zstd: {e}")))?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n]).map_err(RuntimeError::Scratch)?;
        }
        let (plain_digest, size) = plain.finish();
        layer["mediaType"] = OCI_LAYER.into();
        layer["digest"] = plain_digest.to_string().into();
        layer["size"] = size.into();
        blobs.insert(plain_digest.to_string(), Blob::File(plain_path));
        changed = true;
    }
    Ok(match changed {
        true => serde_json::to_vec(&parsed).expect("JSON serialises"),
        false => manifest.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_format::digest::Digest;

    #[test]
    fn zstd_layers_are_served_decompressed_under_their_diff_id() {
        let staging = tempfile::tempdir().unwrap();
        let tar = b"a layer's tar, as it was before zstd".repeat(100);
        let compressed = zstd::encode_all(&tar[..], 3).unwrap();
        let zstd_digest = Digest::of(&compressed).to_string();
        let gzip_digest = Digest::of(b"another layer").to_string();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:c", "size": 1},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": gzip_digest, "size": 13},
                {"mediaType": OCI_LAYER_ZSTD, "digest": zstd_digest, "size": compressed.len()},
            ],
        }))
        .unwrap();
        let mut blobs = HashMap::new();
        blobs.insert(gzip_digest.clone(), Blob::Bytes(b"another layer".to_vec()));
        blobs.insert(zstd_digest.clone(), Blob::Bytes(compressed));
        let rewritten = zstd_layers_decompressed(staging.path(), &manifest, &mut blobs).unwrap();
        let rewritten: serde_json::Value = serde_json::from_slice(&rewritten).unwrap();
        let plain = &rewritten["layers"][1];
        let diff_id = Digest::of(&tar).to_string();
        assert_eq!(plain["mediaType"], OCI_LAYER);
        assert_eq!(plain["digest"], diff_id.as_str());
        assert_eq!(plain["size"], tar.len());
        assert_eq!(
            rewritten["layers"][0]["digest"],
            gzip_digest.as_str(),
            "others kept"
        );
        let Some(Blob::File(path)) = blobs.get(&diff_id) else {
            panic!("the plain layer is served from a file");
        };
        assert_eq!(std::fs::read(path).unwrap(), tar);
        assert!(!blobs.contains_key(&zstd_digest));
    }

    #[test]
    fn a_zstd_layer_that_does_not_decompress_is_an_archive_error() {
        let staging = tempfile::tempdir().unwrap();
        let bad = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 1, 2, 3];
        let digest = Digest::of(&bad).to_string();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "layers": [{"mediaType": OCI_LAYER_ZSTD, "digest": digest, "size": bad.len()}],
        }))
        .unwrap();
        let mut blobs = HashMap::new();
        blobs.insert(digest.clone(), Blob::Bytes(bad.to_vec()));
        let err = zstd_layers_decompressed(staging.path(), &manifest, &mut blobs).unwrap_err();
        assert!(matches!(err, RuntimeError::Archive(_)), "{err:?}");
        assert!(err.to_string().contains(&digest), "{err}");
    }
}
