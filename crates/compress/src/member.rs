//! The gzip member berth writes for every block: an ordinary RFC 1952 member whose
//! header carries one extra subfield, `BR`, holding the member's whole length. Every
//! gzip reader skips the subfield (as it skips BGZF's `BC`, which this copies); a
//! reader that knows it can cut the stream into members without inflating it, and
//! inflate them on several cores.

/// A gzip member header without extra fields: deflate, no flags, mtime 0
/// (reproducible), OS = Unix. The stored members of a package use it.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03];

/// `FEXTRA` in a gzip header's flags.
const FEXTRA: u8 = 0x04;
/// The subfield's identifier: "BR", for berth.
pub const SUBFIELD_ID: [u8; 2] = *b"BR";
/// Length of an indexed member's header: the fixed 10 bytes, XLEN, and the one
/// subfield (id 2, length 2, value 4).
pub const INDEXED_HEADER_LEN: usize = 10 + 2 + 8;
/// CRC-32 and ISIZE.
pub const TRAILER_LEN: usize = 8;

/// The header of an indexed member of `member_len` bytes in all.
pub fn indexed_header(member_len: u32) -> [u8; INDEXED_HEADER_LEN] {
    let mut h = [0u8; INDEXED_HEADER_LEN];
    h[..10].copy_from_slice(&GZIP_HEADER);
    h[3] = FEXTRA;
    h[10..12].copy_from_slice(&8u16.to_le_bytes());
    h[12..14].copy_from_slice(&SUBFIELD_ID);
    h[14..16].copy_from_slice(&4u16.to_le_bytes());
    h[16..20].copy_from_slice(&member_len.to_le_bytes());
    h
}

/// The member length an indexed header declares, or `None` when `header` (at least
/// `INDEXED_HEADER_LEN` bytes) is any other gzip header, to be read as a stream.
pub fn indexed_len(header: &[u8]) -> Option<u32> {
    let h = header.get(..INDEXED_HEADER_LEN)?;
    let fixed_ok = h[..3] == GZIP_HEADER[..3] && h[3] == FEXTRA;
    let extra_ok = h[10..12] == 8u16.to_le_bytes()
        && h[12..14] == SUBFIELD_ID
        && h[14..16] == 4u16.to_le_bytes();
    (fixed_ok && extra_ok).then(|| u32::from_le_bytes(h[16..20].try_into().expect("4 bytes")))
}
