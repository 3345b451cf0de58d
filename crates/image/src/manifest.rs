//! Manifests, indexes and configs: their media types, size limits and parsing (through
//! oci-spec; Docker's schema 2 manifests and manifest lists have the same shape as OCI's
//! and are read by the same types). The bytes are kept beside what was parsed: a copy
//! writes them unchanged so that every digest is preserved.

use crate::digest::Digest;
use crate::platform::Platform;
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

pub use berth_format::media_type::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LIST, DOCKER_MANIFEST, OCI_CONFIG, OCI_EMPTY,
    OCI_INDEX, OCI_MANIFEST,
};

/// What berth reads of a manifest or index at most: registries cap them at 4 MiB.
pub const MAX_MANIFEST: u64 = 4 << 20;
/// What berth reads of an image config at most.
pub const MAX_CONFIG: u64 = 8 << 20;
/// Layers an image may have (the registry's own limit is lower).
pub const MAX_LAYERS: usize = 1000;

/// The media types berth asks a registry for, best first.
pub const ACCEPT: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

#[derive(Debug, thiserror::Error)]
#[error("{what}: {why}")]
pub struct BadManifest {
    /// The manifest, config or descriptor: its digest or file.
    pub what: String,
    pub why: String,
}

impl BadManifest {
    pub fn new(what: impl Into<String>, why: impl Into<String>) -> BadManifest {
        BadManifest {
            what: what.into(),
            why: why.into(),
        }
    }
}

/// A parsed manifest or index.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

pub use berth_format::media_type::is_index;

/// The media type `bytes` declare, or the one their shape says (OCI allows the field
/// to be absent: `manifests` makes an index).
pub fn media_type_of(bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Shape {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(Shape {
            media_type: Some(m),
            ..
        }) => m,
        Ok(Shape {
            manifests: Some(_), ..
        }) => OCI_INDEX.into(),
        _ => OCI_MANIFEST.into(),
    }
}

/// Parses a manifest or index; `what` names it in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<Manifest, BadManifest> {
    let bad = |e: serde_json::Error| BadManifest::new(what, format!("not a manifest: {e}"));
    let media_type = media_type_of(bytes);
    if is_index(&media_type) {
        let index: ImageIndex = serde_json::from_slice(bytes).map_err(bad)?;
        for d in index.manifests() {
            digest_of(d, what)?;
        }
        return Ok(Manifest::Index(Box::new(index)));
    }
    if media_type != OCI_MANIFEST && media_type != DOCKER_MANIFEST {
        return Err(BadManifest::new(
            what,
            format!("media type {media_type:?} is neither an image manifest nor an index (Docker schema 1 is not supported)"),
        ));
    }
    let manifest: ImageManifest = serde_json::from_slice(bytes).map_err(bad)?;
    if manifest.layers().len() > MAX_LAYERS {
        return Err(BadManifest::new(
            what,
            format!("{} layers, more than {MAX_LAYERS}", manifest.layers().len()),
        ));
    }
    digest_of(manifest.config(), what)?;
    for d in manifest.layers() {
        digest_of(d, what)?;
    }
    Ok(Manifest::Image(Box::new(manifest)))
}

/// A descriptor's digest as berth's `Digest` (sha256 only).
pub fn digest_of(d: &Descriptor, what: &str) -> Result<Digest, BadManifest> {
    d.digest()
        .to_string()
        .parse()
        .map_err(|e| BadManifest::new(what, format!("descriptor: {e}")))
}

/// The platform an index entry declares.
pub fn platform_of(d: &Descriptor) -> Option<Platform> {
    d.platform().as_ref().map(|p| Platform {
        os: p.os().to_string(),
        architecture: p.architecture().to_string(),
        variant: p.variant().clone().filter(|v| !v.is_empty()),
    })
}

/// The layers' uncompressed digests an image config lists (`rootfs.diff_ids`).
pub fn diff_ids(config: &[u8], what: &str) -> Result<Vec<Digest>, BadManifest> {
    #[derive(serde::Deserialize)]
    struct Config {
        rootfs: RootFs,
    }
    #[derive(serde::Deserialize)]
    struct RootFs {
        diff_ids: Vec<String>,
    }
    let config: Config = serde_json::from_slice(config)
        .map_err(|e| BadManifest::new(what, format!("not an image config: {e}")))?;
    config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| {
            d.parse()
                .map_err(|e| BadManifest::new(what, format!("rootfs.diff_ids: {e}")))
        })
        .collect()
}

/// berth's annotation on a layer it built: the layer's uncompressed size in bytes,
/// so that `pack --image` need not inflate the layer to learn it. A reader checks it
/// while it inflates (a wrong one fails the copy naming the layer).
pub const LAYER_UNCOMPRESSED_SIZE: &str = "org.berth.layer.uncompressed-size";

/// The uncompressed size layer `d` declares with `LAYER_UNCOMPRESSED_SIZE`, if any.
pub fn declared_uncompressed_size(d: &Descriptor) -> Option<u64> {
    d.annotations()
        .as_ref()?
        .get(LAYER_UNCOMPRESSED_SIZE)?
        .parse()
        .ok()
}
