//! Delta packages: a full package with its payload replaced by the payload's delta
//! (`payload/<target>.delta`). Everything else — checksums, signature, manifest,
//! metadata — is the full package's, byte for byte, so the full package's signature
//! covers what the device rebuilds: an image's `image.tar` (listed in the signed
//! checksums), a bundle's tar uncompressed (named by the signed manifest's
//! `payload_tar_digest`).

use super::spool::{io_err, DeltaPackageError, Reusable, Spooled};
use super::{write_delta, ArchiveBase, DeltaBase, WrittenDelta, SUFFIX};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Files smaller than this stay in a registry's parts head (compressed with it)
/// rather than becoming parts of their own: a bundle has many small files.
const MIN_PART: u64 = 16 << 10;

/// What `write_delta_package` or `write_parts_head` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeltaReport {
    pub path: PathBuf,
    pub package_id: String,
    pub version: String,
    /// The version the delta needs ("" for a parts head: whatever is installed).
    pub base_version: String,
    /// The delta package's size on disk.
    pub size_bytes: u64,
    #[serde(flatten)]
    pub delta: WrittenDelta,
}

/// Writes to `out` the delta of the full package `new` against the package `old`:
/// same package id, same kind of payload. Both are read and verified first.
pub fn write_delta_package(
    old: &Path,
    new: &Path,
    out: &Path,
    limits: &crate::Limits,
) -> Result<DeltaReport, DeltaPackageError> {
    let invalid = |path: &Path, why: String| DeltaPackageError::Invalid {
        path: path.to_path_buf(),
        why,
    };
    let old_pkg = Spooled::read(old, limits)?;
    let new_pkg = Spooled::read(new, limits)?;
    let (om, nm) = (&old_pkg.manifest, &new_pkg.manifest);
    if om.id() != nm.id() {
        return Err(invalid(
            old,
            format!(
                "package {} is not {}: a delta is made from an older version of the same package",
                om.id(),
                nm.id()
            ),
        ));
    }
    if om.runtime.runs_an_image() != nm.runtime.runs_an_image() {
        return Err(invalid(
            old,
            format!(
                "a {} package: a delta of a {} package is made from one with the same kind of payload",
                om.runtime, nm.runtime
            ),
        ));
    }
    check_rebuildable(new, &new_pkg)?;
    let reusable = old_pkg
        .reusable(super::write::MIN_REUSE)
        .map_err(io_err(old))?;
    let base = DeltaBase {
        id: om.id().to_string(),
        version: om.version.clone(),
    };
    let (delta, size_bytes) = write_with(new, &new_pkg, base.clone(), &reusable, out)?;
    Ok(DeltaReport {
        path: out.to_path_buf(),
        package_id: nm.id().to_string(),
        version: nm.version.clone(),
        base_version: base.version,
        size_bytes,
        delta,
    })
}

/// A package split for a registry: its head (a delta package whose base is "what
/// the device holds, the rest fetched by digest": `base.version` empty) and the
/// parts the head leaves out, each addressed by its SHA-256.
pub struct PartsHead {
    pub report: DeltaReport,
    /// The parts left out: `sha256:<hex>` and size; read them from `content`.
    pub parts: Vec<(String, u64)>,
    /// The package's payload tar, indexed: where each part's bytes are.
    pub content: ArchiveBase,
}

/// Writes the parts head of the full package `new` to `out`: an image's uncompressed
/// layers, a bundle's files of 16 KiB or more (its config aside) left out.
pub fn write_parts_head(
    new: &Path,
    out: &Path,
    limits: &crate::Limits,
) -> Result<PartsHead, DeltaPackageError> {
    let pkg = Spooled::read(new, limits)?;
    check_rebuildable(new, &pkg)?;
    let min = if pkg.manifest.runtime.runs_an_image() {
        super::write::MIN_REUSE
    } else {
        MIN_PART
    };
    let reusable = pkg.reusable(min).map_err(io_err(new))?;
    let base = DeltaBase {
        id: pkg.manifest.id().to_string(),
        version: String::new(),
    };
    let (delta, size_bytes) = write_with(new, &pkg, base, &reusable, out)?;
    let mut parts: Vec<(String, u64)> = reusable
        .iter()
        .map(|(digest, r)| (digest.clone(), r.size))
        .collect();
    parts.sort();
    // The walk that found the parts knows where they are: no second pass.
    let located = reusable
        .into_iter()
        .map(|(digest, r)| (digest, (r.offset, r.size)))
        .collect();
    let content = ArchiveBase::new(pkg.tar.try_clone().map_err(io_err(new))?, located);
    Ok(PartsHead {
        report: DeltaReport {
            path: out.to_path_buf(),
            package_id: pkg.manifest.id().to_string(),
            version: pkg.manifest.version.clone(),
            base_version: String::new(),
            size_bytes,
            delta,
        },
        parts,
        content,
    })
}

