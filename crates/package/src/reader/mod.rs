//! The streaming package reader: one pass, entry by entry, nothing written.
//!
//! Decompression runs on its own thread, ahead of the tar parsing and hashing, so
//! the two halves of the work use two cores. Every check that can be made early is
//! (sizes against the manifest, entry types, names, limits); checks that need data
//! from later entries (a payload before its manifest) run at the end, so entry order
//! does not matter for correctness.

use crate::compress::Compression;
use crate::limits::{
    counted, is_guard_error, is_source_error, ExpansionGuard, Limits, SourceReader,
};
use crate::manifest::{Manifest, RuntimeKind, Stage};
use crate::payload::{inspect_payload, PayloadError, PayloadSummary};
use crate::sign::{check_signature, SignatureStatus};
use berth_format::stream::{read_ahead, HashingReader, ReadAhead};
use ed25519_dalek::VerifyingKey;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

pub const SUMS_PATH: &str = "checksums/sha256sums.txt";
pub const SIG_PATH: &str = "checksums/sha256sums.txt.sig";
pub const MANIFEST_PATH: &str = "manifest.json";

#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Keys whose signature is required; empty means signatures are optional (but a
    /// signature present must still be valid).
    pub trusted_keys: Vec<VerifyingKey>,
    /// With trusted keys: let unsigned packages through (a signed one must still be
    /// signed by a trusted key). A device that trusts keys but does not require
    /// signatures.
    pub allow_unsigned: bool,
    pub limits: Limits,
    /// The package's size on disk when known: lets absurd entry sizes be refused at
    /// their header, before anything is decompressed.
    pub compressed_len: Option<u64>,
    /// Signatures (`sha256sums.txt.sig`'s content) that came beside the package (a
    /// registry's signature referrers), checked when the package holds none: one by
    /// a trusted key is enough, wherever it is listed.
    pub detached_signatures: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileInfo {
    pub name: String,
    pub size: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PayloadInfo {
    pub name: String,
    pub size: u64,
    pub digest: String,
    #[serde(flatten)]
    pub summary: PayloadSummary,
}

/// Everything a valid package holds, as `inspect` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PackageReport {
    pub package_id: String,
    pub version: String,
    pub runtime: String,
    pub compression: Compression,
    pub compressed_bytes: u64,
    pub manifest: serde_json::Value,
    pub payload: PayloadInfo,
    pub metadata: Vec<FileInfo>,
    pub signature: SignatureStatus,
    /// The package's own signature file (`checksums/sha256sums.txt.sig`), as it
    /// holds it: what `berth push` sends as the package's signature referrer.
    #[serde(skip)]
    pub signature_file: Option<Vec<u8>>,
    /// Entry names in archive order.
    pub entries: Vec<String>,
    pub warnings: Vec<String>,
}

/// The reasons a package is invalid, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<String>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The package is malformed, tampered with or violates a rule (exit code 2).
    #[error("{0}")]
    Invalid(Problems),
    /// The package could not be read (exit code 1).
    #[error("cannot read the package")]
    Io(#[source] io::Error),
    /// The payload's sink refused it before a byte was written (no space, already
    /// installed...): its own error.
    #[error(transparent)]
    Refused(SinkError),
}

impl ReadError {
    fn invalid(msg: impl Into<String>) -> Self {
        ReadError::Invalid(Problems(vec![msg.into()]))
    }

    /// Sorts an I/O error met while reading into "the disk failed" and "the bytes are bad".
    fn classify(e: io::Error, what: &str) -> Self {
        if is_source_error(&e) || crate::limits::find_in_chain::<crate::delta::Unavailable>(&e) {
            ReadError::Io(e)
        } else if is_guard_error(&e) || crate::limits::find_in_chain::<crate::delta::BaseError>(&e)
        {
            ReadError::invalid(format!("{what}: {}", innermost(&e)))
        } else {
            ReadError::invalid(format!(
                "{what}: corrupt or truncated package ({})",
                innermost(&e)
            ))
        }
    }
}

