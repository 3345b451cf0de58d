//! `pack`: writes a package in one pass over the payload.
//!
//! Layout on disk: `[member 1: head, stored][members 2..: payload entry, compressed]`
//! (gzip: one member per 1 MiB block, berth-compress; zstd: one frame).
//! The head (checksums, manifest, metadata) needs the payload's digest, which is
//! known only after the payload was read; but every field of the head has a length
//! known in advance, so the payload is compressed straight to its final offset while
//! it is hashed and checked, and the head is written in front of it afterwards. No
//! staging copy, memory independent of the payload's size.

use crate::compress::{Compression, ParallelGzip, PAR_BLOCK};
use crate::limits::Limits;
use crate::manifest::{
    format_created_at, Manifest, ManifestIssues, RuntimeKind, Stage, GENERATED_KEYS,
    MAX_MANIFEST_BYTES,
};
use crate::payload::{inspect_payload, PayloadError, PayloadSummary};
use crate::reader::{MANIFEST_PATH, SIG_PATH, SUMS_PATH};
use berth_format::stream::{channel, Chunk, HashingReader};
use ed25519_dalek::SigningKey;
use serde_json::{Map, Value};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

/// Everything `pack` needs.
#[derive(Debug, Clone)]
pub struct PackRequest {
    pub manifest: PathBuf,
    pub payload: PathBuf,
    pub output_dir: PathBuf,
    pub readme: Option<PathBuf>,
    pub changelog: Option<PathBuf>,
    pub signing_key: Option<SigningKey>,
    pub compression: Compression,
    pub level: u32,
    pub threads: usize,
    /// `created_at`, in milliseconds since the epoch (from SOURCE_DATE_EPOCH for
    /// reproducible builds).
    pub created_at_ms: u64,
    pub limits: Limits,
}

/// What `pack` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackReport {
    pub path: PathBuf,
    pub package_id: String,
    pub version: String,
    pub runtime: String,
    pub compression: Compression,
    pub digest: String,
    pub size_bytes: u64,
    pub package_bytes: u64,
    pub payload: PayloadSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("{0}")]
    Manifest(ManifestIssues),
    #[error("{path}: cannot read")]
    Input {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {why}")]
    BadInput { path: PathBuf, why: String },
    #[error("payload: {0}")]
    Payload(PayloadError),
    #[error("{path}: the payload changed while it was being packed")]
    PayloadChanged { path: PathBuf },
    #[error("{path}: cannot write the package")]
    Output {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl PackError {
    /// Errors in what the user gave (exit code 2), as opposed to failures (exit 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            PackError::Manifest(_) | PackError::BadInput { .. } => true,
            // A file that cannot be read (a missing one too) is a failure, exit 1,
            // in every command (docs/cli.md).
            PackError::Input { .. } => false,
            PackError::Payload(PayloadError::Io(_)) => false,
            PackError::Payload(_) => true,
            PackError::PayloadChanged { .. } | PackError::Output { .. } => false,
        }
    }
}

fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, PackError> {
    let input_err = |source| PackError::Input {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(input_err)?;
    let meta = file.metadata().map_err(input_err)?;
    if !meta.is_file() {
        return Err(PackError::BadInput {
            path: path.into(),
            why: "not a regular file".into(),
        });
    }
    if meta.len() > limit {
        return Err(PackError::BadInput {
            path: path.into(),
            why: format!("{} bytes, more than the limit of {limit}", meta.len()),
        });
    }
    let mut buf = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(input_err)?;
    Ok(buf)
}

const METADATA_LIMIT: u64 = 1024 * 1024;

/// Writes the package and returns where and what. `progress(done, total)` is called
/// as payload bytes are read.
pub fn pack(
    req: &PackRequest,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PackReport, PackError> {
    let open = || {
        let input_err = |source| PackError::Input {
            path: req.payload.clone(),
            source,
        };
        let file = File::open(&req.payload).map_err(input_err)?;
        let meta = file.metadata().map_err(input_err)?;
        if !meta.is_file() {
            return Err(PackError::BadInput {
                path: req.payload.clone(),
                why: "the payload must be a regular file".into(),
            });
        }
        Ok((io::BufReader::with_capacity(256 * 1024, file), meta.len()))
    };
    pack_with(req, open, progress)
}

/// `pack`, with the payload read from `payload`, which must give exactly `size`
/// bytes (a payload made while it is packed: an image's docker-archive). Here
/// `req.payload` only names the payload, in errors and for a bundle's file name.
pub fn pack_stream(
    req: &PackRequest,
    payload: &mut dyn Read,
    size: u64,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PackReport, PackError> {
    pack_with(req, || Ok((payload, size)), progress)
}

/// The manifest is read and checked before `open` gives the payload and its size,
/// so a broken manifest is reported first.
fn pack_with<R: Read>(
    req: &PackRequest,
    open: impl FnOnce() -> Result<(R, u64), PackError>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PackReport, PackError> {
    let source = read_limited(&req.manifest, MAX_MANIFEST_BYTES)?;
    let manifest = Manifest::parse(&source, Stage::Source).map_err(PackError::Manifest)?;
    let mut warnings = Vec::new();
    if !manifest.unknown_keys.is_empty() {
        warnings.push(format!(
            "manifest: unknown keys kept as they are: {}",
            manifest.unknown_keys.join(", ")
        ));
    }
    let replaced: Vec<&str> = GENERATED_KEYS
        .iter()
        .copied()
        .filter(|k| manifest.json.contains_key(*k))
        .collect();
    if !replaced.is_empty() {
        warnings.push(format!(
            "manifest: {} computed by pack; the given values are replaced",
            replaced.join(", ")
        ));
    }

    let (mut payload, payload_size) = open()?;
    let payload_name = match manifest.runtime {
        rt if rt.runs_an_image() => "image.tar".to_string(),
        _ => {
            let name = req
                .payload
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let stem = name.strip_suffix(".tar.gz").unwrap_or_default();
            if crate::manifest::check_identifier(stem).is_err() {
                return Err(PackError::BadInput {
                    path: req.payload.clone(),
                    why: "a bundle payload must be named <name>.tar.gz, with a name of A-Z a-z 0-9 . _ - +".into(),
                });
            }
            name.to_string()
        }
    };

    let package_id = manifest.effective_package_id(req.created_at_ms);
    let created_at = format_created_at(req.created_at_ms);
    let readme = match &req.readme {
        Some(p) => read_limited(p, METADATA_LIMIT)?,
        None => format!(
            "Package: {package_id}\nVersion: {}\nRuntime: {}\nPlatform: {}\nPayload: {payload_name}\nGenerated: {created_at}\n",
            manifest.version, manifest.runtime, manifest.device_types[0]
        )
        .into_bytes(),
    };
    let changelog = match &req.changelog {
        Some(p) => read_limited(p, METADATA_LIMIT)?,
        None => b"Initial package generated with berth.\n".to_vec(),
    };

    let head_for = |digest_hex: &str, tar_digest: Option<&str>| {
        let manifest_json = final_manifest(
            &manifest,
            &package_id,
            &created_at,
            (digest_hex, tar_digest),
            payload_size,
            req.compression,
        );
        let sums = format!("{digest_hex}  payload/{payload_name}\n").into_bytes();
        let sig = req
            .signing_key
            .as_ref()
            .map(|k| crate::sign::sign(k, &sums, &manifest_json));
        Head {
            sums,
            sig,
            manifest: manifest_json,
            readme: &readme,
            changelog: &changelog,
        }
        .tar(req.created_at_ms / 1000)
    };
    // The head's length does not depend on the digest's value: lay the file out now.
    // A bundle's manifest also names its tar's digest (what a delta rebuilds).
    let tar_placeholder = format!("sha256:{}", "0".repeat(64));
    let tar_placeholder = (!manifest.runtime.runs_an_image()).then_some(tar_placeholder.as_str());
    let head_len = req
        .compression
        .stored_len(head_for(&"0".repeat(64), tar_placeholder).len()) as u64;

    let output_dir = &req.output_dir;
    std::fs::create_dir_all(output_dir).map_err(|source| PackError::Output {
        path: output_dir.clone(),
        source,
    })?;
    let output_dir = std::fs::canonicalize(output_dir).map_err(|source| PackError::Output {
        path: output_dir.clone(),
        source,
    })?;
    let file_name = format!(
        "{package_id}-{}-{}.{}",
        manifest.runtime,
        manifest.device_types[0],
        req.compression.extension()
    );
    let final_path = output_dir.join(&file_name);
    let out_err = |source| PackError::Output {
        path: final_path.clone(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".berth-pack-")
        .tempfile_in(&output_dir)
        .map_err(out_err)?;
    tmp.as_file_mut()
        .seek(SeekFrom::Start(head_len))
        .map_err(out_err)?;

    let (summary, digest_hex) = write_payload_member(
        req,
        &mut payload,
        payload_size,
        &payload_name,
        manifest.runtime,
        tmp.as_file(),
        progress,
    )?;

    let head = head_for(&digest_hex, summary.tar_digest.as_deref());
    let head = req.compression.stored(&head);
    assert_eq!(head.len() as u64, head_len, "package head changed length");
    tmp.as_file().write_all_at(&head, 0).map_err(out_err)?;
    let package_bytes = tmp.as_file().metadata().map_err(out_err)?.len();
    // tempfile creates 0600; a package is meant to be shared.
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(out_err)?;
    tmp.as_file().sync_all().map_err(out_err)?;
    tmp.persist(&final_path).map_err(|e| out_err(e.error))?;
    File::open(&output_dir)
        .and_then(|d| d.sync_all())
        .map_err(out_err)?;

    Ok(PackReport {
        path: final_path,
        package_id,
        version: manifest.version.clone(),
        runtime: manifest.runtime.to_string(),
        compression: req.compression,
        digest: format!("sha256:{digest_hex}"),
        size_bytes: payload_size,
        package_bytes,
        payload: summary,
        signed_by: req
            .signing_key
            .as_ref()
            .map(|k| crate::sign::key_id(&k.verifying_key())),
        warnings,
    })
}

/// The manifest as written into the package: the given keys in their order (the
/// computed ones left out), `package_id` first, then the computed fields.
fn final_manifest(
    manifest: &Manifest,
    package_id: &str,
    created_at: &str,
    (digest_hex, tar_digest): (&str, Option<&str>),
    size: u64,
    compression: Compression,
) -> Vec<u8> {
    let mut out = Map::new();
    out.insert("package_id".into(), Value::String(package_id.into()));
    for (k, v) in &manifest.json {
        if k != "package_id" && k != "package_compression" && !GENERATED_KEYS.contains(&k.as_str())
        {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert(
        "artifact_type".into(),
        manifest.runtime.artifact_type().into(),
    );
    out.insert("created_at".into(), created_at.into());
    out.insert("digest".into(), format!("sha256:{digest_hex}").into());
    out.insert("size_bytes".into(), size.into());
    if let Some(tar) = tar_digest {
        out.insert("payload_tar_digest".into(), tar.into());
    }
    if compression == Compression::Zstd {
        out.insert("package_compression".into(), "zstd".into());
    }
    let mut bytes = serde_json::to_vec_pretty(&Value::Object(out)).expect("JSON values serialise");
    bytes.push(b'\n');
    bytes
}

struct Head<'a> {
    sums: Vec<u8>,
    sig: Option<Vec<u8>>,
    manifest: Vec<u8>,
    readme: &'a [u8],
    changelog: &'a [u8],
}

impl Head<'_> {
    /// The tar entries before the payload, in DCP order, without an end marker.
    fn tar(&self, mtime: u64) -> Vec<u8> {
        let mut out = Vec::new();
        append_dir(&mut out, "checksums/", mtime);
        append_file(&mut out, SUMS_PATH, &self.sums, mtime);
        if let Some(sig) = &self.sig {
            append_file(&mut out, SIG_PATH, sig, mtime);
        }
        append_file(&mut out, MANIFEST_PATH, &self.manifest, mtime);
        append_dir(&mut out, "metadata/", mtime);
        append_file(&mut out, "metadata/README.txt", self.readme, mtime);
        append_file(&mut out, "metadata/changelog.txt", self.changelog, mtime);
        append_dir(&mut out, "payload/", mtime);
        out
    }
}

/// A ustar header with everything that could vary between hosts fixed: uid/gid 0,
/// no user or group names, the given mtime.
fn header(path: &str, size: u64, mtime: u64, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)
        .expect("package entry names are short ASCII");
    h.set_size(size);
    h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(kind);
    h.set_cksum();
    h
}

fn append_dir(out: &mut Vec<u8>, path: &str, mtime: u64) {
    out.extend_from_slice(header(path, 0, mtime, tar::EntryType::Directory).as_bytes());
}

fn append_file(out: &mut Vec<u8>, path: &str, data: &[u8], mtime: u64) {
    out.extend_from_slice(
        header(path, data.len() as u64, mtime, tar::EntryType::Regular).as_bytes(),
    );
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512), 0);
}

enum Member<'f> {
    Gzip(ParallelGzip<&'f File>),
    Zstd(zstd::stream::write::Encoder<'static, &'f File>),
}

/// Copies `payload` into the bytes read, and hands them to the payload checker.
struct Tee<R> {
    inner: R,
    to_checker: Option<SyncSender<Chunk>>,
    checker_failed: Arc<AtomicBool>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.checker_failed.load(Ordering::Relaxed) {
            // The payload is already known to be bad: stop reading it.
            return Err(io::Error::other("payload check failed"));
        }
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Some(tx) = &self.to_checker {
                if tx.send(Ok(buf[..n].to_vec())).is_err() {
                    self.to_checker = None;
                }
            }
        }
        Ok(n)
    }
}