/// A bundle can be rebuilt only when its manifest names its tar's digest.
fn check_rebuildable(path: &Path, pkg: &Spooled) -> Result<(), DeltaPackageError> {
    if !pkg.manifest.runtime.runs_an_image() && pkg.manifest.payload_tar_digest.is_none() {
        return Err(DeltaPackageError::Invalid {
            path: path.to_path_buf(),
            why: "its manifest has no payload_tar_digest, which a rebuilt bundle is checked against: pack it with this berth".into(),
        });
    }
    Ok(())
}

/// The delta package of `pkg` (read from `new`), its files in `reusable` left out,
/// written atomically to `out`. Returns what it wrote and its size.
fn write_with(
    new: &Path,
    pkg: &Spooled,
    base: DeltaBase,
    reusable: &HashMap<String, Reusable>,
    out: &Path,
) -> Result<(WrittenDelta, u64), DeltaPackageError> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    let mut delta_payload = tempfile::tempfile().map_err(io_err(dir))?;
    let mut tar = pkg.tar.try_clone().map_err(io_err(new))?;
    tar.seek(SeekFrom::Start(0)).map_err(io_err(new))?;
    let written = write_delta(
        BufReader::new(tar),
        &pkg.target,
        base,
        &|entry, digest| {
            // The path the base held it under, for a bundle; the content decides.
            pkg.candidate(&entry.name)?;
            reusable.get(digest).map(|r| r.hint.clone())
        },
        &mut delta_payload,
    )
    .map_err(io_err(new))?;
    delta_payload
        .seek(SeekFrom::Start(0))
        .map_err(io_err(new))?;
    let replaced = (
        format!("payload/{}", pkg.payload_name),
        format!("payload/{}{SUFFIX}", pkg.target),
    );
    copy_with_delta(
        new,
        &replaced,
        &mut delta_payload,
        written.delta_size,
        tmp.as_file_mut(),
    )
    .map_err(io_err(out))?;
    tmp.as_file().sync_all().map_err(io_err(out))?;
    let size_bytes = tmp.as_file().metadata().map_err(io_err(out))?.len();
    tmp.persist(out).map_err(|e| DeltaPackageError::Io {
        path: out.to_path_buf(),
        source: e.error,
    })?;
    Ok((written, size_bytes))
}

/// Copies the package `new` to `out` (gzip), its payload entry (`replaced.0`)
/// replaced by the delta (`replaced.1`), every other entry as it was.
fn copy_with_delta(
    new: &Path,
    (payload, delta_name): &(String, String),
    delta: &mut File,
    delta_size: u64,
    out: &mut File,
) -> io::Result<()> {
    let mut input = BufReader::new(File::open(new)?);
    let head = io::BufRead::fill_buf(&mut input)?.to_vec();
    let decoder: Box<dyn Read> = match crate::Compression::sniff(&head) {
        Some(crate::Compression::Zstd) => Box::new(zstd::stream::read::Decoder::new(input)?),
        _ => Box::new(berth_compress::ParallelGunzip::new(input)),
    };
    let gz = flate2::write::GzEncoder::new(io::BufWriter::new(out), flate2::Compression::new(6));
    let mut builder = tar::Builder::new(gz);
    let mut archive = tar::Archive::new(decoder);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut header = entry.header().clone();
        if name.trim_start_matches("./") == payload {
            header.set_size(delta_size);
            builder.append_data(&mut header, delta_name, &mut *delta)?;
        } else {
            builder.append_data(&mut header, &name, &mut entry)?;
        }
    }
    builder.into_inner()?.finish()?.flush()
}
