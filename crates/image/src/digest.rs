//! A reader that checks a content digest while the content streams: a blob is hashed
//! as it is read, never read twice, and a wrong size or digest is an error at the
//! moment it shows (more bytes than declared stop the read at once, so an endless
//! body costs nothing). The digest itself is berth-format's.

pub use berth_format::digest::{BadDigest, Digest};
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};

/// What a verified read found wrong.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{expected}: more than the {size} bytes declared")]
    TooLong { expected: Digest, size: u64 },
    #[error("{expected}: {got} bytes, {size} declared")]
    TooShort {
        expected: Digest,
        size: u64,
        got: u64,
    },
    #[error("{expected}: the content's digest is {got}")]
    Mismatch { expected: Digest, got: Digest },
}

/// Reads `inner`, hashing what passes; at its end, checks size and digest against
/// what was declared. Errors come as `io::Error`s of kind `InvalidData` wrapping a
/// `VerifyError` (`verify_error` gets it back).
pub struct VerifyingReader<R> {
    inner: R,
    expected: Digest,
    size: Option<u64>,
    read: u64,
    hasher: Sha256,
    done: bool,
}

impl<R: Read> VerifyingReader<R> {
    /// `size`: the declared size, when known (a descriptor's); `None` checks the
    /// digest only.
    pub fn new(inner: R, expected: Digest, size: Option<u64>) -> Self {
        VerifyingReader {
            inner,
            expected,
            size,
            read: 0,
            hasher: Sha256::new(),
            done: false,
        }
    }

    fn fail(&self, e: VerifyError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        // Never read past the declared size plus one byte: the extra byte tells a
        // body that goes on.
        let room = match self.size {
            Some(size) => (size - self.read.min(size) + 1).min(buf.len() as u64) as usize,
            None => buf.len(),
        };
        let n = self.inner.read(&mut buf[..room])?;
        self.read += n as u64;
        if let Some(size) = self.size {
            if self.read > size {
                return Err(self.fail(VerifyError::TooLong {
                    expected: self.expected.clone(),
                    size,
                }));
            }
        }
        if n > 0 {
            self.hasher.update(&buf[..n]);
            return Ok(n);
        }
        if let Some(size) = self.size.filter(|s| *s != self.read) {
            return Err(self.fail(VerifyError::TooShort {
                expected: self.expected.clone(),
                size,
                got: self.read,
            }));
        }
        let got = Digest::from_sha256(self.hasher.clone().finalize().into());
        if got != self.expected {
            return Err(self.fail(VerifyError::Mismatch {
                expected: self.expected.clone(),
                got,
            }));
        }
        self.done = true;
        Ok(0)
    }
}

/// The `VerifyError` inside an error a `VerifyingReader` returned, if it is one.
pub fn verify_error(e: &io::Error) -> Option<&VerifyError> {
    e.get_ref()?.downcast_ref()
}

pub use berth_format::stream::HashingReader;

/// Hashes what is written through it and counts it; `finish` gives the digest, the
/// length and the writer back.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    pub(crate) fn finish(self) -> (Digest, u64, W) {
        (
            Digest::from_sha256(self.hasher.finalize().into()),
            self.len,
            self.inner,
        )
    }
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: impl Read) -> io::Result<Vec<u8>> {
        let mut r = r;
        let mut out = Vec::new();
        r.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn only_well_formed_sha256_digests_parse() {
        let d = Digest::of(b"hello");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        for bad in [
            "sha256:../../etc/passwd",
            "sha256:ABCDEF",
            "md5:0123",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            &format!("sha256:{}", "A".repeat(64)),
            &format!("sha256:{}/", "a".repeat(63)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_verified_read_passes_good_content_and_names_what_is_wrong() {
        let data = b"layer bytes".to_vec();
        let d = Digest::of(&data);
        assert_eq!(
            read_all(VerifyingReader::new(&data[..], d.clone(), Some(11))).unwrap(),
            data
        );
        assert_eq!(
            read_all(VerifyingReader::new(&data[..], d.clone(), None)).unwrap(),
            data
        );

        let err = read_all(VerifyingReader::new(
            &b"layer bytez"[..],
            d.clone(),
            Some(11),
        ))
        .unwrap_err();
        assert!(
            matches!(verify_error(&err), Some(VerifyError::Mismatch { .. })),
            "{err}"
        );
        let err = read_all(VerifyingReader::new(&data[..5], d.clone(), Some(11))).unwrap_err();
        assert!(
            matches!(
                verify_error(&err),
                Some(VerifyError::TooShort { got: 5, .. })
            ),
            "{err}"
        );
        // An endless body is stopped one byte past the declared size.
        let endless = io::repeat(b'x');
        let err = read_all(VerifyingReader::new(endless, d, Some(11))).unwrap_err();
        assert!(
            matches!(
                verify_error(&err),
                Some(VerifyError::TooLong { size: 11, .. })
            ),
            "{err}"
        );
    }
}
