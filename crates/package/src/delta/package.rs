//! Delta packages: a full package with its payload replaced by the payload's delta
//! against an older package. Everything else — checksums, signature, manifest,
//! metadata — is the full package's, byte for byte, so the full package's signature
//! covers what the device rebuilds.

use super::{write_delta, DeltaBase, WrittenDelta, SUFFIX};
use crate::manifest::RuntimeKind;
use crate::reader::{read_package_into, PayloadSink, ReadOptions, SinkError};
use crate::Manifest;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DeltaPackageError {
    #[error("{path}: {why}")]
    Invalid { path: PathBuf, why: String },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What `write_delta_package` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeltaReport {
    pub path: PathBuf,
    pub package_id: String,
    pub version: String,
    pub base_version: String,
    /// The delta package's size on disk.
    pub size_bytes: u64,
    #[serde(flatten)]
    pub delta: WrittenDelta,
}

/// Writes to `out` the delta of the full package `new` against the package `old`
/// (same package id, an image runtime). Both are read and verified first.
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
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DeltaPackageError::Io { path, source }
    };
    let (old_manifest, old_payload, old_layers) = spool_payload(old, limits)?;
    let (new_manifest, new_payload, new_layers) = spool_payload(new, limits)?;
    if old_manifest.id() != new_manifest.id() {
        return Err(invalid(
            old,
            format!(
                "package {} is not {}: a delta is made from an older version of the same package",
                old_manifest.id(),
                new_manifest.id()
            ),
        ));
    }
    if !matches!(
        new_manifest.runtime,
        RuntimeKind::Podman | RuntimeKind::Docker
    ) {
        return Err(invalid(
            new,
            format!(
                "a {} package: deltas are made of image payloads (podman, docker) only",
                new_manifest.runtime
            ),
        ));
    }
    // The layers of the old image a device's engine gives back as they were:
    // uncompressed layer tars (their SHA-256 is the layer's diff_id).
    let reusable = layer_digests(old_payload, &old_layers).map_err(io_err(old))?;
    let base = DeltaBase {
        id: old_manifest.id().to_string(),
        version: old_manifest.version.clone(),
    };
    let written = write_with(new, new_payload, &new_layers, &reusable, base.clone(), out)?;
    Ok(DeltaReport {
        path: out.to_path_buf(),
        package_id: new_manifest.id().to_string(),
        version: new_manifest.version.clone(),
        base_version: base.version,
        size_bytes: written.1,
        delta: written.0,
    })
}

/// A package split for a registry: its head (a delta package whose base is "what
/// the device holds, the rest fetched by digest": `base.version` empty) and the
/// parts the head leaves out, each an uncompressed layer addressed by its SHA-256.
pub struct PartsHead {
    pub report: DeltaReport,
    /// The layers left out: `sha256:<hex>` and size; read them from `layers`.
    pub parts: Vec<(String, u64)>,
    /// The package's payload, indexed: where each part's bytes are.
    pub layers: super::ArchiveBase,
}

/// Writes the parts head of the full package `new` (podman, docker) to `out`.
pub fn write_parts_head(
    new: &Path,
    out: &Path,
    limits: &crate::Limits,
) -> Result<PartsHead, DeltaPackageError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DeltaPackageError::Io { path, source }
    };
    let (manifest, payload, layers) = spool_payload(new, limits)?;
    if !matches!(manifest.runtime, RuntimeKind::Podman | RuntimeKind::Docker) {
        return Err(DeltaPackageError::Invalid {
            path: new.to_path_buf(),
            why: format!(
                "a {} package: only image payloads are split into parts",
                manifest.runtime
            ),
        });
    }
    let copy = payload.try_clone().map_err(io_err(new))?;
    let reusable = layer_digests(copy, &layers).map_err(io_err(new))?;
    let base = DeltaBase {
        id: manifest.id().to_string(),
        version: String::new(),
    };
    let indexed = super::ArchiveBase::index(payload.try_clone().map_err(io_err(new))?)
        .map_err(io_err(new))?;
    let (written, size_bytes) = write_with(new, payload, &layers, &reusable, base, out)?;
    let mut parts: Vec<(String, u64)> = Vec::new();
    for (digest, _) in reusable.iter() {
        if let Some(size) = indexed.size_of(digest) {
            if size >= super::write::MIN_REUSE {
                parts.push((digest.clone(), size));
            }
        }
    }
    parts.sort();
    Ok(PartsHead {
        report: DeltaReport {
            path: out.to_path_buf(),
            package_id: manifest.id().to_string(),
            version: manifest.version.clone(),
            base_version: String::new(),
            size_bytes,
            delta: written,
        },
        parts,
        layers: indexed,
    })
}

