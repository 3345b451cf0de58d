//! Two stages of a stream on two cores: `input` is read (and so decompressed and
//! hashed, when it is a chain of such readers) in a thread of its own while the
//! caller consumes what it produced. Chunks pass through a small bounded channel, so
//! memory stays a few MiB; an error on either side stops both.

use berth_format::stream::{channel, ChannelReader, Chunk, ReadAhead};
use std::io::{self, Read, Write};

const CHUNK: usize = 1 << 20;
const DEPTH: usize = 4;

/// Runs `consume` on a reader of what `input` gives, `input` being read in another
/// thread (berth-format's read-ahead stage, with the build host's buffers).
pub fn pipelined<T>(input: &mut (dyn Read + Send), consume: impl FnOnce(&mut dyn Read) -> T) -> T {
    berth_format::stream::pipelined(input, ReadAhead::LARGE, consume)
}

/// A pipe between two threads: what one writes, the other reads, through a small
/// bounded channel. The writer must `finish`: a writer dropped without it (its thread
/// failed or panicked) gives the reader an error, never a clean end.
pub fn pipe() -> (PipeWriter, PipeReader) {
    let (tx, rx) = channel(DEPTH);
    (
        PipeWriter {
            tx: Some(tx),
            chunk: Vec::with_capacity(CHUNK),
        },
        PipeReader(rx),
    )
}

pub struct PipeWriter {
    tx: Option<std::sync::mpsc::SyncSender<Chunk>>,
    chunk: Vec<u8>,
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK));
        let tx = self.tx.as_ref().expect("not finished");
        tx.send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the reader stopped"))
    }

    /// Sends what is left; the reader then sees the end.
    pub fn finish(mut self) -> io::Result<()> {
        if !self.chunk.is_empty() {
            self.send()?;
        }
        self.tx = None;
        Ok(())
    }
}

impl Write for PipeWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Err(io::Error::other("the writing side stopped")));
        }
    }
}

/// The reading end of `pipe`.
pub struct PipeReader(ChannelReader);

impl Read for PipeReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_carries_everything_and_a_writer_that_fails_is_an_error() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let (mut w, mut r) = pipe();
        let sent = data.clone();
        let t = std::thread::spawn(move || {
            for c in sent.chunks(70_001) {
                w.write_all(c).unwrap();
            }
            w.finish().unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        t.join().unwrap();
        assert!(got == data);

        let (mut w, mut r) = pipe();
        let t = std::thread::spawn(move || {
            w.write_all(b"partial").unwrap();
            drop(w); // no finish: a failure
        });
        let mut got = Vec::new();
        let e = r.read_to_end(&mut got).unwrap_err();
        t.join().unwrap();
        assert!(e.to_string().contains("writing side stopped"), "{e}");
    }

    #[test]
    fn everything_arrives_in_order() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut input = &data[..];
        let got = pipelined(&mut input, |r| {
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            out
        });
        assert_eq!(got, data);
    }

    #[test]
    fn an_error_of_the_producer_reaches_the_consumer() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("broken"));
                }
                self.0 -= 1;
                buf[0] = 1;
                Ok(1)
            }
        }
        let err = pipelined(&mut Failing(10), |r| r.read_to_end(&mut Vec::new())).unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_producer() {
        let mut endless = io::repeat(7);
        let first = pipelined(&mut endless, |r| {
            let mut b = [0u8; 10];
            r.read_exact(&mut b).map(|_| b)
        });
        assert_eq!(first.unwrap(), [7; 10]);
    }
}