fn innermost(e: &io::Error) -> String {
    // tar wraps errors in context of its own; the innermost message is the useful one.
    let mut msg = e.to_string();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(err) = cur {
        msg = err.to_string();
        cur = err.source();
    }
    msg
}

/// Checks an entry name: UTF-8, relative, no `..`. Returns it without `./` and `/`.
fn checked_name(raw: &[u8]) -> Result<String, String> {
    let name = std::str::from_utf8(raw).map_err(|_| {
        format!(
            "entry {:?}: name is not UTF-8",
            String::from_utf8_lossy(raw)
        )
    })?;
    if name.starts_with('/') {
        return Err(format!("entry {name}: absolute paths are not allowed"));
    }
    if name.split('/').any(|c| c == "..") {
        return Err(format!("entry {name}: '..' in paths is not allowed"));
    }
    if name.contains('\0') || name.chars().any(char::is_control) {
        return Err(format!(
            "entry {name:?}: control characters in names are not allowed"
        ));
    }
    let trimmed = name.trim_start_matches("./").trim_end_matches('/');
    if trimmed.is_empty() || trimmed.split('/').any(|c| c.is_empty() || c == ".") {
        return Err(format!(
            "entry {name:?}: empty or '.' path components are not allowed"
        ));
    }
    Ok(trimmed.to_string())
}

fn read_small<R: Read>(
    entry: &mut R,
    size: u64,
    limit: u64,
    name: &str,
) -> Result<Vec<u8>, ReadError> {
    if size > limit {
        return Err(ReadError::invalid(format!(
            "{name} is {size} bytes, more than the limit of {limit}"
        )));
    }
    let mut buf = Vec::with_capacity(size as usize);
    entry
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| ReadError::classify(e, name))?;
    Ok(buf)
}

struct State {
    problems: Vec<String>,
    seen: BTreeSet<String>,
    order: Vec<String>,
    sums: Option<Vec<u8>>,
    sig: Option<Vec<u8>>,
    manifest_bytes: Option<Vec<u8>>,
    manifest: Option<Manifest>,
    payload: Option<PayloadInfo>,
    /// SHA-256 of every regular file, to check whatever the sums file lists.
    hashes: BTreeMap<String, String>,
    metadata: Vec<FileInfo>,
    metadata_total: u64,
    /// A bundle a delta rebuilt: the full payload's name in the sums file
    /// (`payload/<name>.tar.gz`), which the rebuilt tar stands for.
    rebuilt_bundle: Option<String>,
}

/// Takes a package's payload while the package is read, so that it can be installed
/// without a copy (berthd streams it into the runtime).
pub trait PayloadSink {
    /// The payload begins. Everything before it has been read and checked: the
    /// manifest is valid and the signature verified (an install needs checksums and
    /// manifest before the payload, the order `berth pack` and DCP write). Returns
    /// where the payload's bytes go. The payload's digest is only known at its end:
    /// the caller must still treat the whole read's result as the verdict.
    /// `listed_digest` is what the checksums file says it will be (`sha256:<hex>`):
    /// enough to tell a package already installed from another build of the same
    /// version before its payload is read.
    fn open(
        &mut self,
        manifest: &Manifest,
        name: &str,
        size: u64,
        listed_digest: Option<&str>,
    ) -> Result<Box<dyn Write>, SinkError>;

    /// A delta payload (`payload/<name>.delta`) is about to be rebuilt, after
    /// `open`: what the device holds of `base`, the version it was made from.
    /// Without one the package is refused.
    fn delta_base(
        &mut self,
        manifest: &Manifest,
        base: &crate::delta::DeltaBase,
    ) -> Result<Box<dyn crate::delta::Base>, SinkError> {
        let _ = manifest;
        Err(format!(
            "a delta from {} {}: nothing here holds that version",
            base.id, base.version
        )
        .into())
    }
}