/// The delta package of `new` (whose payload is spooled in `payload`), leaving out
/// its layers in `reusable`, written atomically to `out`.
fn write_with(
    new: &Path,
    mut payload: File,
    layers: &[String],
    reusable: &HashMap<String, String>,
    base: DeltaBase,
    out: &Path,
) -> Result<(WrittenDelta, u64), DeltaPackageError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DeltaPackageError::Io { path, source }
    };
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    let mut delta_payload = tempfile::tempfile().map_err(io_err(dir))?;
    payload.seek(SeekFrom::Start(0)).map_err(io_err(new))?;
    let written = write_delta(
        BufReader::new(payload),
        "image.tar",
        base,
        &|entry, digest| {
            (layers.contains(&entry.name) && reusable.contains_key(digest)).then_some(None)
        },
        &mut delta_payload,
    )
    .map_err(io_err(new))?;
    delta_payload
        .seek(SeekFrom::Start(0))
        .map_err(io_err(new))?;
    copy_with_delta(
        new,
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

/// Reads and verifies a package, its payload written to a temporary file.
fn spool_payload(
    path: &Path,
    limits: &crate::Limits,
) -> Result<(Manifest, File, Vec<String>), DeltaPackageError> {
    let file = File::open(path).map_err(|source| DeltaPackageError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let compressed_len = file.metadata().ok().map(|m| m.len());
    let mut sink = SpoolSink { file: None };
    let opts = ReadOptions {
        limits: limits.clone(),
        compressed_len,
        ..Default::default()
    };
    let report = read_package_into(BufReader::new(file), &opts, Some(&mut sink)).map_err(|e| {
        DeltaPackageError::Invalid {
            path: path.to_path_buf(),
            why: e.to_string(),
        }
    })?;
    let manifest = Manifest::parse(
        &serde_json::to_vec(&report.manifest).unwrap_or_default(),
        crate::Stage::Packaged,
    )
    .map_err(|e| DeltaPackageError::Invalid {
        path: path.to_path_buf(),
        why: e.to_string(),
    })?;
    let mut spooled = sink.file.take().ok_or_else(|| DeltaPackageError::Invalid {
        path: path.to_path_buf(),
        why: "no payload".into(),
    })?;
    spooled
        .seek(SeekFrom::Start(0))
        .map_err(|source| DeltaPackageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let layers = report
        .payload
        .summary
        .layers
        .iter()
        .map(|l| l.name.clone())
        .collect();
    Ok((manifest, spooled, layers))
}

struct SpoolSink {
    file: Option<File>,
}

impl PayloadSink for SpoolSink {
    fn open(
        &mut self,
        _manifest: &Manifest,
        _name: &str,
        _size: u64,
        _listed: Option<&str>,
    ) -> Result<Box<dyn Write>, SinkError> {
        let file = tempfile::tempfile()?;
        self.file = Some(file.try_clone()?);
        Ok(Box::new(io::BufWriter::new(file)))
    }
}

/// `sha256:<hex>` → name of each uncompressed layer of an image archive (read from
/// its start).
fn layer_digests(mut file: File, layers: &[String]) -> io::Result<HashMap<String, String>> {
    use sha2::{Digest, Sha256};
    file.seek(SeekFrom::Start(0))?;
    let mut out = HashMap::new();
    let mut reader = BufReader::new(file);
    let mut walk = super::raw::RawTar::new(&mut reader);
    let mut end = Vec::new();
    while let Some(entry) = walk.next_entry(&mut end)? {
        let mut content = walk.content(entry.size);
        let mut hasher = Sha256::new();
        let mut head = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = content.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if head.len() < 4 {
                head.extend_from_slice(&buf[..n.min(4)]);
            }
            hasher.update(&buf[..n]);
        }
        walk.padding(&entry)?;
        let compressed = berth_format::compression::sniff(&head).is_some();
        if entry.is_file() && layers.contains(&entry.name) && !compressed {
            out.insert(
                format!("sha256:{}", hex::encode(hasher.finalize())),
                entry.name,
            );
        }
    }
    Ok(out)
}

/// Copies the package `new` to `out` (gzip), its payload entry replaced by the
/// delta (`payload/<name>.delta`), every other entry as it was.
fn copy_with_delta(
    new: &Path,
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
        if name.starts_with("payload/") && header.entry_type().is_file() {
            header.set_size(delta_size);
            let delta_name = format!("{}{SUFFIX}", name.trim_start_matches("./"));
            builder.append_data(&mut header, delta_name, &mut *delta)?;
        } else {
            builder.append_data(&mut header, &name, &mut entry)?;
        }
    }
    builder.into_inner()?.finish()?.flush()
}
