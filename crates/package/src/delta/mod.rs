//! Delta payloads: a payload written as the bytes a device lacks plus references, by
//! SHA-256, to content it already holds (an image layer its engine has, a file of
//! the bundle it runs). The device rebuilds the payload byte for byte and the
//! package's signed checksums then check the result as if the whole payload had
//! come, so a delta is exactly as trustworthy as the full package it stands for.
//!
//! A delta payload (`payload/<name>.delta`) is a tar of two entries:
//! `delta.json` (a [`DeltaIndex`]) and `data`, the literal bytes in order.

mod archive_base;
mod expand;
mod package;
pub mod raw;
mod spool;
mod write;

pub use archive_base::ArchiveBase;
pub use expand::Expand;
pub use package::{write_delta_package, write_parts_head, DeltaReport, PartsHead};
pub use spool::DeltaPackageError;
pub use write::{write_delta, WrittenDelta};

use std::io::{self, Read};

/// The `format` of a delta index.
pub const FORMAT: &str = "berth-delta-v1";
/// The suffix of a delta payload's name.
pub const SUFFIX: &str = ".delta";
/// The largest delta index read.
pub const MAX_INDEX_BYTES: u64 = 16 << 20;

/// What a delta payload rebuilds, from what.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeltaIndex {
    pub format: String,
    /// The version the device must hold.
    pub base: DeltaBase,
    /// The payload it rebuilds: its name in the full package and its size.
    pub target: Target,
    /// The payload's bytes, in order.
    pub pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeltaBase {
    pub id: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Target {
    pub name: String,
    pub size: u64,
}

/// A run of the payload's bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Piece {
    /// The next `data` bytes of the delta's `data` entry.
    Data { data: u64 },
    /// Content the base holds: `sha256:<hex>` of `size` bytes; `path`, where the
    /// base's own payload held it (a hint for bundles, whose files have names).
    Reuse {
        reuse: String,
        size: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
}

impl DeltaIndex {
    /// Checks the index against itself and the data it comes with: the pieces add
    /// up to the target, the data pieces to the data entry's size.
    pub fn check(&self, data_size: u64) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "delta.json: format {:?}, this reader knows {FORMAT:?}",
                self.format
            ));
        }
        let (mut total, mut data) = (0u64, 0u64);
        for p in &self.pieces {
            let n = match p {
                Piece::Data { data: n } => {
                    data = data.saturating_add(*n);
                    *n
                }
                Piece::Reuse { reuse, size, .. } => {
                    if !is_sha256(reuse) {
                        return Err(format!(
                            "delta.json: piece {reuse:?} is not sha256:<64 hex>"
                        ));
                    }
                    *size
                }
            };
            total = total.saturating_add(n);
        }
        if total != self.target.size {
            return Err(format!(
                "delta.json: the pieces make {total} bytes, the target {} is {}",
                self.target.name, self.target.size
            ));
        }
        if data != data_size {
            return Err(format!(
                "delta.json: the data pieces make {data} bytes, the data entry holds {data_size}"
            ));
        }
        Ok(())
    }

    /// The bytes taken from the base.
    pub fn reused_bytes(&self) -> u64 {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Reuse { size, .. } => *size,
                Piece::Data { .. } => 0,
            })
            .sum()
    }
}

fn is_sha256(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// What a device already holds, found by content address.
pub trait Base {
    /// `size` bytes whose SHA-256 is `digest` (`sha256:<hex>`); `path` is where the
    /// base's payload held them. The caller checks the digest of what it reads.
    fn open(&mut self, digest: &str, size: u64, path: Option<&str>) -> io::Result<Box<dyn Read>>;

    /// Whether what `open` gives is found by its digest (an archive indexed by
    /// content), so it cannot be other content; else (files found by their path)
    /// it is checked as it is read.
    fn by_content(&self) -> bool {
        false
    }
}

/// What the device holds does not give back the payload: content missing, changed
/// or shorter than the delta says.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BaseError(pub String);

/// Content the base would fetch could not be had now (a registry that failed): not
/// the package's fault, so an install may be tried again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

pub(crate) fn base_error(kind: io::ErrorKind, why: String) -> io::Error {
    io::Error::new(kind, BaseError(why))
}

impl DeltaBase {
    /// The base in messages: `app 1.0`, or `app` (a parts head: any version).
    pub fn name(&self) -> String {
        if self.version.is_empty() {
            self.id.clone()
        } else {
            format!("{} {}", self.id, self.version)
        }
    }
}

/// The error for content the base lacks.
pub fn missing(base: &DeltaBase, digest: &str, size: u64) -> io::Error {
    base_error(
        io::ErrorKind::NotFound,
        format!(
            "{} as installed holds no {digest} ({size} bytes): install the full package",
            base.name()
        ),
    )
}

#[cfg(test)]
mod tests;
