//! The parallel gzip encoder berth writes packages and image layers with. Blocks of
//! 1 MiB are deflated on several threads, each primed with the previous 32 KiB (as
//! pigz does), so the output is the same whatever the number of threads, and within a
//! fraction of a percent of one stream. A crate of its own because the package format
//! (on devices too) and the image builder (build host) both use it.

use flate2::{Compress, FlushCompress, Status};
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

/// A gzip member header: deflate, no flags, mtime 0 (reproducible), OS = Unix.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03];

/// Input block size of the parallel gzip encoder. Blocks are deflated independently
/// with the previous 32 KiB as dictionary (as pigz does), so the output is the same
/// whatever the number of threads, and within a fraction of a percent of one stream.
pub const PAR_BLOCK: usize = 1024 * 1024;
const DICT: usize = 32 * 1024;

struct Job {
    index: u64,
    dict: Option<Arc<Vec<u8>>>,
    data: Arc<Vec<u8>>,
    last: bool,
}

/// A gzip member compressed on several threads. Feed it blocks of exactly
/// `PAR_BLOCK` bytes (the last may be shorter), in order.
pub struct ParallelGzip<W: Write> {
    jobs: Option<SyncSender<Job>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    done: Receiver<(u64, io::Result<Vec<u8>>)>,
    pending: std::collections::BTreeMap<u64, Vec<u8>>,
    next_index: u64,
    next_write: u64,
    previous: Option<Arc<Vec<u8>>>,
    crc: crc32fast::Hasher,
    total: u64,
    out: W,
    in_flight: usize,
    max_in_flight: usize,
}

impl<W: Write> ParallelGzip<W> {
    pub fn new(mut out: W, level: u32, threads: usize) -> io::Result<Self> {
        out.write_all(&GZIP_HEADER)?;
        let threads = threads.max(1);
        let (job_tx, job_rx) = sync_channel::<Job>(threads * 2);
        let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
        let (done_tx, done) = sync_channel(threads * 4);
        let workers = (0..threads)
            .map(|_| {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                std::thread::spawn(move || loop {
                    let job = match job_rx.lock().expect("job queue").recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    };
                    let result = deflate_block(level, &job);
                    if done_tx.send((job.index, result)).is_err() {
                        return;
                    }
                })
            })
            .collect();
        Ok(ParallelGzip {
            jobs: Some(job_tx),
            workers,
            done,
            pending: Default::default(),
            next_index: 0,
            next_write: 0,
            previous: None,
            crc: crc32fast::Hasher::new(),
            total: 0,
            out,
            in_flight: 0,
            max_in_flight: threads * 4,
        })
    }

    /// Queues one block; `last` marks the final one.
    pub fn push(&mut self, data: Arc<Vec<u8>>, last: bool) -> io::Result<()> {
        self.crc.update(&data);
        self.total += data.len() as u64;
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        let dict = self.previous.take();
        let job = Job {
            index: self.next_index,
            dict,
            data: Arc::clone(&data),
            last,
        };
        self.next_index += 1;
        self.in_flight += 1;
        self.jobs
            .as_ref()
            .expect("not finished")
            .send(job)
            .map_err(|_| io::Error::other("compression worker stopped"))?;
        self.previous = Some(data);
        Ok(())
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

    /// Waits for every block, writes the trailer and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        if self.next_index == 0 {
            // No block was pushed: an empty final stored block keeps the member valid.
            self.out.write_all(&[0x01, 0, 0, 0xff, 0xff])?;
        }
        let crc = std::mem::take(&mut self.crc).finalize();
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.write_all(&(self.total as u32).to_le_bytes())?;
        Ok(self.out)
    }
}

fn deflate_block(level: u32, job: &Job) -> io::Result<Vec<u8>> {
    // A fresh stream per block: a reset stream reused across blocks was seen to give
    // output that depends on which blocks a worker handled before (zlib-rs), which
    // would make the package depend on the thread count.
    let z = &mut Compress::new(flate2::Compression::new(level), false);
    if let Some(dict) = &job.dict {
        let tail = &dict[dict.len().saturating_sub(DICT)..];
        z.set_dictionary(tail).map_err(io::Error::other)?;
    }
    let flush = if job.last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(job.data.len() / 2 + 1024);
    let start_in = z.total_in();
    loop {
        let consumed = (z.total_in() - start_in) as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let status = z
            .compress_vec(&job.data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let consumed = (z.total_in() - start_in) as usize;
        let done = consumed == job.data.len()
            && match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                // A sync flush is complete when it left room unused in the output.
                _ => out.len() < out.capacity(),
            };
        if done {
            return Ok(out);
        }
    }
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

    /// Writes the last block and the trailer; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.block);
        self.encoder.push(Arc::new(last), true)?;
        self.encoder.finish()
    }
}

impl<W: Write> Write for ParallelGzipWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(PAR_BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() == PAR_BLOCK {
            let full = std::mem::replace(&mut self.block, Vec::with_capacity(PAR_BLOCK));
            self.encoder.push(Arc::new(full), false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // blocks are fixed: flushing early would change the output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn sample(n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n);
        let mut i = 0u64;
        while v.len() < n {
            v.extend_from_slice(format!("line {i} of the sample data {}\n", i % 7).as_bytes());
            i += 1;
        }
        v.truncate(n);
        v
    }

    fn par_gzip(data: &[u8], threads: usize) -> Vec<u8> {
        let mut enc = ParallelGzip::new(Vec::new(), 6, threads).unwrap();
        let blocks: Vec<&[u8]> = data.chunks(PAR_BLOCK).collect();
        for (i, b) in blocks.iter().enumerate() {
            enc.push(Arc::new(b.to_vec()), i + 1 == blocks.len())
                .unwrap();
        }
        enc.finish().unwrap()
    }

    #[test]
    fn parallel_gzip_round_trips_and_does_not_depend_on_thread_count() {
        for n in [0, 1, PAR_BLOCK - 1, PAR_BLOCK, 3 * PAR_BLOCK + 17] {
            let data = sample(n);
            let one = par_gzip(&data, 1);
            let three = par_gzip(&data, 3);
            assert_eq!(one, three, "n={n}");
            assert_eq!(gunzip(&one), data, "n={n}");
        }
    }

    #[test]
    fn parallel_gzip_is_as_small_as_one_stream() {
        let data = sample(4 * PAR_BLOCK);
        let par = par_gzip(&data, 2).len() as f64;
        let mut single = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        single.write_all(&data).unwrap();
        let single = single.finish().unwrap().len() as f64;
        assert!(par / single < 1.01, "parallel {par} vs single {single}");
    }

    #[test]
    fn the_writer_gives_the_blocks_output_for_any_write_sizes() {
        let data = sample(3 * PAR_BLOCK + 5);
        let mut w = ParallelGzipWriter::new(Vec::new(), 6, 2).unwrap();
        for chunk in data.chunks(7777) {
            w.write_all(chunk).unwrap();
        }
        let written = w.finish().unwrap();
        assert_eq!(gunzip(&written), data);
        let mut one = ParallelGzipWriter::new(Vec::new(), 6, 1).unwrap();
        one.write_all(&data).unwrap();
        assert_eq!(
            one.finish().unwrap(),
            written,
            "write sizes and threads change nothing"
        );
    }
}
