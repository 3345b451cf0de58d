//! A byte-exact walk through a tar stream: every byte is either part of an entry's
//! header (with any pax or GNU extension entries before it, and the padding after
//! its content) or its content. Concatenated in order, the pieces give back the
//! stream unchanged, which is what lets a delta rebuild a payload bit for bit.

use std::io::{self, Read};

const BLOCK: usize = 512;

/// One entry as the walk met it.
#[derive(Debug, Clone)]
pub struct RawEntry {
    /// Its header block, preceded by any extension entries (pax `x`/`g`, GNU `L`/`K`)
    /// that apply to it, content included.
    pub header: Vec<u8>,
    /// Its path (from a pax `path`, a GNU long name, or the ustar name and prefix).
    pub name: String,
    /// Its type flag.
    pub kind: u8,
    /// The bytes of content after the header (the padding to 512 follows them).
    pub size: u64,
}

impl RawEntry {
    /// A regular file, whose content a delta may take from elsewhere.
    pub fn is_file(&self) -> bool {
        matches!(self.kind, b'0' | 0 | b'7')
    }

    /// Zero bytes that pad the content to a whole block.
    pub fn padding(&self) -> usize {
        ((BLOCK as u64 - self.size % BLOCK as u64) % BLOCK as u64) as usize
    }
}

/// Walks a tar stream: `next_entry`, then read exactly `size` bytes of content
/// through `content`, then `padding`; at the end, `rest` holds the end-of-archive
/// marker and whatever follows it.
pub struct RawTar<R> {
    inner: R,
}

impl<R: Read> RawTar<R> {
    pub fn new(inner: R) -> Self {
        RawTar { inner }
    }

    /// The next entry, or `None` at the end-of-archive marker (whose first block is
    /// then in `end`).
    pub fn next_entry(&mut self, end: &mut Vec<u8>) -> io::Result<Option<RawEntry>> {
        let mut header = Vec::new();
        let mut long_name: Option<String> = None;
        let mut pax_size: Option<u64> = None;
        loop {
            let mut block = [0u8; BLOCK];
            if !read_block(&mut self.inner, &mut block)? {
                if header.is_empty() {
                    return Ok(None);
                }
                return Err(bad("the archive ends inside an entry's headers"));
            }
            if block.iter().all(|&b| b == 0) {
                if !header.is_empty() {
                    return Err(bad("an extension header is followed by the end marker"));
                }
                end.extend_from_slice(&block);
                return Ok(None);
            }
            header.extend_from_slice(&block);
            let kind = block[156];
            let size = parse_size(&block[124..136])?;
            match kind {
                b'x' | b'g' | b'L' | b'K' => {
                    if size > 1 << 20 {
                        return Err(bad("an extension header over 1 MiB"));
                    }
                    let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
                    let start = header.len();
                    header.resize(start + padded as usize, 0);
                    self.inner.read_exact(&mut header[start..])?;
                    let body = &header[start..start + size as usize];
                    match kind {
                        b'L' => long_name = Some(c_string(body)),
                        b'x' => {
                            for (key, value) in pax_records(body) {
                                match key.as_str() {
                                    "path" => long_name = Some(value),
                                    "size" => {
                                        pax_size =
                                            Some(value.parse().map_err(|_| {
                                                bad("a pax size that is not a number")
                                            })?)
                                    }
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
                _ => {
                    let name = long_name.unwrap_or_else(|| ustar_name(&block));
                    return Ok(Some(RawEntry {
                        header,
                        name,
                        kind,
                        size: pax_size.unwrap_or(size),
                    }));
                }
            }
        }
    }

    /// The entry's content: exactly `size` bytes must be read from it.
    pub fn content(&mut self, size: u64) -> io::Take<&mut R> {
        (&mut self.inner).take(size)
    }

    /// Reads the padding after an entry's content.
    pub fn padding(&mut self, entry: &RawEntry) -> io::Result<Vec<u8>> {
        let mut pad = vec![0u8; entry.padding()];
        self.inner.read_exact(&mut pad)?;
        Ok(pad)
    }

    /// Everything after the end marker's first block, to the end of the stream.
    pub fn rest(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.inner.read_to_end(out).map(drop)
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("tar: {why}"))
}

/// Reads a whole block; `false` at a clean end of stream.
fn read_block(r: &mut impl Read, block: &mut [u8; BLOCK]) -> io::Result<bool> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut block[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(bad("the archive ends inside a header block")),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

fn parse_size(field: &[u8]) -> io::Result<u64> {
    if field[0] & 0x80 != 0 {
        // GNU base-256: the rest of the field, big-endian.
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v
                .checked_mul(256)
                .and_then(|v| v.checked_add(u64::from(b)))
                .ok_or_else(|| bad("a size that does not fit 64 bits"))?;
        }
        return Ok(v);
    }
    let text: String = field
        .iter()
        .map(|&b| b as char)
        .filter(|c| !matches!(c, ' ' | '\0'))
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(&text, 8).map_err(|_| bad("a size field that is not octal"))
}

fn c_string(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn ustar_name(block: &[u8; BLOCK]) -> String {
    let name = c_string(&block[..100]);
    let prefix = if &block[257..262] == b"ustar" {
        c_string(&block[345..500])
    } else {
        String::new()
    };
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// `"<len> <key>=<value>\n"` records.
fn pax_records(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    text.lines()
        .filter_map(|line| {
            let (_, kv) = line.split_once(' ')?;
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let long = format!("{}/file", "d".repeat(150));
        for (name, data) in [("a.txt", &b"hello"[..]), (long.as_str(), &[7u8; 700][..])] {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn the_walk_gives_back_every_byte_and_the_names() {
        let bytes = sample();
        let mut walk = RawTar::new(&bytes[..]);
        let mut out = Vec::new();
        let mut names = Vec::new();
        let mut end = Vec::new();
        while let Some(e) = walk.next_entry(&mut end).unwrap() {
            out.extend_from_slice(&e.header);
            walk.content(e.size).read_to_end(&mut out).unwrap();
            out.extend(walk.padding(&e).unwrap());
            names.push((e.name.clone(), e.size));
        }
        out.extend_from_slice(&end);
        walk.rest(&mut out).unwrap();
        assert_eq!(out, bytes);
        assert_eq!(names[0], ("a.txt".to_string(), 5));
        assert_eq!(names[1].1, 700);
        assert!(names[1].0.ends_with("/file") && names[1].0.len() > 150);
    }
}
