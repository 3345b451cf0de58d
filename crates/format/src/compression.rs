//! Which compression a stream is in, told by its first bytes (as containers/image
//! does, whatever a media type or file name says).

/// A compression berth reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compressed {
    Gzip,
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The compression `head` (a stream's first bytes) starts with; `None` when it is
/// not one berth knows (so, read as it is).
pub fn sniff(head: &[u8]) -> Option<Compressed> {
    if head.starts_with(&GZIP_MAGIC) {
        Some(Compressed::Gzip)
    } else if head.starts_with(&ZSTD_MAGIC) {
        Some(Compressed::Zstd)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_tell_the_compression() {
        // `printf x | gzip | head -c 4 | xxd`, `printf x | zstd | head -c 4 | xxd`
        assert_eq!(sniff(&[0x1f, 0x8b, 0x08, 0x00]), Some(Compressed::Gzip));
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Some(Compressed::Zstd));
        assert_eq!(sniff(b"ustar"), None);
        assert_eq!(sniff(&[0x1f]), None);
        assert_eq!(sniff(&[]), None);
    }
}
