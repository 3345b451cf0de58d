//! Small stream plumbing: a bounded channel that reads like a file, a read-ahead
//! thread, and a reader that hashes what passes through it.

use sha2::{Digest, Sha256};
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Chunks handed between threads: data, or the error that ended the stream.
pub type Chunk = io::Result<Vec<u8>>;

/// The reading end of a bounded channel of chunks. A closed channel is end of file.
pub struct ChannelReader {
    rx: Receiver<Chunk>,
    chunk: Vec<u8>,
    pos: usize,
    done: bool,
}

/// A bounded pipe between threads: at most `bound` chunks in flight.
pub fn channel(bound: usize) -> (SyncSender<Chunk>, ChannelReader) {
    let (tx, rx) = sync_channel(bound);
    let reader = ChannelReader {
        rx,
        chunk: Vec::new(),
        pos: 0,
        done: false,
    };
    (tx, reader)
}

const READ_AHEAD_CHUNK: usize = 256 * 1024;

/// Reads `inner` on a thread of its own, up to 2 MiB ahead of the consumer, so that
/// decompression and the consumer's work (parsing, hashing) use two cores.
pub fn read_ahead(inner: Box<dyn Read + Send>) -> ChannelReader {
    let (tx, reader) = channel(8);
    std::thread::spawn(move || {
        let failed = tx.clone();
        // A panic in the reader (a decompressor's bug) must not read as a clean end
        // of the stream: the consumer gets an error instead.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pump(inner, tx)));
        if run.is_err() {
            let _ = failed.send(Err(io::Error::other("the decompression thread panicked")));
        }
    });
    reader
}

fn pump(mut inner: Box<dyn Read + Send>, tx: SyncSender<Chunk>) {
    loop {
        let mut buf = vec![0u8; READ_AHEAD_CHUNK];
        let mut filled = 0;
        let result = loop {
            match inner.read(&mut buf[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        buf.truncate(filled);
        let end = filled == 0 || result.is_err();
        if filled > 0 && tx.send(Ok(buf)).is_err() {
            return; // the consumer stopped reading
        }
        if let Err(e) = result {
            let _ = tx.send(Err(e));
        }
        if end {
            return;
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Hashes (SHA-256) and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// The hex digest and the number of bytes read.
    pub fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.len)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Panics(usize);

    impl Read for Panics {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                panic!("a decompressor bug");
            }
            self.0 -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }

    /// Regression: a panic on the read-ahead thread dropped the channel, which the
    /// consumer read as a clean end of stream.
    #[test]
    fn a_panic_on_the_read_ahead_thread_is_an_error_not_an_end() {
        let mut reader = read_ahead(Box::new(Panics(3)));
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
    }
}
