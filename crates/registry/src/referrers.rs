//! OCI 1.1 referrers (a signature pointing at what it signs): listed through the
//! referrers API where the registry has it, else through the fallback tag
//! `sha256-<hex>` holding an index of them, which is what registries without the API
//! (distribution 2.8) need and what ORAS reads too.

use crate::client::{read_limited, Body, RegistryError};
use crate::{RegistryDest, RegistrySource};
use berth_image::manifest::{MAX_MANIFEST, OCI_INDEX};
use berth_image::{Digest, ImageError};
use serde_json::{json, Value};

fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// The referrers of `subject`: descriptors (with artifactType) as an index lists them.
pub fn list(source: &RegistrySource, subject: &Digest) -> Result<Vec<Value>, ImageError> {
    let client = source.client();
    let api = format!("/v2/{}/referrers/{subject}", source.repository());
    let response = client.call("GET", &api, &[("Accept", OCI_INDEX)], Body::Empty, &[404])?;
    let is_index = response
        .header("Content-Type")
        .is_some_and(|t| t.starts_with(OCI_INDEX));
    if response.status() == 200 && is_index {
        let body = read_limited(response, MAX_MANIFEST, &client.url(&api))?;
        return Ok(manifests(&body));
    }
    match source.fetch_manifest(&fallback_tag(subject)) {
        Ok(top) => Ok(manifests(&top.bytes)),
        Err(RegistryError::Status { status: 404, .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn manifests(index: &[u8]) -> Vec<Value> {
    serde_json::from_slice::<Value>(index)
        .ok()
        .and_then(|v| v.get("manifests").and_then(Value::as_array).cloned())
        .unwrap_or_default()
}

/// Pushes `manifest` (which has a `subject`) and lists it among the subject's
/// referrers in the fallback index (a registry with the referrers API lists it by
/// itself; the fallback tag does no harm there).
pub fn push(
    dest: &RegistryDest,
    source: &RegistrySource,
    subject: &Digest,
    manifest: &[u8],
    artifact_type: &str,
) -> Result<Digest, ImageError> {
    let digest = Digest::of(manifest);
    dest.put_manifest_as(
        &digest.to_string(),
        manifest,
        berth_image::manifest::OCI_MANIFEST,
    )?;
    let mut entries: Vec<Value> = match source.fetch_manifest(&fallback_tag(subject)) {
        Ok(top) => manifests(&top.bytes),
        Err(RegistryError::Status { status: 404, .. }) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let digest_text = digest.to_string();
    entries.retain(|e| e.get("digest").and_then(Value::as_str) != Some(&digest_text));
    let mut entry = berth_image::artifact::descriptor(
        berth_image::manifest::OCI_MANIFEST,
        &digest,
        manifest.len() as u64,
    );
    entry["artifactType"] = json!(artifact_type);
    entries.push(entry);
    let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries});
    let bytes = serde_json::to_vec(&index).expect("json serialises");
    dest.put_manifest_as(&fallback_tag(subject), &bytes, OCI_INDEX)?;
    Ok(digest)
}
