//! An image source and destination in memory, for unit tests of the copy engine,
//! the transports and unpack without any outside tool (feature `testkit`, and this
//! crate's own tests). The source verifies what it hands out as every real source
//! does; the destination records what it was given and whether it was committed.

use super::{Dest, Role, Source, Top};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::VerifyingReader;
use oci_spec::image::Descriptor;
use serde_json::json;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};

/// An image (or index) held in memory: the top manifest, the manifests an index
/// lists and the blobs, by digest.
#[derive(Debug, Clone, Default)]
pub struct MemorySource {
    pub top: Vec<u8>,
    pub top_media_type: String,
    pub manifests: HashMap<String, Vec<u8>>,
    pub blobs: HashMap<String, Vec<u8>>,
}

impl MemorySource {
    /// An OCI image of `layers` (uncompressed tar streams), gzip-compressed, with a
    /// config for `arch` listing their diff ids.
    pub fn image(layers: &[Vec<u8>], arch: &str) -> MemorySource {
        let mut source = MemorySource::default();
        let manifest = source.add_image(layers, arch, true);
        source.top_media_type = berth_format::media_type::OCI_MANIFEST.into();
        source.top = manifest;
        source
    }

    /// An OCI index of one image per architecture, each of `layers`.
    pub fn index(layers: &[Vec<u8>], arches: &[&str]) -> MemorySource {
        let mut source = MemorySource::default();
        let mut entries = Vec::new();
        for arch in arches {
            let manifest = source.add_image(layers, arch, true);
            let digest = Digest::of(&manifest);
            entries.push(json!({
                "mediaType": berth_format::media_type::OCI_MANIFEST,
                "digest": digest.to_string(),
                "size": manifest.len(),
                "platform": {"os": "linux", "architecture": arch},
            }));
            source.manifests.insert(digest.to_string(), manifest);
        }
        source.top = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": berth_format::media_type::OCI_INDEX,
            "manifests": entries,
        }))
        .expect("JSON");
        source.top_media_type = berth_format::media_type::OCI_INDEX.into();
        source
    }

    /// A Docker schema 2 image of `layers`, as registries and docker-archives hold them.
    pub fn docker_image(layers: &[Vec<u8>], arch: &str) -> MemorySource {
        let mut source = MemorySource::default();
        source.top = source.add_image(layers, arch, false);
        source.top_media_type = berth_format::media_type::DOCKER_MANIFEST.into();
        source
    }

    /// Adds config and layers as blobs; returns the image manifest (in OCI's media
    /// types, or Docker's).
    fn add_image(&mut self, layers: &[Vec<u8>], arch: &str, oci: bool) -> Vec<u8> {
        let (layer_type, config_type, manifest_type) = if oci {
            (
                berth_format::media_type::OCI_LAYER_GZIP,
                berth_format::media_type::OCI_CONFIG,
                berth_format::media_type::OCI_MANIFEST,
            )
        } else {
            (
                berth_format::media_type::DOCKER_LAYER_GZIP,
                berth_format::media_type::DOCKER_CONFIG,
                berth_format::media_type::DOCKER_MANIFEST,
            )
        };
        let mut descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for layer in layers {
            diff_ids.push(Digest::of(layer).to_string());
            let gz = gzip(layer);
            descriptors.push(json!({
                "mediaType": layer_type,
                "digest": Digest::of(&gz).to_string(),
                "size": gz.len(),
            }));
            self.blobs.insert(Digest::of(&gz).to_string(), gz);
        }
        let config = serde_json::to_vec(&json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("JSON");
        let config_digest = Digest::of(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {
                "mediaType": config_type,
                "digest": config_digest.to_string(),
                "size": config.len(),
            },
            "layers": descriptors,
        }))
        .expect("JSON");
        self.blobs.insert(config_digest.to_string(), config);
        manifest
    }

    /// Changes the config of an image source, and the manifest to name the new one.
    pub fn rewrite_config(&mut self, change: impl FnOnce(&mut serde_json::Value)) {
        let mut manifest: serde_json::Value = serde_json::from_slice(&self.top).expect("JSON");
        let old = manifest["config"]["digest"]
            .as_str()
            .expect("a config")
            .to_string();
        let mut config: serde_json::Value =
            serde_json::from_slice(&self.blobs.remove(&old).expect("the config")).expect("JSON");
        change(&mut config);
        let bytes = serde_json::to_vec(&config).expect("JSON");
        manifest["config"]["digest"] = json!(Digest::of(&bytes).to_string());
        manifest["config"]["size"] = json!(bytes.len());
        self.blobs.insert(Digest::of(&bytes).to_string(), bytes);
        self.top = serde_json::to_vec(&manifest).expect("JSON");
    }

    /// The blob with this digest, as stored (to corrupt it, say).
    pub fn blob_mut(&mut self, digest: &str) -> &mut Vec<u8> {
        self.blobs.get_mut(digest).expect("a blob of the image")
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("in memory");
    gz.finish().expect("in memory")
}

