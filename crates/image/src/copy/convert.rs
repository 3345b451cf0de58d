//! Docker schema-2 manifests rewritten as OCI manifests, for destinations that hold
//! only OCI types (an OCI layout or archive: skopeo and umoci look up no other media
//! type there). The config is kept byte for byte; each layer's type follows what its
//! content is (a docker-archive's layers are uncompressed whatever their declared
//! type says), so the digest changes, as it does with skopeo.

use crate::copy::Top;
use crate::error::ImageError;
use crate::layer::Compression;
use crate::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use serde_json::{json, Value};

/// Whether `top` must be rewritten for an OCI-only destination.
pub(crate) fn needs_oci(top: &Top) -> bool {
    top.media_type == DOCKER_MANIFEST || top.media_type == DOCKER_LIST
}

fn layer_type(c: Compression) -> &'static str {
    match c {
        Compression::None => berth_format::media_type::OCI_LAYER,
        Compression::Gzip => berth_format::media_type::OCI_LAYER_GZIP,
        Compression::Zstd => berth_format::media_type::OCI_LAYER_ZSTD,
    }
}

/// The OCI manifest for Docker manifest `top` whose layers are `compressions`.
pub(crate) fn manifest_to_oci(top: &Top, compressions: &[Compression]) -> Result<Top, ImageError> {
    let bad = |why: String| ImageError::format(format!("manifest {}", top.digest), why);
    let docker: Value = serde_json::from_slice(&top.bytes).map_err(|e| bad(e.to_string()))?;
    let config = docker
        .get("config")
        .ok_or_else(|| bad("no config".into()))?;
    let layers = docker
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no layers".into()))?;
    if layers.len() != compressions.len() {
        return Err(bad("layers changed while copied".into()));
    }
    let layers: Vec<Value> = layers
        .iter()
        .zip(compressions)
        .map(
            |(l, c)| json!({"mediaType": layer_type(*c), "digest": l["digest"], "size": l["size"]}),
        )
        .collect();
    let oci = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config["digest"], "size": config["size"]},
        "layers": layers,
    });
    Ok(Top::new(
        serde_json::to_vec(&oci).expect("json serialises"),
        Some(OCI_MANIFEST.into()),
    ))
}

/// Index `top` as an OCI index whose entries are `children` (as stored).
pub(crate) fn index_to_oci(top: &Top, children: &[Top]) -> Result<Top, ImageError> {
    let bad = |why: String| ImageError::format(format!("index {}", top.digest), why);
    let mut index: Value = serde_json::from_slice(&top.bytes).map_err(|e| bad(e.to_string()))?;
    let entries = index
        .get_mut("manifests")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| bad("no manifests".into()))?;
    if entries.len() != children.len() {
        return Err(bad("manifests changed while copied".into()));
    }
    for (entry, child) in entries.iter_mut().zip(children) {
        entry["mediaType"] = json!(child.media_type);
        entry["digest"] = json!(child.digest.to_string());
        entry["size"] = json!(child.bytes.len());
    }
    index["mediaType"] = json!(OCI_INDEX);
    Ok(Top::new(
        serde_json::to_vec(&index).expect("json serialises"),
        Some(OCI_INDEX.into()),
    ))
}
