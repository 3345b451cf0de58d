//! Limits for an untrusted layer's tar stream, checked on each header as it passes,
//! before the tar reader acts on it. The tar crate reads a PAX or GNU long-name
//! header's data whole into memory (a 9 MB layer declaring a 2 GiB PAX header took
//! 1 GB of RSS) and expands a GNU sparse entry into real zeros (a 2 KB tar made a
//! 300 MiB file), and nothing bounded a layer's expanded size (issue 21, finding 4).
//!
//! The guard follows the archive as the tar crate does: a header every 512-byte
//! block after the previous entry's data, a PAX `size` record overriding the next
//! entry's size, the archive ending at the first all-zero block. What it refuses:
//! an extension header (PAX `x`/`g`, GNU `L`/`K`) over `max_extension_header`, a GNU
//! sparse entry (`S`), more than `max_entries` entries, and entry data adding up to
//! more than `max_expanded` bytes.

use std::io::{self, Read};

const BLOCK: u64 = 512;

#[derive(Debug, Clone, Copy)]
pub struct LayerLimits {
    pub max_extension_header: u64,
    pub max_entries: u64,
    /// Bytes of entry data the layer may hold in all.
    pub max_expanded: u64,
    /// How the user raises `max_expanded`, told with the refusal ("" when they
    /// cannot).
    pub raise_with: &'static str,
}

impl LayerLimits {
    /// Extension headers (PAX, GNU long names): xattrs and names, never megabytes.
    pub const MAX_EXTENSION_HEADER: u64 = 1 << 20;
    /// Entries one layer may have.
    pub const MAX_ENTRIES: u64 = 5_000_000;

    /// Those limits, and `max_expanded` bytes of entry data.
    pub const fn expanding_to(max_expanded: u64) -> LayerLimits {
        LayerLimits {
            max_extension_header: Self::MAX_EXTENSION_HEADER,
            max_entries: Self::MAX_ENTRIES,
            max_expanded,
            raise_with: "",
        }
    }
}

/// A limit the layer broke (told apart from a tar stream that is broken).
#[derive(Debug)]
pub struct Refusal(pub String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

impl Refusal {
    /// The refusal inside an I/O error, if that is what it is.
    pub fn of(e: &io::Error) -> Option<&Refusal> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Refusal>())
    }
}

pub struct TarGuard<R> {
    inner: R,
    limits: LayerLimits,
    pos: u64,
    next_header: u64,
    /// A header block read ahead, served before anything else.
    block: Vec<u8>,
    served: usize,
    /// A PAX local header's data, collected while it passes (its `size` record).
    pax: Option<(Vec<u8>, u64)>,
    size_override: Option<u64>,
    entries: u64,
    expanded: u64,
    ended: bool,
}

impl<R: Read> TarGuard<R> {
    pub fn new(inner: R, limits: LayerLimits) -> Self {
        TarGuard {
            inner,
            limits,
            pos: 0,
            next_header: 0,
            block: Vec::new(),
            served: 0,
            pax: None,
            size_override: None,
            entries: 0,
            expanded: 0,
            ended: false,
        }
    }

    fn refuse(&self, header: &[u8], why: String) -> io::Error {
        let name_end = header[..100].iter().position(|b| *b == 0).unwrap_or(100);
        let name = String::from_utf8_lossy(&header[..name_end]);
        io::Error::new(
            io::ErrorKind::InvalidData,
            Refusal(format!("entry {} ({name:?}): {why}", self.entries + 1)),
        )
    }

    /// Checks a header block and works out where the next one starts.
    fn header(&mut self, header: &[u8]) -> io::Result<()> {
        let parsed = tar::Header::from_byte_slice(header);
        let size = parsed.entry_size()?;
        let kind = header[156];
        let extension = match kind {
            b'x' | b'g' => Some("a PAX"),
            b'L' | b'K' => Some("a GNU long-name"),
            _ => None,
        };
        let size = if let Some(what) = extension {
            if size > self.limits.max_extension_header {
                return Err(self.refuse(
                    header,
                    format!(
                        "{what} header of {size} bytes, more than the limit of {}",
                        self.limits.max_extension_header
                    ),
                ));
            }
            if kind == b'x' {
                self.pax = Some((Vec::with_capacity(size as usize), size));
            }
            size
        } else {
            if kind == b'S' {
                return Err(self.refuse(
                    header,
                    "a GNU sparse entry (refused: its holes would be written out whole)".into(),
                ));
            }
            let size = self.size_override.take().unwrap_or(size);
            if self.entries + 1 > self.limits.max_entries {
                return Err(self.refuse(
                    header,
                    format!("more than the limit of {} entries", self.limits.max_entries),
                ));
            }
            self.expanded = self.expanded.saturating_add(size);
            if self.expanded > self.limits.max_expanded {
                return Err(self.refuse(
                    header,
                    format!(
                        "the layer's entries expand to more than the limit of {} bytes{}",
                        self.limits.max_expanded, self.limits.raise_with
                    ),
                ));
            }
            self.entries += 1;
            size
        };
        let padded = size
            .checked_add(BLOCK - 1)
            .ok_or_else(|| self.refuse(header, "size overflow".into()))?
            & !(BLOCK - 1);
        self.next_header = self.pos + BLOCK + padded;
        Ok(())
    }

