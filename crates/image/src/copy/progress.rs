//! What a copy reports as it goes: the CLI draws bars from it, tests ignore it.

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

/// Reports each read to a `Progress`.
pub struct Counting<'a, R> {
    pub inner: R,
    pub progress: &'a dyn Progress,
    pub blob: usize,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advanced(self.blob, n as u64);
        Ok(n)
    }
}
