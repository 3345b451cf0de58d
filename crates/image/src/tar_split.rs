//! tar-split metadata (vbatts/tar-split, what podman's containers/storage and Docker
//! keep beside an extracted layer): the layer's tar stream with each file's content
//! replaced by its name, size and CRC-64 (ISO), so the engine can give the exact
//! original stream back (`podman save`, `docker save`, a push) from the files.
//!
//! Fed the uncompressed layer as it streams (`Write`), it produces the gzip-compressed
//! JSON lines both engines read: `{"type":2,"payload":<raw bytes>,"position":N}` for
//! the bytes between contents (headers, extended headers, padding, the end blocks)
//! and `{"type":1,"name":…,"size":N,"payload":<crc64>,"position":N}` for an entry.

use base64::Engine as _;
use std::io::{self, Write};

const BLOCK: usize = 512;

/// CRC-64 with the ISO polynomial, reflected (Go's `crc64.MakeTable(crc64.ISO)`).
struct Crc64 {
    table: [u64; 256],
}

impl Crc64 {
    fn new() -> Crc64 {
        let mut table = [0u64; 256];
        for (i, slot) in table.iter_mut().enumerate() {
            let mut crc = i as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xD800_0000_0000_0000
                } else {
                    crc >> 1
                };
            }
            *slot = crc;
        }
        Crc64 { table }
    }

    fn update(&self, crc: u64, bytes: &[u8]) -> u64 {
        let mut crc = !crc;
        for &b in bytes {
            crc = self.table[((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        !crc
    }
}

enum State {
    /// Collecting a 512-byte header.
    Header,
    /// The content of an extended header (PAX `x`/`g`, GNU `L`/`K`): raw bytes.
    Extended { left: u64, kind: u8, data: Vec<u8> },
    /// An entry's content: checksummed, not kept.
    Content { left: u64 },
    /// Padding to the next block: raw bytes.
    Padding { left: u64 },
    /// After the end blocks: everything is raw.
    Trailer,
}

pub struct TarSplit {
    out: flate2::write::GzEncoder<Vec<u8>>,
    crc: Crc64,
    state: State,
    /// Raw bytes of the segment being collected.
    raw: Vec<u8>,
    header: Vec<u8>,
    position: u64,
    /// The current entry: name (after extended headers), size, CRC so far.
    long_name: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    entry: Option<(Vec<u8>, u64, u64)>,
}

impl Default for TarSplit {
    fn default() -> Self {
        TarSplit::new()
    }
}

impl TarSplit {
    pub fn new() -> TarSplit {
        TarSplit {
            out: flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()),
            crc: Crc64::new(),
            state: State::Header,
            raw: Vec::new(),
            header: Vec::with_capacity(BLOCK),
            position: 0,
            long_name: None,
            pax_path: None,
            entry: None,
        }
    }

    fn emit(&mut self, line: serde_json::Value) -> io::Result<()> {
        let mut bytes = serde_json::to_vec(&line).map_err(io::Error::other)?;
        bytes.push(b'\n');
        self.position += 1;
        self.out.write_all(&bytes)
    }

    fn segment(&mut self) -> io::Result<()> {
        let raw = std::mem::take(&mut self.raw);
        let payload = base64::engine::general_purpose::STANDARD.encode(raw);
        let position = self.position;
        self.emit(serde_json::json!({"type": 2, "payload": payload, "position": position}))
    }

    fn file_entry(&mut self) -> io::Result<()> {
        let Some((name, size, crc)) = self.entry.take() else {
            return Ok(());
        };
        let b64 = &base64::engine::general_purpose::STANDARD;
        let payload = (size > 0).then(|| b64.encode(crc.to_be_bytes()));
        let mut line = serde_json::json!({"type": 1});
        match String::from_utf8(name) {
            Ok(n) => line["name"] = n.into(),
            Err(e) => line["name_raw"] = b64.encode(e.into_bytes()).into(),
        }
        if size > 0 {
            line["size"] = size.into();
        }
        line["payload"] = payload.map_or(serde_json::Value::Null, Into::into);
        line["position"] = self.position.into();
        self.emit(line)
    }

    /// A complete header block in `self.header`.
    fn header_done(&mut self) -> io::Result<()> {
        let h = std::mem::take(&mut self.header);
        self.raw.extend_from_slice(&h);
        if h.iter().all(|&b| b == 0) {
            // The end blocks and whatever follows stay raw.
            self.state = State::Trailer;
            return Ok(());
        }
        let size = parse_size(&h[124..136]).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "a tar header with a bad size")
        })?;
        let kind = h[156];
        if matches!(kind, b'x' | b'g' | b'L' | b'K') {
            self.state = State::Extended {
                left: size,
                kind,
                data: Vec::new(),
            };
            return self.maybe_empty();
        }
        let name = self
            .pax_path
            .take()
            .or_else(|| self.long_name.take())
            .unwrap_or_else(|| ustar_name(&h));
        self.long_name = None;
        self.segment()?;
        // Header-only types have no content, whatever their size field says.
        let content = if matches!(kind, b'1' | b'2' | b'3' | b'4' | b'5' | b'6') {
            0
        } else {
            size
        };
        self.entry = Some((name, size, 0));
        self.state = State::Content { left: content };
        self.maybe_empty()
    }

    /// Moves on from a state with nothing left to read.
    fn maybe_empty(&mut self) -> io::Result<()> {
        loop {
            match &mut self.state {
                State::Extended {
                    left: 0,
                    kind,
                    data,
                } => {
                    let (kind, data) = (*kind, std::mem::take(data));
                    match kind {
                        b'x' => self.pax_path = pax_path(&data),
                        b'L' => {
                            let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                            self.long_name = Some(data[..end].to_vec());
                        }
                        _ => {}
                    }
                    let size = data.len() as u64;
                    self.state = State::Padding { left: pad(size) };
                }
                State::Content { left: 0 } => {
                    let size = self.entry.as_ref().map_or(0, |e| e.1);
                    self.file_entry()?;
                    self.state = State::Padding { left: pad(size) };
                }
                State::Padding { left: 0 } => self.state = State::Header,
                _ => return Ok(()),
            }
        }
    }

    /// The gzip-compressed tar-split data, once the whole layer was written.
    pub fn finish(mut self) -> io::Result<Vec<u8>> {
        if !self.raw.is_empty() || !self.header.is_empty() {
            let rest = std::mem::take(&mut self.header);
            self.raw.extend_from_slice(&rest);
            self.segment()?;
        }
        self.out.finish()
    }
}