/// Why a sink refused a payload: the sink's own typed error, handed back unchanged
/// in `ReadError::Refused` (downcast it to the sink's type).
pub type SinkError = Box<dyn std::error::Error + Send + Sync>;

/// Reads and verifies a package in one pass. Returns its report, or every problem
/// found.
pub fn read_package<R: Read + Send + 'static>(
    input: R,
    opts: &ReadOptions,
) -> Result<PackageReport, ReadError> {
    read_package_into(input, opts, None)
}

/// `read_package`, handing the payload's bytes to `sink` as they are read.
pub fn read_package_into<R: Read + Send + 'static>(
    input: R,
    opts: &ReadOptions,
    mut sink: Option<&mut dyn PayloadSink>,
) -> Result<PackageReport, ReadError> {
    let limits = &opts.limits;
    let compressed = Arc::new(AtomicU64::new(0));
    let counted = counted(SourceReader(input), Arc::clone(&compressed));
    let mut src = io::BufReader::with_capacity(256 * 1024, counted);
    let magic = src.fill_buf().map_err(ReadError::Io)?;
    let compression = match Compression::sniff(magic) {
        Some(c) => c,
        None if magic.is_empty() => return Err(ReadError::invalid("empty file: not a package")),
        None => {
            return Err(ReadError::invalid(
                "not a package: neither a gzip nor a zstd stream",
            ))
        }
    };
    let decoder: Box<dyn Read + Send> = match compression {
        Compression::Gzip => Box::new(berth_compress::ParallelGunzip::new(src)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::with_buffer(src).map_err(ReadError::Io)?)
        }
    };
    let guarded = ExpansionGuard::new(decoder, compressed.clone(), limits.max_expansion_ratio)
        .with_allowance(limits.expansion_allowance);
    let mut archive = tar::Archive::new(read_ahead(Box::new(guarded), ReadAhead::SMALL));

    let mut st = State {
        problems: Vec::new(),
        seen: BTreeSet::new(),
        order: Vec::new(),
        sums: None,
        sig: None,
        manifest_bytes: None,
        manifest: None,
        payload: None,
        hashes: BTreeMap::new(),
        metadata: Vec::new(),
        metadata_total: 0,
        rebuilt_bundle: None,
    };
    let entries = archive
        .entries()
        .map_err(|e| ReadError::classify(e, "package"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ReadError::classify(e, "package"))?;
        read_entry(&mut entry, &mut st, opts, sink.as_deref_mut())?;
    }
    // After the end-of-archive marker only zero padding may follow.
    let mut rest = archive.into_inner();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match rest.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if buf[..n].iter().all(|&b| b == 0) => {}
            Ok(_) => {
                st.problems
                    .push("data after the end of the tar archive".into());
                break;
            }
            Err(e) => return Err(ReadError::classify(e, "package")),
        }
    }
    finish(
        st,
        compression,
        compressed.load(std::sync::atomic::Ordering::Relaxed),
        opts,
    )
}