fn missing(d: &Descriptor) -> ImageError {
    ImageError::format("memory", format!("no blob {}", d.digest()))
}

impl Source for MemorySource {
    fn name(&self) -> String {
        "memory".into()
    }

    fn top(&self) -> Result<Top, ImageError> {
        Ok(Top::new(
            self.top.clone(),
            Some(self.top_media_type.clone()),
        ))
    }

    fn manifest(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        let bytes = self
            .manifests
            .get(&d.digest().to_string())
            .ok_or_else(|| missing(d))?;
        let mut verified = Vec::new();
        let expected = super::engine::digest(d)?;
        VerifyingReader::new(&bytes[..], expected, Some(d.size()))
            .read_to_end(&mut verified)
            .map_err(ImageError::io("memory"))?;
        Ok(verified)
    }

    fn blob(&self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let bytes = self
            .blobs
            .get(&d.digest().to_string())
            .ok_or_else(|| missing(d))?;
        let expected = super::engine::digest(d)?;
        Ok(Box::new(VerifyingReader::new(
            &bytes[..],
            expected,
            Some(d.size()),
        )))
    }
}

/// What a `MemoryDest` was given, kept after the destination is consumed by commit.
#[derive(Debug, Default)]
pub struct Stored {
    /// Blob bytes by digest, with the role each was put as.
    pub blobs: HashMap<String, Vec<u8>>,
    pub roles: HashMap<String, String>,
    /// Manifests and indexes in the order they were put, with their media types.
    pub manifests: Vec<(Vec<u8>, String)>,
    /// The top manifest's digest once committed.
    pub committed: Option<Digest>,
}

/// A destination in memory. `has` lists blobs it holds before the copy.
#[derive(Debug, Clone, Default)]
pub struct MemoryDest {
    pub stored: Arc<Mutex<Stored>>,
    pub oci_only: bool,
    pub holds_index: bool,
}

impl MemoryDest {
    pub fn new() -> MemoryDest {
        MemoryDest {
            holds_index: true,
            ..MemoryDest::default()
        }
    }

    /// Records blob `digest` as already there.
    pub fn with_blob(self, digest: &str, bytes: Vec<u8>) -> MemoryDest {
        self.stored
            .lock()
            .expect("unpoisoned")
            .blobs
            .insert(digest.to_string(), bytes);
        self
    }
}

impl Dest for MemoryDest {
    fn name(&self) -> String {
        "memory".into()
    }

    fn has_blob(&self, d: &Descriptor) -> Result<bool, ImageError> {
        let stored = self.stored.lock().expect("unpoisoned");
        Ok(stored.blobs.contains_key(&d.digest().to_string()))
    }

    fn put_blob(
        &self,
        d: &Descriptor,
        role: &Role,
        content: &mut (dyn Read + Send),
        _origin: Option<&(String, String)>,
    ) -> Result<(), ImageError> {
        let mut bytes = Vec::new();
        content
            .read_to_end(&mut bytes)
            .map_err(ImageError::io(format!("blob {}", d.digest())))?;
        let role = match role {
            Role::Config => "config".to_string(),
            Role::Layer { index, .. } => format!("layer {index}"),
        };
        let mut stored = self.stored.lock().expect("unpoisoned");
        stored.roles.insert(d.digest().to_string(), role);
        stored.blobs.insert(d.digest().to_string(), bytes);
        Ok(())
    }

    fn put_manifest(&self, bytes: &[u8], media_type: &str) -> Result<(), ImageError> {
        let mut stored = self.stored.lock().expect("unpoisoned");
        stored
            .manifests
            .push((bytes.to_vec(), media_type.to_string()));
        Ok(())
    }

    fn oci_only(&self) -> bool {
        self.oci_only
    }

    fn holds_index(&self) -> bool {
        self.holds_index
    }

    fn commit(self: Box<Self>, top: &Top) -> Result<Digest, ImageError> {
        self.stored.lock().expect("unpoisoned").committed = Some(top.digest.clone());
        Ok(top.digest.clone())
    }
}

/// An uncompressed layer tar of `(path, content)` files (directories made as needed
/// by the applier) with mode 0644, owned by root, at time 0.
pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path, *content)
            .expect("in memory");
    }
    builder.into_inner().expect("in memory")
}