impl Write for TarSplit {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            match &mut self.state {
                State::Header => {
                    let take = (BLOCK - self.header.len()).min(rest.len());
                    self.header.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if self.header.len() == BLOCK {
                        self.header_done()?;
                    }
                }
                State::Extended { left, data, .. } => {
                    let take = (*left).min(rest.len() as u64) as usize;
                    data.extend_from_slice(&rest[..take]);
                    self.raw.extend_from_slice(&rest[..take]);
                    *left -= take as u64;
                    rest = &rest[take..];
                    self.maybe_empty()?;
                }
                State::Content { left } => {
                    let take = (*left).min(rest.len() as u64) as usize;
                    *left -= take as u64;
                    if let Some(entry) = self.entry.as_mut() {
                        entry.2 = self.crc.update(entry.2, &rest[..take]);
                    }
                    rest = &rest[take..];
                    self.maybe_empty()?;
                }
                State::Padding { left } => {
                    let take = (*left).min(rest.len() as u64) as usize;
                    *left -= take as u64;
                    self.raw.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    self.maybe_empty()?;
                }
                State::Trailer => {
                    self.raw.extend_from_slice(rest);
                    rest = &[];
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// A numeric header field: octal text, or base-256 (high bit set).
fn parse_size(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(n);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|&b| b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

/// The name of a ustar header: `prefix/name` when the prefix is set.
fn ustar_name(h: &[u8]) -> Vec<u8> {
    let field = |range: std::ops::Range<usize>| {
        let f = &h[range];
        f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())].to_vec()
    };
    let name = field(0..100);
    let ustar = &h[257..262] == b"ustar";
    let prefix = if ustar { field(345..500) } else { Vec::new() };
    if prefix.is_empty() {
        name
    } else {
        let mut full = prefix;
        full.push(b'/');
        full.extend_from_slice(&name);
        full
    }
}

/// The `path` record of PAX extended header data.
fn pax_path(data: &[u8]) -> Option<Vec<u8>> {
    let mut rest = data;
    let mut path = None;
    while !rest.is_empty() {
        let space = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..space]).ok()?.parse().ok()?;
        if len <= space || len > rest.len() {
            return path;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(value) = record.strip_prefix(b"path=") {
            path = Some(value.to_vec());
        }
        rest = &rest[len..];
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn crc64_iso_matches_gos() {
        // Go: crc64.Checksum([]byte("123456789"), crc64.MakeTable(crc64.ISO))
        assert_eq!(Crc64::new().update(0, b"123456789"), 0xB909_56C7_75A4_1001);
    }

    #[test]
    fn the_raw_segments_and_file_sizes_add_up_to_the_stream() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        let long = format!("{}/file", "d".repeat(150));
        b.append_data(&mut h, &long, &b"hello"[..]).unwrap();
        let mut d = tar::Header::new_ustar();
        d.set_entry_type(tar::EntryType::Directory);
        d.set_size(0);
        b.append_data(&mut d, "dir/", std::io::empty()).unwrap();
        let stream = b.into_inner().unwrap();
        let mut split = TarSplit::new();
        for chunk in stream.chunks(100) {
            split.write_all(chunk).unwrap();
        }
        let gz = split.finish().unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut text)
            .unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let mut total = 0u64;
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(line["position"], i as u64);
            match line["type"].as_u64().unwrap() {
                2 => {
                    total += base64::engine::general_purpose::STANDARD
                        .decode(line["payload"].as_str().unwrap())
                        .unwrap()
                        .len() as u64
                }
                _ => total += line["size"].as_u64().unwrap_or(0),
            }
        }
        assert_eq!(total, stream.len() as u64);
        let files: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == 1).collect();
        assert_eq!(files[0]["name"], long.as_str());
        assert_eq!(files[0]["size"], 5);
        let crc = Crc64::new().update(0, b"hello").to_be_bytes();
        assert_eq!(
            files[0]["payload"],
            base64::engine::general_purpose::STANDARD.encode(crc)
        );
        assert_eq!(files[1]["name"], "dir/");
        assert!(files[1]["payload"].is_null());
    }
}