fn read_entry<R: Read, S: PayloadSink + ?Sized>(
    entry: &mut tar::Entry<R>,
    st: &mut State,
    opts: &ReadOptions,
    sink: Option<&mut S>,
) -> Result<(), ReadError> {
    let limits = &opts.limits;
    let name = match checked_name(&entry.path_bytes()) {
        Ok(n) => n,
        Err(p) => {
            st.problems.push(p);
            return Ok(());
        }
    };
    let kind = entry.header().entry_type();
    let size = entry
        .header()
        .entry_size()
        .map_err(|e| ReadError::classify(e, &name))?;
    if kind.is_symlink() || kind.is_hard_link() {
        let target = entry
            .link_name_bytes()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default();
        let what = if kind.is_symlink() {
            "symbolic"
        } else {
            "hard"
        };
        st.problems.push(format!(
            "entry {name}: {what} links are not allowed (-> {target})"
        ));
        return Ok(());
    }
    if !(kind.is_file() || kind.is_dir() || kind == tar::EntryType::Continuous) {
        let what = match kind {
            tar::EntryType::Char | tar::EntryType::Block => "device nodes are",
            tar::EntryType::Fifo => "FIFOs are",
            _ => "this entry type is",
        };
        st.problems.push(format!(
            "entry {name}: {what} not allowed (type {:?})",
            kind.as_byte() as char
        ));
        return Ok(());
    }
    if !st.seen.insert(name.clone()) {
        st.problems.push(format!("entry {name} appears twice"));
        return Ok(());
    }
    st.order.push(name.clone());
    if kind.is_dir() {
        if !matches!(name.as_str(), "checksums" | "metadata" | "payload")
            && !name.starts_with("metadata/")
        {
            st.problems.push(format!("unexpected entry {name}/ (a package holds checksums/, manifest.json, metadata/ and payload/)"));
        }
        return Ok(());
    }
    if let Some(total) = opts.compressed_len {
        if size > limits.max_expanded(total) {
            return Err(ReadError::invalid(format!(
                "entry {name} claims {size} bytes, impossible for a package of {total} bytes (decompression bomb; limit {}x)",
                limits.max_expansion_ratio
            )));
        }
    }
    match name.as_str() {
        SUMS_PATH => st.sums = Some(read_small(entry, size, limits.max_checksums_bytes, &name)?),
        SIG_PATH => st.sig = Some(read_small(entry, size, limits.max_signature_bytes, &name)?),
        MANIFEST_PATH => {
            let bytes = read_small(entry, size, limits.max_manifest_bytes, &name)?;
            match Manifest::parse(&bytes, Stage::Packaged) {
                Ok(m) => st.manifest = Some(m),
                Err(issues) => st.problems.extend(issues.0.iter().map(|i| format!("manifest.json: {i}"))),
            }
            st.hashes.insert(name.clone(), hex::encode(Sha256::digest(&bytes)));
            st.manifest_bytes = Some(bytes);
        }
        n if n.starts_with("metadata/") => {
            st.metadata_total += size;
            if st.metadata.len() >= limits.max_metadata_files || st.metadata_total > limits.max_metadata_total_bytes {
                return Err(ReadError::invalid(format!(
                    "metadata/ holds more than {} files or {} bytes",
                    limits.max_metadata_files, limits.max_metadata_total_bytes
                )));
            }
            let bytes = read_small(entry, size, limits.max_metadata_file_bytes, &name)?;
            st.hashes.insert(name.clone(), hex::encode(Sha256::digest(&bytes)));
            st.metadata.push(FileInfo { name, size });
        }
        n if n.starts_with("payload/") && !n["payload/".len()..].contains('/') => {
            read_payload(entry, st, &name, size, opts, sink)?;
        }
        _ => st.problems.push(format!(
            "unexpected entry {name} (a package holds checksums/, manifest.json, metadata/ and payload/)"
        )),
    }
    Ok(())
}

fn read_payload<R: Read, S: PayloadSink + ?Sized>(
    entry: &mut R,
    st: &mut State,
    name: &str,
    size: u64,
    opts: &ReadOptions,
    sink: Option<&mut S>,
) -> Result<(), ReadError> {
    if let Some(first) = &st.payload {
        return Err(ReadError::invalid(format!(
            "two payloads: payload/{} and {name}",
            first.name
        )));
    }
    if name.ends_with(crate::delta::SUFFIX) {
        return delta::read_delta_payload(entry, st, name, opts, sink);
    }
    check_size(st, name, size)?;
    let file_name = &name["payload/".len()..];
    let runtime = match st.manifest.as_ref().map(|m| m.runtime) {
        Some(rt) => rt,
        // Payload before manifest: its name tells the kind; finish() checks they agree.
        None if file_name == "image.tar" => RuntimeKind::Podman,
        None if file_name.ends_with(".tar.gz") => RuntimeKind::Lxc,
        None => {
            return Err(ReadError::invalid(format!(
                "{name}: neither image.tar nor an LXC .tar.gz bundle"
            )))
        }
    };
    let tee = match sink {
        None => None,
        Some(sink) => Some(open_sink(st, opts, sink, name, size)?.1),
    };
    take_payload(entry, st, name, runtime, tee, opts)
}

