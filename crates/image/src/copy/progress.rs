//! What a copy reports as it goes: the CLI draws bars from it, tests ignore it.

use berth_format::stream::CountingReader;
use oci_spec::image::Descriptor;
use std::io::{self, Read};

pub trait Progress: Sync {
    /// Blob `d` starts; the value returned names it in later calls.
    fn started(&self, d: &Descriptor, label: &str) -> usize;
    fn advanced(&self, blob: usize, bytes: u64);
    /// `skipped`: the destination had it.
    fn finished(&self, blob: usize, skipped: bool);
}

pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&self, _: &Descriptor, _: &str) -> usize {
        0
    }
    fn advanced(&self, _: usize, _: u64) {}
    fn finished(&self, _: usize, _: bool) {}
}

/// `inner`, each read reported to `progress` as blob `handle`'s.
pub(crate) fn reporting<'a, R: Read>(
    inner: R,
    progress: &'a dyn Progress,
    handle: usize,
) -> CountingReader<R, impl FnMut(&[u8]) -> io::Result<()> + Send + 'a> {
    CountingReader::new(inner, move |chunk: &[u8]| {
        progress.advanced(handle, chunk.len() as u64);
        Ok(())
    })
}
