//! Docker schema-2 manifests rewritten as OCI manifests, for destinations that hold
//! only OCI types (an OCI layout or archive: skopeo and umoci look up no other media
//! type there), and manifests whose layers were compressed again (`recompress`). The
//! config is kept byte for byte; each layer's type follows what its content is (a
//! docker-archive's layers are uncompressed whatever their declared type says), so
//! the digest changes, as it does with skopeo.

use crate::copy::Top;
use crate::error::ImageError;
use crate::layer::Compression;
use crate::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use oci_spec::image::Descriptor;
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

/// Manifest `top` as an OCI manifest whose layers are `layers` (each as stored, with
/// the compression its content has): a Docker manifest is rewritten (config kept),
/// an OCI one keeps all but its layers' type, digest and size. A layer's type is
/// kept when it is OCI's, else follows its content.
pub(crate) fn manifest_to_oci(
    top: &Top,
    layers: &[(Descriptor, Compression)],
) -> Result<Top, ImageError> {
    let bad = |why: String| ImageError::format(format!("manifest {}", top.digest), why);
    let mut manifest: Value = serde_json::from_slice(&top.bytes).map_err(|e| bad(e.to_string()))?;
    let old = manifest
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no layers".into()))?;
    if old.len() != layers.len() {
        return Err(bad("layers changed while copied".into()));
    }
    let layers: Vec<Value> = old
        .iter()
        .zip(layers)
        .map(|(was, (d, c))| {
            let media_type = d.media_type().to_string();
            let media_type = match media_type.starts_with("application/vnd.oci.") {
                true => media_type,
                false => layer_type(*c).to_string(),
            };
            let mut layer = match top.media_type == OCI_MANIFEST {
                true => was.clone(),
                false => json!({}),
            };
            layer["mediaType"] = json!(media_type);
            layer["digest"] = json!(d.digest().to_string());
            layer["size"] = json!(d.size());
            layer
        })
        .collect();
    if top.media_type != OCI_MANIFEST {
        let config = manifest
            .get("config")
            .ok_or_else(|| bad("no config".into()))?;
        manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config["digest"], "size": config["size"]},
        });
    }
    manifest["layers"] = json!(layers);
    Ok(Top::new(
        serde_json::to_vec(&manifest).expect("json serialises"),
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
