//! Compression of packages: the two stream formats, and uncompressed "head" members
//! of an exactly known size.
//!
//! A package is written as members (gzip) or frames (zstd) of one stream: member 1
//! holds the small entries (checksums, manifest, metadata) and is stored
//! uncompressed, so its size is known before the payload's digest is; the members
//! after it hold the payload entry (gzip: one per 1 MiB block, berth-compress). The
//! writer can then stream the payload once, straight into place at a fixed offset,
//! and write member 1 in front of it afterwards. Every gzip and zstd reader decodes
//! concatenated members as one stream (RFC 1952 §2.2, RFC 8878 §3).

pub use berth_compress::{ParallelGzip, GZIP_HEADER, PAR_BLOCK};
use berth_compress::{DEFAULT_LEVEL, LEVELS};

/// The stream format of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Gzip,
    Zstd,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    pub fn default_level(self) -> u32 {
        match self {
            Compression::Gzip => DEFAULT_LEVEL,
            Compression::Zstd => 3,
        }
    }

    pub fn level_range(self) -> std::ops::RangeInclusive<u32> {
        match self {
            Compression::Gzip => LEVELS,
            Compression::Zstd => 1..=19,
        }
    }

    /// The package file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => "tar.gz",
            Compression::Zstd => "tar.zst",
        }
    }

    /// Recognises a stream by its magic bytes.
    pub fn sniff(head: &[u8]) -> Option<Compression> {
        use berth_format::compression::{sniff, Compressed};
        sniff(head).map(|c| match c {
            Compressed::Gzip => Compression::Gzip,
            Compressed::Zstd => Compression::Zstd,
        })
    }

    /// Size of `stored(n bytes)`: the uncompressed member `stored` writes.
    pub fn stored_len(self, n: usize) -> usize {
        match self {
            // header 10 + per block 5 + data + trailer 8; an empty member has one block
            Compression::Gzip => 10 + 5 * n.div_ceil(STORED_BLOCK).max(1) + n + 8,
            // magic 4 + descriptor 1 + content size 8 + per block 3 + data
            Compression::Zstd => 13 + 3 * n.div_ceil(RAW_BLOCK).max(1) + n,
        }
    }

    /// An uncompressed member or frame holding `data`, exactly `stored_len` long.
    pub fn stored(self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.stored_len(data.len()));
        match self {
            Compression::Gzip => {
                out.extend_from_slice(&GZIP_HEADER);
                let blocks: Vec<&[u8]> = if data.is_empty() {
                    vec![&[]]
                } else {
                    data.chunks(STORED_BLOCK).collect()
                };
                for (i, block) in blocks.iter().enumerate() {
                    let last = i + 1 == blocks.len();
                    let len = block.len() as u16;
                    out.push(u8::from(last)); // BFINAL, BTYPE=00 (stored)
                    out.extend_from_slice(&len.to_le_bytes());
                    out.extend_from_slice(&(!len).to_le_bytes());
                    out.extend_from_slice(block);
                }
                out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            }
            Compression::Zstd => {
                out.extend_from_slice(&[0x28, 0xb5, 0x2f, 0xfd]);
                // Single_Segment_flag with an 8-byte Frame_Content_Size, no checksum.
                out.push(0b1110_0000);
                out.extend_from_slice(&(data.len() as u64).to_le_bytes());
                let blocks: Vec<&[u8]> = if data.is_empty() {
                    vec![&[]]
                } else {
                    data.chunks(RAW_BLOCK).collect()
                };
                for (i, block) in blocks.iter().enumerate() {
                    let last = u32::from(i + 1 == blocks.len());
                    // Block_Header: Last_Block bit, Block_Type 0 (raw), Block_Size.
                    let header = last | ((block.len() as u32) << 3);
                    out.extend_from_slice(&header.to_le_bytes()[..3]);
                    out.extend_from_slice(block);
                }
            }
        }
        debug_assert_eq!(out.len(), self.stored_len(data.len()));
        out
    }
}

const STORED_BLOCK: usize = 65_535;
const RAW_BLOCK: usize = 128 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn sample(n: usize) -> Vec<u8> {
        // Compressible but not trivial: a repeating text with a counter.
        let mut v = Vec::with_capacity(n);
        let mut i = 0u64;
        while v.len() < n {
            v.extend_from_slice(format!("line {i} of the sample data {}\n", i % 7).as_bytes());
            i += 1;
        }
        v.truncate(n);
        v
    }

    fn par_gzip(data: &[u8], threads: usize) -> Vec<u8> {
        let mut enc = ParallelGzip::new(Vec::new(), 6, threads).unwrap();
        for b in data.chunks(PAR_BLOCK) {
            enc.push(b.to_vec()).unwrap();
        }
        enc.finish().unwrap()
    }

    #[test]
    fn stored_members_have_their_computed_length_and_decode() {
        for n in [0, 1, 65_535, 65_536, 200_000] {
            let data = sample(n);
            let gz = Compression::Gzip.stored(&data);
            assert_eq!(gz.len(), Compression::Gzip.stored_len(n));
            assert_eq!(gunzip(&gz), data);
            let zs = Compression::Zstd.stored(&data);
            assert_eq!(zs.len(), Compression::Zstd.stored_len(n));
            assert_eq!(zstd::decode_all(&zs[..]).unwrap(), data);
        }
    }

    #[test]
    fn concatenated_members_decode_as_one_stream() {
        let mut both = Compression::Gzip.stored(b"head ");
        both.extend(par_gzip(b"payload", 2));
        assert_eq!(gunzip(&both), b"head payload");
    }
}
