//! Copying an image from any source to any destination: the engine every transport
//! plugs into. A source hands out the top manifest (or index), the manifests an index
//! lists and blobs, each verified as it is read; a destination takes blobs and
//! manifests and makes the image visible only when `commit` is called, so a failed
//! copy leaves nothing a reader would take for an image. Manifests are copied byte
//! for byte (digests preserved) wherever the destination format stores manifests.

pub mod chosen;
mod convert;
pub(crate) mod engine;
#[cfg(any(test, feature = "testkit"))]
pub mod memory;
mod progress;
mod recompress;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_recompress;
pub(crate) use progress::reporting;

pub use engine::{choose_image, copy, CopyOptions, CopyReport, LayerReport};
pub use progress::{NoProgress, Progress};

use crate::digest::Digest;
use crate::error::ImageError;
use oci_spec::image::Descriptor;
use std::io::Read;

/// The top manifest or index of an image, as its source stores it.
#[derive(Debug, Clone)]
pub struct Top {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: Digest,
}

impl Top {
    pub fn new(bytes: Vec<u8>, media_type: Option<String>) -> Top {
        let media_type = media_type.unwrap_or_else(|| crate::manifest::media_type_of(&bytes));
        Top {
            digest: Digest::of(&bytes),
            bytes,
            media_type,
        }
    }
}

/// Where an image comes from.
pub trait Source: Sync {
    /// The reference, for messages.
    fn name(&self) -> String;
    /// The top manifest or index.
    fn top(&self) -> Result<Top, ImageError>;
    /// A manifest `d` names (an index's entry), verified against `d`.
    fn manifest(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError>;
    /// A blob, verified against `d` while it is read.
    fn blob(&self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, ImageError>;
    /// How many blobs are best read at once.
    fn parallelism(&self) -> usize {
        1
    }
    /// The registry and repository the blobs are in, for a cross-repository mount.
    fn origin(&self) -> Option<(String, String)> {
        None
    }
    /// The file blob `d` is stored in as it is, when the source is a directory (an OCI
    /// layout): a destination on the same filesystem may link it instead of copying.
    fn blob_file(&self, _d: &Descriptor) -> Option<std::path::PathBuf> {
        None
    }
    /// Whether the files `blob_file` gives were hashed against their digests as this
    /// process wrote them (the layout an image build has just written): a
    /// destination may then link them without reading them again.
    fn blob_files_checked(&self) -> bool {
        false
    }
}

/// What a blob is to the image being copied.
#[derive(Debug, Clone)]
pub enum Role {
    Config,
    /// Layer `index` (from 0), with its uncompressed digest from the config.
    Layer {
        index: usize,
        diff_id: Option<Digest>,
    },
}

/// Where an image goes.
pub trait Dest: Sync {
    fn name(&self) -> String;
    /// Whether blob `d` is there already (nothing is copied then).
    fn has_blob(&self, d: &Descriptor) -> Result<bool, ImageError>;
    /// Stores blob `d` from `content` (already verified by the source as it reads).
    /// `origin`: where the source's blobs live, when a registry could mount them.
    fn put_blob(
        &self,
        d: &Descriptor,
        role: &Role,
        content: &mut (dyn Read + Send),
        origin: Option<&(String, String)>,
    ) -> Result<(), ImageError>;
    /// Stores a manifest or index (the bytes as they are).
    fn put_manifest(&self, bytes: &[u8], media_type: &str) -> Result<(), ImageError>;
    /// How many blobs it takes at once.
    fn parallelism(&self) -> usize {
        1
    }
    /// Whether it holds only OCI media types (a Docker manifest is rewritten for it).
    fn oci_only(&self) -> bool {
        false
    }
    /// Takes blob `d` by linking `file` (after checking its content, unless the source
    /// `checked` it as it wrote it) instead of copying it; `false` when it cannot
    /// (another filesystem, another format).
    fn link_blob(
        &self,
        _d: &Descriptor,
        _file: &std::path::Path,
        _checked: bool,
    ) -> Result<bool, ImageError> {
        Ok(false)
    }
    /// Whether it can hold an index (a docker-archive holds one image).
    fn holds_index(&self) -> bool {
        true
    }
    /// Names the image and makes it visible. Returns the digest a reader of the
    /// destination sees (the same as `top`'s unless the format rewrites manifests).
    fn commit(self: Box<Self>, top: &Top) -> Result<Digest, ImageError>;
}
