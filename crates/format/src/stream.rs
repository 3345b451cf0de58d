//! Stream plumbing both sides use: a bounded channel of chunks that reads like a
//! file, a read-ahead stage on a thread of its own (so that decompression and the
//! consumer's parsing and hashing use two cores), and a reader that hashes and
//! counts what passes through it.

use crate::Digest;
use sha2::{Digest as _, Sha256};
use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Chunks handed between threads: data, or the error that ended the stream.
pub type Chunk = io::Result<Vec<u8>>;

/// The reading end of a bounded channel of chunks. A closed channel is the end of
/// the stream; an error chunk is returned once, and the stream ends after it.
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

/// How far a read-ahead stage reads ahead: `depth` chunks of `chunk` bytes.
#[derive(Debug, Clone, Copy)]
pub struct ReadAhead {
    pub chunk: usize,
    pub depth: usize,
}

impl ReadAhead {
    /// 2 MiB in 256 KiB chunks: what a device's package reader holds.
    pub const SMALL: ReadAhead = ReadAhead {
        chunk: 256 * 1024,
        depth: 8,
    };
    /// 4 MiB in 1 MiB chunks: the build host's layer streams.
    pub const LARGE: ReadAhead = ReadAhead {
        chunk: 1 << 20,
        depth: 4,
    };
}

/// Reads `inner` on a thread of its own, up to `ahead` in front of the consumer.
pub fn read_ahead(inner: Box<dyn Read + Send>, ahead: ReadAhead) -> ChannelReader {
    let (tx, reader) = channel(ahead.depth);
    std::thread::spawn(move || {
        let mut inner = inner;
        pump(&mut *inner, &tx, ahead.chunk);
    });
    reader
}

/// Runs `consume` on a reader of what `input` gives, `input` being read on another
/// (scoped) thread up to `ahead` in front; an error on either side stops both.
pub fn pipelined<T>(
    input: &mut (dyn Read + Send),
    ahead: ReadAhead,
    consume: impl FnOnce(&mut dyn Read) -> T,
) -> T {
    std::thread::scope(|scope| {
        let (tx, mut reader) = channel(ahead.depth);
        scope.spawn(move || pump(input, &tx, ahead.chunk));
        let out = consume(&mut reader);
        drop(reader); // a producer still sending sees the channel closed and stops
        out
    })
}

/// Sends `inner`'s bytes in chunks until its end, an error (sent after the data
/// before it), or the consumer going away. A panic in the reader (a decompressor's
/// bug) must not read as a clean end of the stream: the consumer gets an error.
fn pump(inner: &mut (dyn Read + Send), tx: &SyncSender<Chunk>, size: usize) {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| loop {
        let mut buf = vec![0u8; size];
        let mut filled = 0;
        let result = loop {
            match inner.read(&mut buf[filled..]) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    filled += n;
                    if filled == size {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        buf.truncate(filled);
        let end = filled < size || result.is_err();
        if filled > 0 && tx.send(Ok(buf)).is_err() {
            return; // the consumer stopped reading
        }
        if let Err(e) = result {
            let _ = tx.send(Err(e));
        }
        if end {
            return;
        }
    }));
    if run.is_err() {
        let _ = tx.send(Err(io::Error::other("the reading thread panicked")));
    }
}

/// Hashes (SHA-256) and counts every byte read through it: content whose digest is
/// learnt as it passes.
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

    /// The digest of what was read so far.
    pub fn digest(&self) -> Digest {
        Digest::from_sha256(self.hasher.clone().finalize().into())
    }

    /// The number of bytes read so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// The digest and length of what was read, the reader given up (and with it
    /// whatever it holds: a tee's channel closes here).
    pub fn finish(self) -> (Digest, u64) {
        (self.digest(), self.len)
    }

    /// Whether nothing was read yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
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

/// Counts every byte read through it and shows each chunk to `on_read` (a progress
/// bar, a shared counter, a tar-split writer); an error `on_read` returns is the
/// read's.
pub struct CountingReader<R, F> {
    inner: R,
    on_read: F,
    count: u64,
}

impl<R: Read, F: FnMut(&[u8]) -> io::Result<()>> CountingReader<R, F> {
    pub fn new(inner: R, on_read: F) -> Self {
        CountingReader {
            inner,
            on_read,
            count: 0,
        }
    }

    /// The number of bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<R: Read, F: FnMut(&[u8]) -> io::Result<()>> Read for CountingReader<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        (self.on_read)(&buf[..n])?;
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
        let mut reader = read_ahead(Box::new(Panics(3)), ReadAhead::SMALL);
        let mut out = Vec::new();
        let err = reader.read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().contains("panicked"), "{err}");
        let mut input = Panics(2);
        let err = pipelined(&mut input, ReadAhead::SMALL, |r| {
            r.read_to_end(&mut Vec::new()).unwrap_err()
        });
        assert!(err.to_string().contains("panicked"), "{err}");
    }

    /// The data before an error reaches the consumer, then the error.
    struct FailsAfter(Vec<u8>);

    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::Error::other("the disk failed"));
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0.drain(..n);
            Ok(n)
        }
    }

    #[test]
    fn both_stages_carry_every_byte_and_then_the_error() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        for ahead in [ReadAhead::SMALL, ReadAhead::LARGE] {
            let mut got = Vec::new();
            read_ahead(Box::new(io::Cursor::new(data.clone())), ahead)
                .read_to_end(&mut got)
                .unwrap();
            assert!(got == data);
            let mut input = io::Cursor::new(data.clone());
            let got = pipelined(&mut input, ahead, |r| {
                let mut got = Vec::new();
                r.read_to_end(&mut got).map(|_| got)
            })
            .unwrap();
            assert!(got == data);
            let mut reader = read_ahead(Box::new(FailsAfter(data.clone())), ahead);
            let mut got = vec![0u8; data.len()];
            reader.read_exact(&mut got).unwrap();
            assert!(got == data);
            let err = reader.read(&mut [0u8; 10]).unwrap_err();
            assert_eq!(err.to_string(), "the disk failed");
        }
    }

    #[test]
    fn hashing_reader_digests_and_counts() {
        let mut r = HashingReader::new(&b"hello"[..]);
        assert!(r.is_empty());
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.len(), 5);
        assert_eq!(
            r.digest().to_string(),
            // printf hello | sha256sum
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn counting_reader_counts_shows_every_chunk_and_fails_with_its_observer() {
        let mut seen = Vec::new();
        let mut r = CountingReader::new(&b"hello world"[..], |chunk: &[u8]| {
            seen.extend_from_slice(chunk);
            Ok(())
        });
        io::copy(&mut r, &mut io::sink()).unwrap();
        assert_eq!(r.count(), 11);
        assert_eq!(seen, b"hello world");
        let mut failing = CountingReader::new(&b"x"[..], |_: &[u8]| Err(io::Error::other("full")));
        let e = failing.read(&mut [0; 4]).unwrap_err();
        assert_eq!(e.to_string(), "full");
    }
}
