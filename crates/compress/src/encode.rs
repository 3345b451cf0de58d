//! The parallel encoder: blocks in, indexed gzip members out, in order.

use crate::member::{indexed_header, INDEXED_HEADER_LEN, TRAILER_LEN};
use crate::PAR_BLOCK;
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

struct Job {
    index: u64,
    data: Vec<u8>,
}

/// Gzip members compressed on several threads. Feed it blocks (of `PAR_BLOCK`
/// bytes, or any size up to it) in order; each becomes one member.
pub struct ParallelGzip<W: Write> {
    jobs: Option<SyncSender<Job>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    done: Receiver<(u64, io::Result<Vec<u8>>)>,
    pending: BTreeMap<u64, Vec<u8>>,
    next_index: u64,
    next_write: u64,
    out: W,
    in_flight: usize,
    max_in_flight: usize,
}

impl<W: Write> ParallelGzip<W> {
    /// `level` is libdeflate's (1..=12; out of range is clamped).
    pub fn new(out: W, level: u32, threads: usize) -> io::Result<Self> {
        let threads = threads.max(1);
        let level = libdeflater::CompressionLvl::new(level.clamp(1, 12) as i32)
            .map_err(|_| io::Error::other("compression level out of range"))?;
        let (job_tx, job_rx) = sync_channel::<Job>(threads * 2);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done) = sync_channel(threads * 4);
        let workers = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                std::thread::spawn(move || {
                    let mut compressor = libdeflater::Compressor::new(level);
                    loop {
                        let job = match job_rx.lock().expect("job queue").recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        let member = compress_member(&mut compressor, &job.data);
                        if done_tx.send((job.index, member)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Ok(ParallelGzip {
            jobs: Some(job_tx),
            workers,
            done,
            pending: BTreeMap::new(),
            next_index: 0,
            next_write: 0,
            out,
            in_flight: 0,
            max_in_flight: threads * 4,
        })
    }

    /// Queues one block (at most `PAR_BLOCK` bytes).
    pub fn push(&mut self, data: Vec<u8>) -> io::Result<()> {
        debug_assert!(data.len() <= PAR_BLOCK);
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        let job = Job {
            index: self.next_index,
            data,
        };
        self.next_index += 1;
        self.in_flight += 1;
        self.jobs
            .as_ref()
            .expect("not finished")
            .send(job)
            .map_err(|_| io::Error::other("compression worker stopped"))
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let (index, result) = self
            .done
            .recv()
            .map_err(|_| io::Error::other("compression worker stopped"))?;
        self.in_flight -= 1;
        self.pending.insert(index, result?);
        while let Some(bytes) = self.pending.remove(&self.next_write) {
            self.out.write_all(&bytes)?;
            self.next_write += 1;
        }
        Ok(())
    }

    /// Waits for every block and returns the writer. With no block pushed, one
    /// empty member is written, so the output is still a gzip stream.
    pub fn finish(mut self) -> io::Result<W> {
        if self.next_index == 0 {
            self.push(Vec::new())?;
        }
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        Ok(self.out)
    }
}

/// One block as one indexed member. libdeflate's output depends on nothing but the
/// input and the level, so neither does the stream.
fn compress_member(c: &mut libdeflater::Compressor, data: &[u8]) -> io::Result<Vec<u8>> {
    let bound = c.deflate_compress_bound(data.len());
    let mut out = vec![0u8; INDEXED_HEADER_LEN + bound + TRAILER_LEN];
    let n = c
        .deflate_compress(
            data,
            &mut out[INDEXED_HEADER_LEN..INDEXED_HEADER_LEN + bound],
        )
        .map_err(io::Error::other)?;
    let len = INDEXED_HEADER_LEN + n + TRAILER_LEN;
    out.truncate(len);
    let member_len = u32::try_from(len).map_err(|_| io::Error::other("block too large"))?;
    out[..INDEXED_HEADER_LEN].copy_from_slice(&indexed_header(member_len));
    out[len - 8..len - 4].copy_from_slice(&libdeflater::crc32(data).to_le_bytes());
    out[len - 4..].copy_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
}

/// `ParallelGzip` as a `Write`: cuts what is written into `PAR_BLOCK` blocks.
pub struct ParallelGzipWriter<W: Write> {
    encoder: ParallelGzip<W>,
    block: Vec<u8>,
}

impl<W: Write> ParallelGzipWriter<W> {
    pub fn new(out: W, level: u32, threads: usize) -> io::Result<Self> {
        Ok(ParallelGzipWriter {
            encoder: ParallelGzip::new(out, level, threads)?,
            block: Vec::with_capacity(PAR_BLOCK),
        })
    }

    /// Writes the last block; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.block);
        if !last.is_empty() {
            self.encoder.push(last)?;
        }
        self.encoder.finish()
    }
}

impl<W: Write> Write for ParallelGzipWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(PAR_BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == PAR_BLOCK {
            let full = std::mem::replace(&mut self.block, Vec::with_capacity(PAR_BLOCK));
            self.encoder.push(full)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // blocks are fixed: flushing early would change the output
    }
}
