//! A full package read for a delta: verified, its payload's tar spooled to a
//! temporary file (a bundle's decompressed), and what of it a base can give back:
//! an image's uncompressed layers (an engine's export gives them back byte for
//! byte), a bundle's files but its config (berthd rewrites the installed one).

use super::raw::RawTar;
use crate::reader::{read_package_into, PayloadSink, ReadOptions, SinkError};
use crate::Manifest;
use sha2::{Digest, Sha256};
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

pub(super) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> DeltaPackageError {
    let path = path.to_path_buf();
    move |source| DeltaPackageError::Io { path, source }
}

pub(super) struct Spooled {
    pub manifest: Manifest,
    /// The payload's tar, uncompressed.
    pub tar: File,
    /// The payload's name in the package (`image.tar`, `NAME.tar.gz`).
    pub payload_name: String,
    /// What a delta rebuilds: `image.tar`, or `NAME.tar` for `NAME.tar.gz`.
    pub target: String,
    kind: Kind,
}

enum Kind {
    Image { layers: Vec<String> },
    Bundle { dir: String, config: String },
}

impl Spooled {
    pub fn read(path: &Path, limits: &crate::Limits) -> Result<Spooled, DeltaPackageError> {
        let invalid = |why: String| DeltaPackageError::Invalid {
            path: path.to_path_buf(),
            why,
        };
        let file = File::open(path).map_err(io_err(path))?;
        let compressed_len = file.metadata().ok().map(|m| m.len());
        let mut sink = SpoolSink { file: None };
        let opts = ReadOptions {
            limits: limits.clone(),
            compressed_len,
            ..Default::default()
        };
        let report = read_package_into(BufReader::new(file), &opts, Some(&mut sink))
            .map_err(|e| invalid(e.to_string()))?;
        let manifest = Manifest::parse(
            &serde_json::to_vec(&report.manifest).unwrap_or_default(),
            crate::Stage::Packaged,
        )
        .map_err(|e| invalid(e.to_string()))?;
        let mut spooled = sink
            .file
            .take()
            .ok_or_else(|| invalid("no payload".into()))?;
        spooled.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
        let summary = &report.payload.summary;
        let payload_name = report.payload.name.clone();
        let (tar, target, kind) = if manifest.runtime.runs_an_image() {
            let layers = summary.layers.iter().map(|l| l.name.clone()).collect();
            (spooled, payload_name.clone(), Kind::Image { layers })
        } else {
            let mut tar = tempfile::tempfile().map_err(io_err(path))?;
            let mut gz = berth_compress::ParallelGunzip::new(BufReader::new(spooled));
            io::copy(&mut gz, &mut tar).map_err(io_err(path))?;
            let dir = summary.bundle_dir.clone().unwrap_or_default();
            let config = if manifest.runtime == crate::RuntimeKind::Lxc {
                "config"
            } else {
                "config.json"
            };
            let target = payload_name.trim_end_matches(".gz").to_string();
            let config = join(&dir, config);
            (tar, target, Kind::Bundle { dir, config })
        };
        Ok(Spooled {
            manifest,
            tar,
            payload_name,
            target,
            kind,
        })
    }

    /// Whether a base can give back the file `name` of the payload's tar, and the
    /// path it has there (a bundle's, relative to its directory).
    pub fn candidate(&self, name: &str) -> Option<Option<String>> {
        let name = name.trim_start_matches("./");
        match &self.kind {
            Kind::Image { layers } => layers.iter().any(|l| l == name).then_some(None),
            Kind::Bundle { dir, config } => {
                if name == config {
                    return None;
                }
                let rel = if dir.is_empty() {
                    name
                } else {
                    name.strip_prefix(dir.as_str())?.strip_prefix('/')?
                };
                Some(Some(rel.to_string()))
            }
        }
    }

    /// `sha256:<hex>` → every file a base can give back, of at least `min` bytes
    /// (an image's compressed layers left out: no engine gives those).
    pub fn reusable(&self, min: u64) -> io::Result<HashMap<String, Reusable>> {
        let mut file = self.tar.try_clone()?;
        file.seek(SeekFrom::Start(0))?;
        let mut out = HashMap::new();
        let mut reader = BufReader::new(file);
        let mut walk = RawTar::new(&mut reader);
        let mut end = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut at = 0u64;
        while let Some(entry) = walk.next_entry(&mut end)? {
            at += entry.header.len() as u64;
            let offset = at;
            let mut content = walk.content(entry.size);
            let mut hasher = Sha256::new();
            let mut head = Vec::new();
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
            at += entry.size + walk.padding(&entry)?.len() as u64;
            let compressed = matches!(self.kind, Kind::Image { .. })
                && berth_format::compression::sniff(&head).is_some();
            if !entry.is_file() || entry.size < min || compressed {
                continue;
            }
            if let Some(hint) = self.candidate(&entry.name) {
                let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
                let size = entry.size;
                out.insert(digest, Reusable { hint, offset, size });
            }
        }
        Ok(out)
    }
}

/// A file of the payload's tar a base can give back.
pub(super) struct Reusable {
    /// Where the base has it (a bundle's path, relative to its directory).
    pub hint: Option<String>,
    /// Where its content starts in the tar.
    pub offset: u64,
    pub size: u64,
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
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