/// The manifest's `size_bytes` against the payload's size.
fn check_size(st: &State, name: &str, size: u64) -> Result<(), ReadError> {
    if let Some(expected) = st.manifest.as_ref().and_then(|m| m.size_bytes) {
        if expected != size {
            return Err(ReadError::invalid(format!(
                "size mismatch: manifest.json says {expected} bytes, {name} has {size}"
            )));
        }
    }
    Ok(())
}

/// Hands the payload `name` to the sink, once everything before it checks out.
fn open_sink<'m, S: PayloadSink + ?Sized>(
    st: &'m State,
    opts: &ReadOptions,
    sink: &mut S,
    name: &str,
    size: u64,
) -> Result<(&'m Manifest, Box<dyn Write>), ReadError> {
    let mut early = st.problems.clone();
    if st.sums.is_none() {
        early.push(format!(
            "{SUMS_PATH} must come before the payload to install a package as it streams"
        ));
    }
    let Some(manifest) = st.manifest.as_ref() else {
        early.push(format!(
            "{MANIFEST_PATH} must come before the payload to install a package as it streams"
        ));
        return Err(ReadError::Invalid(Problems(early)));
    };
    signature_verdict(st, opts, &mut early);
    if !early.is_empty() {
        return Err(ReadError::Invalid(Problems(early)));
    }
    let file_name = &name["payload/".len()..];
    let listed = st
        .sums
        .as_deref()
        .and_then(|sums| parse_sums(sums).ok())
        .and_then(|lines| lines.into_iter().find(|(_, path)| path == name))
        .map(|(hex, _)| format!("sha256:{hex}"));
    let tee = sink
        .open(manifest, file_name, size, listed.as_deref())
        .map_err(ReadError::Refused)?;
    Ok((manifest, tee))
}

/// Reads the payload `name` through: checked for its runtime, hashed, copied to `tee`.
fn take_payload(
    input: &mut dyn Read,
    st: &mut State,
    name: &str,
    runtime: RuntimeKind,
    tee: Option<Box<dyn Write>>,
    opts: &ReadOptions,
) -> Result<(), ReadError> {
    let mut hashing = HashingReader::new(Tee {
        inner: input,
        copy: tee,
    });
    let summary = match inspect_payload(runtime, name, &mut hashing, &opts.limits) {
        Ok(s) => s,
        Err(PayloadError::Io(e)) => return Err(ReadError::classify(e, name)),
        Err(e) => return Err(ReadError::invalid(e.to_string())),
    };
    let (digest, len) = hashing.finish();
    let digest = digest.hex().to_string();
    st.hashes.insert(name.to_string(), digest.clone());
    st.payload = Some(PayloadInfo {
        name: name["payload/".len()..].to_string(),
        size: len,
        digest: format!("sha256:{digest}"),
        summary,
    });
    Ok(())
}

/// Copies what is read to a writer; if the writer fails (its reader gave up), the
/// copying stops and the reading goes on, so the package is still verified.
struct Tee<R> {
    inner: R,
    copy: Option<Box<dyn Write>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(w) = self.copy.as_mut() {
            if n == 0 || w.write_all(&buf[..n]).is_err() {
                // End of the payload, or its taker stopped: drop it (closes its pipe).
                self.copy = None;
            }
        }
        Ok(n)
    }
}

mod delta;
mod head;
mod verdict;
pub use head::{read_head, PackageHead};
use verdict::{finish, parse_sums, signature_verdict};

#[cfg(test)]
mod tests;