    /// The PAX records collected: a `size` record applies to the next entry.
    fn pax_done(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        while !rest.is_empty() {
            let bad = || io::Error::new(io::ErrorKind::InvalidData, "a malformed PAX record");
            let space = rest.iter().position(|b| *b == b' ').ok_or_else(bad)?;
            let len: usize = std::str::from_utf8(&rest[..space])
                .ok()
                .and_then(|t| t.parse().ok())
                .filter(|l| *l > space && *l <= rest.len())
                .ok_or_else(bad)?;
            let record = &rest[space + 1..len];
            let record = record.strip_suffix(b"\n").unwrap_or(record);
            if let Some(value) = record.strip_prefix(b"size=") {
                let size = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(bad)?;
                self.size_override = Some(size);
            }
            rest = &rest[len..];
        }
        Ok(())
    }
}

impl<R: Read> Read for TarGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.served < self.block.len() {
            let n = (self.block.len() - self.served).min(buf.len());
            buf[..n].copy_from_slice(&self.block[self.served..self.served + n]);
            self.served += n;
            return Ok(n);
        }
        if self.ended || buf.is_empty() {
            return self.inner.read(buf);
        }
        if self.pos == self.next_header {
            let mut block = vec![0u8; BLOCK as usize];
            let mut got = 0;
            while got < block.len() {
                match self.inner.read(&mut block[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if got == 0 {
                return Ok(0); // the stream ends where a header would be
            }
            block.truncate(got);
            if got < BLOCK as usize || block.iter().all(|b| *b == 0) {
                // A short header (the tar reader reports it), or the end of the
                // archive, where the tar reader stops too: what follows is passed on.
                self.ended = true;
            } else {
                self.header(&block)?;
            }
            self.pos += got as u64;
            self.block = block;
            self.served = 0;
            return self.read(buf);
        }
        let want = (self.next_header - self.pos).min(buf.len() as u64) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        self.pos += n as u64;
        if let Some((data, size)) = self.pax.as_mut() {
            let take = (*size - data.len() as u64).min(n as u64) as usize;
            data.extend_from_slice(&buf[..take]);
            if data.len() as u64 == *size {
                let (data, _) = self.pax.take().expect("collecting");
                self.pax_done(&data)?;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: LayerLimits = LayerLimits {
        max_extension_header: 1 << 20,
        max_entries: 100,
        max_expanded: 10_000,
        raise_with: "",
    };

    fn read_all(tar: &[u8], limits: LayerLimits) -> io::Result<Vec<String>> {
        let mut archive = tar::Archive::new(TarGuard::new(tar, limits));
        let mut names = Vec::new();
        for entry in archive.entries()? {
            let mut entry = entry?;
            names.push(entry.path()?.display().to_string());
            io::copy(&mut entry, &mut io::sink())?;
        }
        Ok(names)
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        h
    }

    fn tar_of(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = header(*kind, data.len() as u64);
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn an_ordinary_layer_reads_as_without_the_guard() {
        let mut b = tar::Builder::new(Vec::new());
        let long = "d/".repeat(80) + "file";
        let mut h = header(tar::EntryType::Regular, 3);
        b.append_data(&mut h, &long, &b"abc"[..]).unwrap(); // a GNU long name
        let mut pax = tar::Builder::new(Vec::new());
        pax.append_pax_extensions([("path", &b"pax/name"[..])])
            .unwrap();
        let mut h = header(tar::EntryType::Regular, 2);
        pax.append_data(&mut h, "short", &b"xy"[..]).unwrap();
        let mut bytes = b.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1024); // the end blocks
        bytes.extend(pax.into_inner().unwrap());
        bytes.extend_from_slice(b"trailing bytes after the end");
        assert_eq!(
            read_all(&bytes, LIMITS).unwrap(),
            vec![long, "pax/name".into()]
        );
    }

    /// Found by the fuzz target: a stream that ended where a header would start
    /// recursed for ever, and a short header made the next read underflow.
    #[test]
    fn a_stream_that_ends_at_or_inside_a_header_ends_the_archive() {
        let mut bytes = tar_of(&[("a", tar::EntryType::Regular, b"abc")]);
        bytes.truncate(bytes.len() - 1024); // no end blocks
        assert_eq!(read_all(&bytes, LIMITS).unwrap(), vec!["a"]);
        assert!(read_all(&[], LIMITS).unwrap().is_empty());
        bytes.extend_from_slice(&[b'x'; 100]); // half a header
        assert!(read_all(&bytes, LIMITS).is_err());
        let mut out = Vec::new();
        TarGuard::new(&bytes[..], LIMITS)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, bytes, "the guard passes every byte on");
    }

    #[test]
    fn extension_headers_over_the_limit_are_refused_before_they_are_read() {
        // A PAX header declaring 2 GiB, with 512 bytes behind it.
        let mut h = header(tar::EntryType::XHeader, 2 << 30);
        h.as_mut_bytes()[..9].copy_from_slice(b"PaxHeader");
        h.set_cksum();
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(&[b'x'; 512]);
        let e = read_all(&bytes, LIMITS).unwrap_err().to_string();
        assert!(
            e.contains("a PAX header of 2147483648 bytes, more than the limit of 1048576"),
            "{e}"
        );
        let mut h = header(tar::EntryType::GNULongName, 5 << 20);
        h.set_cksum();
        let e = read_all(h.as_bytes(), LIMITS).unwrap_err().to_string();
        assert!(e.contains("a GNU long-name header of 5242880 bytes"), "{e}");
    }

    #[test]
    fn sparse_entries_too_many_entries_and_too_many_bytes_are_refused() {
        let mut h = header(tar::EntryType::GNUSparse, 0);
        h.set_cksum();
        let e = read_all(h.as_bytes(), LIMITS).unwrap_err().to_string();
        assert!(e.contains("a GNU sparse entry"), "{e}");
        let many: Vec<(String, tar::EntryType, &[u8])> = (0..101)
            .map(|i| (format!("f{i}"), tar::EntryType::Regular, &b""[..]))
            .collect();
        let refs: Vec<(&str, tar::EntryType, &[u8])> =
            many.iter().map(|(n, k, d)| (n.as_str(), *k, *d)).collect();
        let e = read_all(&tar_of(&refs), LIMITS).unwrap_err().to_string();
        assert!(
            e.contains("entry 101 (\"f100\"): more than the limit of 100 entries"),
            "{e}"
        );
        let big = vec![0u8; 6000];
        let bytes = tar_of(&[
            ("a", tar::EntryType::Regular, &big),
            ("b", tar::EntryType::Regular, &big),
        ]);
        let e = read_all(&bytes, LIMITS).unwrap_err().to_string();
        assert!(
            e.contains("entry 2 (\"b\"): the layer's entries expand to more than"),
            "{e}"
        );
    }

    #[test]
    fn a_pax_size_record_moves_the_next_header_as_the_tar_reader_does() {
        // The header says 0 bytes, the PAX record 600: the next header is after 600.
        let mut b = tar::Builder::new(Vec::new());
        b.append_pax_extensions([("size", &b"600"[..])]).unwrap();
        let mut h = header(tar::EntryType::Regular, 0);
        h.set_path("sized").unwrap();
        h.set_cksum();
        let mut bytes = b.into_inner().unwrap();
        bytes.truncate(bytes.len() - 1024);
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(&[7u8; 1024]); // 600 bytes of data, padded
        let mut next = header(tar::EntryType::Regular, 1);
        next.set_path("after").unwrap();
        next.set_cksum();
        bytes.extend_from_slice(next.as_bytes());
        bytes.extend_from_slice(&[1u8; 512]);
        bytes.extend_from_slice(&[0u8; 1024]);
        assert_eq!(read_all(&bytes, LIMITS).unwrap(), vec!["sized", "after"]);
        let small = LayerLimits {
            max_expanded: 500,
            ..LIMITS
        };
        assert!(read_all(&bytes, small).is_err(), "the 600 bytes count");
    }
}
