//! The OCI layout loader: index.json's images, pulled from their spooled or
//! in-memory blobs and named by their ref name annotation.

use super::plain_layers::zstd_layers_decompressed;
use super::{archive_error, Loader, FINAL_REPO};
use crate::loopback_registry::{Blob, Image};
use crate::RuntimeError;
use berth_format::archive::{parse_oci_index, Manifest, OCI_INDEX_FILE};
use std::collections::HashMap;

impl Loader<'_> {
    /// An OCI layout's blob by digest, from memory or the spool.
    fn oci_blob(&self, digest: &str) -> Option<Blob<'static>> {
        let name = format!("blobs/{}", digest.replacen(':', "/", 1));
        if let Some(bytes) = self.small.get(&name) {
            return Some(Blob::Bytes(bytes.clone()));
        }
        self.spooled
            .get(&name)
            .map(|sp| Blob::File(sp.path.clone()))
    }

    /// Pulls each image of an OCI layout (index.json's manifests) through the loopback
    /// registry, from its spooled blobs, and names it by its ref name annotation.
    pub(super) fn load_oci_layout(&mut self) -> Result<(), RuntimeError> {
        let index = self
            .small
            .get(OCI_INDEX_FILE)
            .ok_or_else(|| archive_error("an OCI layout without index.json"))
            .and_then(|b| parse_oci_index(b).map_err(|e| archive_error(e.to_string())))?;
        for (n, desc) in index.manifests.iter().enumerate() {
            let missing = |what: &str| {
                archive_error(format!(
                    "index.json names {what} {}, which the archive does not hold",
                    desc.digest
                ))
            };
            let manifest = match self.oci_blob(&desc.digest) {
                Some(Blob::Bytes(b)) => b,
                _ => return Err(missing("manifest")),
            };
            let parsed: Manifest = serde_json::from_slice(&manifest)
                .map_err(|e| archive_error(format!("manifest {}: {e}", desc.digest)))?;
            let mut blobs = HashMap::new();
            for digest in std::iter::once(&parsed.config.digest)
                .chain(parsed.layers.iter().map(|l| &l.digest))
            {
                let blob = self.oci_blob(digest).ok_or_else(|| missing("a blob of"))?;
                blobs.insert(digest.clone(), blob);
            }
            let manifest = match self.engine.reads_zstd_layers() {
                true => manifest,
                false => zstd_layers_decompressed(self.staging, &manifest, &mut blobs)?,
            };
            let mut image = Image {
                manifest,
                manifest_type: desc.media_type.clone(),
                blobs,
            };
            let existed = self.exists(&parsed.config.digest);
            let (id, temporary) = self.pull(FINAL_REPO, &n.to_string(), &mut image)?;
            let references: Vec<String> = desc.image_name().map(String::from).into_iter().collect();
            self.name(id, references, &temporary, existed)?;
        }
        Ok(())
    }
}
