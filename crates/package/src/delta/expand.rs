//! Rebuilding a payload from its delta: a reader that yields the payload's bytes,
//! taking each piece from the delta's data or from the base, and checking each
//! reused piece's SHA-256 as it ends (the whole payload is checked by the caller
//! against the package's signed checksums).

use super::{base_error, missing, Base, DeltaIndex, Piece};
use sha2::{Digest, Sha256};
use std::io::{self, Read};

pub struct Expand<'b, D> {
    index: DeltaIndex,
    next: usize,
    data: D,
    base: &'b mut dyn Base,
    current: Current,
}

enum Current {
    None,
    Data(u64),
    Reuse {
        reader: Box<dyn Read>,
        left: u64,
        hasher: Box<Sha256>,
        digest: String,
    },
}

impl<'b, D: Read> Expand<'b, D> {
    /// `index` must have passed `DeltaIndex::check` against `data`'s size.
    pub fn new(index: DeltaIndex, data: D, base: &'b mut dyn Base) -> Self {
        Expand {
            index,
            next: 0,
            data,
            base,
            current: Current::None,
        }
    }

    fn advance(&mut self) -> io::Result<bool> {
        let Some(piece) = self.index.pieces.get(self.next) else {
            return Ok(false);
        };
        self.next += 1;
        self.current = match piece {
            Piece::Data { data } => Current::Data(*data),
            Piece::Reuse { reuse, size, path } => {
                let reader = self
                    .base
                    .open(reuse, *size, path.as_deref())
                    .map_err(|e| match e.kind() {
                        io::ErrorKind::NotFound => missing(&self.index.base, reuse, *size),
                        _ => e,
                    })?;
                Current::Reuse {
                    reader,
                    left: *size,
                    hasher: Box::new(Sha256::new()),
                    digest: reuse.clone(),
                }
            }
        };
        Ok(true)
    }
}

impl<D: Read> Read for Expand<'_, D> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.current {
                Current::None => {
                    if !self.advance()? {
                        return Ok(0);
                    }
                }
                Current::Data(0) => self.current = Current::None,
                Current::Data(left) => {
                    let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = self.data.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the delta's data ends early",
                        ));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
                Current::Reuse {
                    reader,
                    left,
                    hasher,
                    digest,
                } => {
                    if *left == 0 {
                        let got = format!("sha256:{}", hex::encode(hasher.clone().finalize()));
                        if got != *digest {
                            return Err(base_error(
                                io::ErrorKind::InvalidData,
                                format!(
                                    "the installed {} holds {digest} changed (its SHA-256 is now {got}): install the full package",
                                    self.index.base.name()
                                ),
                            ));
                        }
                        self.current = Current::None;
                        continue;
                    }
                    let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = reader.read(&mut buf[..want])?;
                    if n == 0 {
                        let d = digest.clone();
                        return Err(base_error(
                            io::ErrorKind::UnexpectedEof,
                            format!(
                                "the installed {}: {d} is shorter than the delta says",
                                self.index.base.name()
                            ),
                        ));
                    }
                    hasher.update(&buf[..n]);
                    *left -= n as u64;
                    return Ok(n);
                }
            }
        }
    }
}
