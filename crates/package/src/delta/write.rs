//! Writing a delta payload from a full one: one pass over the full payload's tar;
//! each file whose content the base holds becomes a reference, everything else
//! goes to the data as it is.

use super::raw::{RawEntry, RawTar};
use super::{DeltaBase, DeltaIndex, Piece, Target, FORMAT};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Files smaller than this are always sent: a reference costs about as much.
pub(crate) const MIN_REUSE: u64 = 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenDelta {
    /// The payload the delta rebuilds.
    pub target_size: u64,
    /// Bytes the delta carries.
    pub data_bytes: u64,
    /// Bytes the device takes from what it holds.
    pub reused_bytes: u64,
    /// The delta payload's own size.
    pub delta_size: u64,
}

/// Writes the delta of `payload` (a tar stream named `target` in its package) to
/// `out`. `reuse(entry, digest)` says whether the base holds the file's content:
/// `Some(path)` with where it held it (`None` inside when no name is useful).
pub fn write_delta(
    payload: impl Read,
    target: &str,
    base: DeltaBase,
    reuse: &dyn Fn(&RawEntry, &str) -> Option<Option<String>>,
    out: impl Write,
) -> io::Result<WrittenDelta> {
    let mut data = tempfile::tempfile()?;
    let mut pieces = Vec::new();
    let mut pending = 0u64;
    let mut total = 0u64;
    let mut walk = RawTar::new(payload);
    let mut end = Vec::new();
    while let Some(entry) = walk.next_entry(&mut end)? {
        data.write_all(&entry.header)?;
        pending += entry.header.len() as u64;
        total += entry.header.len() as u64;
        let start = data.stream_position()?;
        let mut hasher = Sha256::new();
        let copied = copy_hashing(&mut walk.content(entry.size), &mut data, &mut hasher)?;
        if copied != entry.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{}: the payload ends inside it", entry.name),
            ));
        }
        total += copied;
        let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
        let hint = (entry.is_file() && entry.size >= MIN_REUSE)
            .then(|| reuse(&entry, &digest))
            .flatten();
        match hint {
            Some(path) => {
                // Taken back out of the data: the base has it.
                data.set_len(start)?;
                data.seek(SeekFrom::Start(start))?;
                if pending > 0 {
                    pieces.push(Piece::Data { data: pending });
                }
                pending = 0;
                pieces.push(Piece::Reuse {
                    reuse: digest,
                    size: entry.size,
                    path,
                });
            }
            None => pending += copied,
        }
        let pad = walk.padding(&entry)?;
        data.write_all(&pad)?;
        pending += pad.len() as u64;
        total += pad.len() as u64;
    }
    walk.rest(&mut end)?;
    data.write_all(&end)?;
    pending += end.len() as u64;
    total += end.len() as u64;
    if pending > 0 {
        pieces.push(Piece::Data { data: pending });
    }
    let index = DeltaIndex {
        format: FORMAT.into(),
        base,
        target: Target {
            name: target.into(),
            size: total,
        },
        pieces,
    };
    let data_bytes = data.stream_position()?;
    data.seek(SeekFrom::Start(0))?;
    let mut counted = CountingWriter { inner: out, n: 0 };
    let mut tar = tar::Builder::new(&mut counted);
    let json = serde_json::to_vec_pretty(&index).map_err(io::Error::other)?;
    tar.append_data(&mut header(json.len() as u64), "delta.json", &json[..])?;
    tar.append_data(&mut header(data_bytes), "data", &mut data)?;
    tar.into_inner()?;
    Ok(WrittenDelta {
        target_size: total,
        data_bytes,
        reused_bytes: index.reused_bytes(),
        delta_size: counted.n,
    })
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn copy_hashing(r: &mut impl Read, w: &mut impl Write, hasher: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let got = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..got]);
        w.write_all(&buf[..got])?;
        n += got as u64;
    }
}

struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