/// Streams the payload entry (header, data, padding, end of archive) into members 2..
/// at the file's current offset, hashing and checking the payload on the way.
fn write_payload_member(
    req: &PackRequest,
    payload: &mut dyn Read,
    size: u64,
    name: &str,
    runtime: RuntimeKind,
    out: &File,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(PayloadSummary, String), PackError> {
    let mtime = req.created_at_ms / 1000;
    let entry_header = header(
        &format!("payload/{name}"),
        size,
        mtime,
        tar::EntryType::Regular,
    );
    let padding = (size.next_multiple_of(512) - size) as usize;
    let trailer = vec![0u8; padding + 1024];

    let (tx, mut checker_input) = channel(16);
    let failed = Arc::new(AtomicBool::new(false));
    let checker = {
        let (name, limits, failed) = (
            format!("payload/{name}"),
            req.limits.clone(),
            Arc::clone(&failed),
        );
        std::thread::spawn(move || {
            let result = inspect_payload(runtime, &name, &mut checker_input, &limits);
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            result
        })
    };

    let mut hashed = HashingReader::new(Tee {
        inner: payload.take(size),
        to_checker: Some(tx),
        checker_failed: Arc::clone(&failed),
    });
    let out_err = |source| PackError::Output {
        path: req.output_dir.clone(),
        source,
    };
    let threads = req.threads.max(1);
    let mut member = match req.compression {
        Compression::Gzip => {
            Member::Gzip(ParallelGzip::new(out, req.level, threads).map_err(out_err)?)
        }
        Compression::Zstd => {
            let mut enc =
                zstd::stream::write::Encoder::new(out, req.level as i32).map_err(out_err)?;
            enc.include_checksum(true).map_err(out_err)?;
            // Always zstd's multi-threaded mode, even on one thread: its output is
            // the same for any number of workers, but differs from the
            // single-threaded mode's (workers = 0), which --threads 1 used.
            enc.multithread(threads as u32).map_err(out_err)?;
            enc.set_pledged_src_size(Some(512 + size + trailer.len() as u64))
                .map_err(out_err)?;
            Member::Zstd(enc)
        }
    };

    let total = 512 + size + trailer.len() as u64;
    let mut stream = io::Cursor::new(entry_header.as_bytes().to_vec())
        .chain(&mut hashed)
        .chain(io::Cursor::new(trailer));
    let mut done = 0u64;
    let read_result: io::Result<()> = (|| {
        loop {
            let mut block = Vec::with_capacity(PAR_BLOCK);
            (&mut stream)
                .take(PAR_BLOCK as u64)
                .read_to_end(&mut block)?;
            if block.is_empty() {
                break;
            }
            done += block.len() as u64;
            let last = done >= total;
            match &mut member {
                Member::Gzip(gz) => gz.push(block)?,
                Member::Zstd(z) => z.write_all(&block)?,
            }
            progress(done.min(total).saturating_sub(512).min(size), size);
            if last {
                break;
            }
        }
        Ok(())
    })();
    drop(stream);
    // Dropping the tee closes the checker's input, so it can finish.
    let (digest, read_len) = hashed.finish();
    let digest = digest.hex().to_string();
    let check = checker.join().expect("payload checker thread panicked");
    // A failed payload check explains a stopped read; report it first.
    let summary = check.map_err(PackError::Payload)?;
    read_result.map_err(|source| PackError::Input {
        path: req.payload.clone(),
        source,
    })?;
    if read_len != size || done != total {
        return Err(PackError::PayloadChanged {
            path: req.payload.clone(),
        });
    }
    match member {
        Member::Gzip(gz) => gz.finish().map(drop),
        Member::Zstd(z) => z.finish().map(drop),
    }
    .map_err(out_err)?;
    Ok((summary, digest))
}
