//! A layer compressed again on its way (`--dest-compress-format`, skopeo's option):
//! its content is decompressed, checked against the diff_id the config gives, and
//! compressed as asked into a temporary file, whose digest and size make the layer's
//! new descriptor. A layer already in that format is copied as it is, as skopeo does.

use super::engine::{copy_blob, digest as digest_of};
use super::progress::reporting;
use super::{Dest, Progress, Role, Source};
use crate::digest::{HashingWriter, VerifyingReader};
use crate::error::ImageError;
use crate::layer::Compression;
use crate::layer_format::LayerFormat;
use crate::layout::descriptor;
use berth_format::media_type::{
    DOCKER_LAYER, DOCKER_LAYER_GZIP, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD,
};
use oci_spec::image::Descriptor;
use std::io::{self, BufRead, Read, Seek};

/// Whether `d` is a layer berth compresses again: a tar, plain or compressed, that
/// may be distributed (foreign layers and artifacts' blobs are copied as they are).
pub(super) fn is_recompressible(d: &Descriptor) -> bool {
    let t = d.media_type().to_string();
    [
        DOCKER_LAYER,
        DOCKER_LAYER_GZIP,
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
    ]
    .contains(&t.as_str())
}

/// Copies layer `d` as `format`; returns its descriptor at the destination, whether
/// the destination had it, and its compression.
pub(super) fn copy_layer_as(
    source: &dyn Source,
    dest: &dyn Dest,
    d: &Descriptor,
    role: &Role,
    format: LayerFormat,
    progress: &dyn Progress,
) -> Result<(Descriptor, bool, Compression), ImageError> {
    // Declared in the format already: copied without a look (read once).
    if d.media_type() == &format.media_type() {
        let (skipped, compression) = copy_blob(source, dest, d, role, None, progress)?;
        return Ok((d.clone(), skipped, compression));
    }
    let Role::Layer { index, diff_id } = role else {
        unreachable!("only layers are compressed again");
    };
    let what = format!("{}: layer {}", source.name(), index + 1);
    let handle = progress.started(d, &format!("layer {} → {format}", index + 1));
    let mut input =
        io::BufReader::with_capacity(256 * 1024, reporting(source.blob(d)?, progress, handle));
    let compression = Compression::sniff(input.fill_buf().map_err(ImageError::io(&what))?);
    if compression == format.compression() {
        // In the format already, whatever its type said (any writer's gzip): kept,
        // as skopeo keeps it, under the format's type.
        drop(input);
        progress.finished(handle, false);
        let (skipped, compression) = copy_blob(source, dest, d, role, None, progress)?;
        let kept = descriptor(format.media_type(), &digest_of(d)?, d.size());
        return Ok((kept, skipped, compression));
    }
    let plain = compression.reader(input);
    let mut plain: Box<dyn Read> = match diff_id {
        Some(id) => Box::new(VerifyingReader::new(plain, id.clone(), None)),
        None => plain,
    };
    let mut spool = tempfile::tempfile().map_err(ImageError::io(std::env::temp_dir()))?;
    let hashed = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, &mut spool));
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut encoder = format
        .encoder(hashed, threads)
        .map_err(ImageError::io(&what))?;
    io::copy(&mut plain, &mut encoder).map_err(ImageError::io(&what))?;
    let hashed = encoder.finish().map_err(ImageError::io(&what))?;
    let (digest, size, buffered) = hashed.finish();
    buffered
        .into_inner()
        .map_err(|e| ImageError::io(&what)(e.into_error()))?;
    progress.finished(handle, false);
    let new = descriptor(format.media_type(), &digest, size);
    if dest.has_blob(&new)? {
        return Ok((new, true, format.compression()));
    }
    spool.rewind().map_err(ImageError::io(&what))?;
    dest.put_blob(&new, role, &mut spool, None)?;
    Ok((new, false, format.compression()))
}
