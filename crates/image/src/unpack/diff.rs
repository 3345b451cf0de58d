//! One layer extracted on its own into a directory, whiteouts kept as overlayfs marks
//! them: the `diff` directory of a layer in podman's (containers/storage) or
//! Docker's overlay storage, written at build time (`berth rootfs install
//! --populate-storage`). The uncompressed stream is checked against its diff_id.

use crate::copy::engine::digest;
use crate::copy::Source;
use crate::digest::{Digest, VerifyingReader};
use crate::error::ImageError;
use crate::layer;
use crate::tar_split::TarSplit;
use berth_format::stream::CountingReader;
use berth_fs::layer::{self as apply, LayerLimits};
use oci_spec::image::Descriptor;
use std::io::Write;
use std::path::Path;

/// What extracting a layer found.
#[derive(Debug, Clone)]
pub struct LayerDiff {
    /// Bytes of the uncompressed layer tar.
    pub size: u64,
    pub entries: u64,
    /// Bytes of entry data.
    pub expanded: u64,
    /// The layer's tar-split metadata (gzip-compressed JSON lines).
    pub tar_split: Vec<u8>,
}

/// Extracts layer `d` of `source` (its uncompressed digest `diff_id`) into `dir`,
/// an empty directory, as root would (owners, devices, xattrs), within `limits`.
pub fn extract_layer_diff(
    source: &dyn Source,
    d: &Descriptor,
    diff_id: &Digest,
    dir: &Path,
    limits: LayerLimits,
) -> Result<LayerDiff, ImageError> {
    let layer_digest = digest(d)?;
    let label = dir.display().to_string();
    let mut plain = layer::decompressed_send(source.blob(d)?).map_err(ImageError::io(&label))?;
    let options = apply::Options {
        privileged: true,
        whiteouts: apply::Whiteouts::OverlayMarks,
        xattrs: true,
        limits,
    };
    crate::pipe::pipelined(&mut plain, |plain| {
        let mut split = TarSplit::new();
        let mut counted = CountingReader::new(plain, |chunk: &[u8]| split.write_all(chunk));
        let mut checked = VerifyingReader::new(&mut counted, diff_id.clone(), None);
        let applied = apply::apply(dir, &mut checked, &options).map_err(|e| ImageError::Layer {
            layer: layer_digest.clone(),
            why: format!("{}: {}", e.entry, e.why),
        })?;
        std::io::copy(&mut checked, &mut std::io::sink()).map_err(ImageError::io(&label))?;
        drop(checked);
        let size = counted.count();
        Ok(LayerDiff {
            size,
            entries: applied.entries,
            expanded: applied.expanded,
            tar_split: split.finish().map_err(ImageError::io(&label))?,
        })
    })
}
