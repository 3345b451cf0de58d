//! Limits that keep hostile packages from costing unbounded memory, disk or time,
//! and the reader adapters that enforce them.

use berth_format::stream::CountingReader;
use std::error::Error as StdError;
use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Bounds applied while reading a package. The defaults suit every package berth and
/// Digi's tools write; raise `max_expansion_ratio` for payloads of mostly zeros.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_manifest_bytes: u64,
    pub max_checksums_bytes: u64,
    pub max_signature_bytes: u64,
    pub max_metadata_file_bytes: u64,
    pub max_metadata_total_bytes: u64,
    pub max_metadata_files: usize,
    /// Entries inside a payload archive (a docker-archive has a handful).
    pub max_payload_entries: usize,
    /// Decompressed bytes allowed per compressed byte read so far, beyond
    /// `expansion_allowance`. Real images compress 2-5x; deflate tops out near 1032x.
    pub max_expansion_ratio: u64,
    /// Bytes any stream may expand to regardless of the ratio.
    pub expansion_allowance: u64,
    /// A full check of an OCI runtime bundle's config.json, beyond the structural
    /// one every reader makes (root.path inside the bundle): the build host's
    /// commands set `oci_bundle::check_spec` (the oci-spec crate's types); berthd
    /// leaves it out, so the device binary links neither oci-spec nor its regex
    /// engine (runc checks the spec itself when it runs the bundle).
    pub spec_check: Option<SpecCheck>,
}

/// A check of a bundle's config bytes: `Err` says what breaks the rule.
pub type SpecCheck = fn(&[u8]) -> Result<(), String>;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_manifest_bytes: crate::manifest::MAX_MANIFEST_BYTES,
            max_checksums_bytes: 1024 * 1024,
            max_signature_bytes: 4096,
            max_metadata_file_bytes: 1024 * 1024,
            max_metadata_total_bytes: 16 * 1024 * 1024,
            max_metadata_files: 64,
            max_payload_entries: 100_000,
            max_expansion_ratio: 100,
            expansion_allowance: 256 * 1024 * 1024,
            spec_check: None,
        }
    }
}

impl Limits {
    /// The defaults, with every check the build host makes (`berth pack`, `inspect`,
    /// `verify`).
    pub fn build_host() -> Self {
        Limits {
            spec_check: Some(crate::oci_bundle::check_spec),
            ..Limits::default()
        }
    }

    /// The most a stream of `compressed` bytes may expand to.
    pub fn max_expanded(&self, compressed: u64) -> u64 {
        compressed
            .saturating_mul(self.max_expansion_ratio)
            .saturating_add(self.expansion_allowance)
    }
}

/// Marks an I/O error of the underlying source (disk, pipe), as opposed to an error
/// about the bytes read from it: the first is exit code 1, the second an invalid
/// package.
#[derive(Debug)]
struct SourceError(io::Error);

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl StdError for SourceError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

/// A stream expanded beyond `Limits::max_expanded`.
#[derive(Debug)]
pub struct ExpansionError {
    pub decompressed: u64,
    pub compressed: u64,
    pub ratio: u64,
}

impl fmt::Display for ExpansionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "decompression bomb: {} bytes expanded to more than {} bytes (limit {}x)",
            self.compressed, self.decompressed, self.ratio
        )
    }
}

impl StdError for ExpansionError {}

pub(crate) fn find_in_chain<T: StdError + 'static>(e: &io::Error) -> bool {
    let mut cur: Option<&(dyn StdError + 'static)> =
        e.get_ref().map(|i| i as &(dyn StdError + 'static));
    while let Some(err) = cur {
        if err.is::<T>() {
            return true;
        }
        if let Some(inner) = err.downcast_ref::<io::Error>() {
            if find_in_chain::<T>(inner) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

pub fn is_source_error(e: &io::Error) -> bool {
    find_in_chain::<SourceError>(e)
}

pub fn is_guard_error(e: &io::Error) -> bool {
    find_in_chain::<ExpansionError>(e)
}

/// `inner`, with the count of bytes read through it kept in `count` (read by the
/// expansion guard while the stream is consumed elsewhere).
pub fn counted<R: Read>(
    inner: R,
    count: Arc<AtomicU64>,
) -> CountingReader<R, impl FnMut(&[u8]) -> io::Result<()> + Send> {
    CountingReader::new(inner, move |chunk: &[u8]| {
        count.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Ok(())
    })
}

/// The package file or stream itself: its read errors are tagged as the source's
/// (`is_source_error`), told apart from the payload's own.
pub struct SourceReader<R>(pub R);

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::Interrupted => e,
            kind => io::Error::new(kind, SourceError(e)),
        })
    }
}

/// Refuses to produce more than `Limits::max_expanded(compressed so far)` bytes.
pub struct ExpansionGuard<R> {
    inner: R,
    compressed: Arc<AtomicU64>,
    produced: u64,
    limits: (u64, u64),
}

impl<R: Read> ExpansionGuard<R> {
    pub fn new(inner: R, compressed: Arc<AtomicU64>, ratio: u64) -> Self {
        let allowance = Limits::default().expansion_allowance;
        ExpansionGuard {
            inner,
            compressed,
            produced: 0,
            limits: (ratio, allowance),
        }
    }

    pub fn with_allowance(mut self, allowance: u64) -> Self {
        self.limits.1 = allowance;
        self
    }
}

impl<R: Read> Read for ExpansionGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.produced += n as u64;
        let compressed = self.compressed.load(Ordering::Relaxed);
        let (ratio, allowance) = self.limits;
        if self.produced > compressed.saturating_mul(ratio).saturating_add(allowance) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                ExpansionError {
                    decompressed: self.produced,
                    compressed,
                    ratio,
                },
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_stops_a_stream_that_expands_too_far() {
        let counter = Arc::new(AtomicU64::new(0));
        let mut counted = counted(io::repeat(0).take(10), Arc::clone(&counter));
        // Pretend 10 compressed bytes become unlimited zeros.
        let mut guard = ExpansionGuard::new(io::repeat(0), counter, 100).with_allowance(1000);
        io::copy(&mut counted, &mut io::sink()).unwrap();
        let err = io::copy(&mut guard, &mut io::sink()).unwrap_err();
        assert!(is_guard_error(&err), "{err}");
    }

    #[test]
    fn source_errors_are_told_apart_through_wrapping() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = SourceReader(Failing).read(&mut [0; 4]).unwrap_err();
        assert!(is_source_error(&err));
        let wrapped = io::Error::other(err);
        assert!(is_source_error(&wrapped));
        let plain = Failing.read(&mut [0; 4]).unwrap_err();
        assert!(!is_source_error(&plain));
    }
}
