//! The parallel decoder: a gzip stream read member by member. Members whose header
//! declares their length (berth's, see `member.rs`) are cut from the input without
//! inflating and inflated by libdeflate on several threads, their output returned in
//! order; any other member (GNU gzip's, pigz's, a package's stored head) is inflated
//! as a stream in the calling thread, so every gzip stream reads, as fast as before
//! or faster.

use crate::exact::{ExactInflater, InflateError};
use crate::member::{indexed_len, INDEXED_HEADER_LEN, TRAILER_LEN};
use std::collections::BTreeMap;
use std::io::{self, BufRead, Read};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

/// The most one indexed member may inflate to: what berth writes (`PAR_BLOCK`). It
/// bounds the memory a hostile stream can make a reader (berthd on a small device)
/// take: at most two members per thread in flight, ~2.3 MiB each.
pub const MAX_MEMBER_OUTPUT: usize = crate::PAR_BLOCK;
/// The most an indexed member may be long: deflate's worst case for the above.
const MAX_MEMBER_LEN: usize =
    INDEXED_HEADER_LEN + MAX_MEMBER_OUTPUT + MAX_MEMBER_OUTPUT / 8 + 1024 + TRAILER_LEN;

struct Job {
    index: u64,
    offset: u64,
    member: Vec<u8>,
}

type Done = (u64, io::Result<Vec<u8>>);

struct Pool {
    jobs: SyncSender<Job>,
    done: Receiver<Done>,
}

impl Pool {
    fn start(threads: usize) -> Pool {
        let (jobs, job_rx) = sync_channel::<Job>(threads * 2);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done) = sync_channel::<Done>(threads * 2);
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            std::thread::spawn(move || {
                let mut inflater = ExactInflater::new();
                loop {
                    let job = match job_rx.lock().map(|rx| rx.recv()) {
                        Ok(Ok(job)) => job,
                        _ => return,
                    };
                    let result = inflate_member(&mut inflater, &job.member, job.offset);
                    if done_tx.send((job.index, result)).is_err() {
                        return;
                    }
                }
            });
        }
        Pool { jobs, done }
    }
}

fn corrupt(offset: u64, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("gzip member at byte {offset}: {why}"),
    )
}

fn inflate_member(inflater: &mut ExactInflater, member: &[u8], offset: u64) -> io::Result<Vec<u8>> {
    let trailer = &member[member.len() - TRAILER_LEN..];
    let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
    let size = u32::from_le_bytes(trailer[4..].try_into().expect("4 bytes")) as usize;
    if size > MAX_MEMBER_OUTPUT {
        return Err(corrupt(
            offset,
            &format!("declares {size} bytes of output, more than {MAX_MEMBER_OUTPUT}"),
        ));
    }
    let mut out = vec![0u8; size];
    let deflated = &member[INDEXED_HEADER_LEN..member.len() - TRAILER_LEN];
    match inflater.inflate(deflated, &mut out) {
        Ok((taken, n)) if n == size && taken == deflated.len() => {}
        Ok((taken, n)) if n == size => {
            // Every other gzip reader reads the trailer where the deflate data ends.
            return Err(corrupt(
                offset,
                &format!(
                    "its deflate data ends {} bytes before its trailer",
                    deflated.len() - taken
                ),
            ));
        }
        Ok((_, n)) => {
            return Err(corrupt(
                offset,
                &format!("inflates to {n} bytes, its trailer says {size}"),
            ))
        }
        Err(InflateError::InsufficientSpace) => {
            return Err(corrupt(
                offset,
                &format!("inflates to more than the {size} bytes its trailer says"),
            ))
        }
        Err(InflateError::BadData) => return Err(corrupt(offset, "invalid deflate data")),
    }
    if libdeflater::crc32(&out) != crc {
        return Err(corrupt(offset, "CRC-32 mismatch"));
    }
    Ok(out)
}

/// The input, counting the bytes taken from it (to name where a bad member starts).
struct Counted<R> {
    inner: R,
    taken: u64,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.taken += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.taken += amt as u64;
        self.inner.consume(amt);
    }
}

type Sequential<R> = flate2::bufread::GzDecoder<io::Chain<io::Cursor<Vec<u8>>, Counted<R>>>;

/// Reads a gzip stream of any members, inflating berth's indexed members on
/// several threads.
pub struct ParallelGunzip<R: BufRead> {
    /// The input, unless a stream member has it.
    src: Option<Counted<R>>,
    /// The member being inflated as a stream.
    sequential: Option<Sequential<R>>,
    /// The header bytes of the next stream member, read while looking for an
    /// indexed one; it starts once the members in flight are out.
    pending_stream: Option<Vec<u8>>,
    pool: Option<Pool>,
    threads: usize,
    next_submit: u64,
    next_out: u64,
    ready: BTreeMap<u64, io::Result<Vec<u8>>>,
    input_done: bool,
    out: Vec<u8>,
    pos: usize,
}

impl<R: BufRead> ParallelGunzip<R> {
    /// Inflates on as many threads as the machine has cores.
    pub fn new(src: R) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_threads(src, threads)
    }

    pub fn with_threads(src: R, threads: usize) -> Self {
        ParallelGunzip {
            src: Some(Counted {
                inner: src,
                taken: 0,
            }),
            sequential: None,
            pending_stream: None,
            pool: None,
            threads: threads.max(1),
            next_submit: 0,
            next_out: 0,
            ready: BTreeMap::new(),
            input_done: false,
            out: Vec::new(),
            pos: 0,
        }
    }

    /// Cuts indexed members off the input and hands them to the pool, until enough
    /// are in flight, the input ends, or a stream member comes next.
    fn submit(&mut self) -> io::Result<()> {
        while !self.input_done
            && self.pending_stream.is_none()
            && self.next_submit - self.next_out < 2 * self.threads as u64
        {
            let Some(src) = self.src.as_mut() else {
                return Ok(());
            };
            let offset = src.taken;
            let mut header = Vec::with_capacity(INDEXED_HEADER_LEN);
            src.take(INDEXED_HEADER_LEN as u64)
                .read_to_end(&mut header)?;
            if header.is_empty() {
                self.input_done = true;
                return Ok(());
            }
            let Some(len) = indexed_len(&header) else {
                self.pending_stream = Some(header);
                return Ok(());
            };
            let len = len as usize;
            if !(INDEXED_HEADER_LEN + TRAILER_LEN < len && len <= MAX_MEMBER_LEN) {
                return Err(corrupt(
                    offset,
                    &format!("declares a length of {len} bytes"),
                ));
            }
            let mut member = header;
            member.resize(len, 0);
            src.read_exact(&mut member[INDEXED_HEADER_LEN..])
                .map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => {
                        corrupt(offset, "truncated (the stream ends inside it)")
                    }
                    _ => e,
                })?;
            let threads = self.threads;
            let pool = self.pool.get_or_insert_with(|| Pool::start(threads));
            let job = Job {
                index: self.next_submit,
                offset,
                member,
            };
            pool.jobs
                .send(job)
                .map_err(|_| io::Error::other("a gzip worker thread stopped"))?;
            self.next_submit += 1;
        }
        Ok(())
    }

    /// The next member's output, in order, once it is inflated.
    fn next_output(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(result) = self.ready.remove(&self.next_out) {
                self.next_out += 1;
                return result;
            }
            let pool = self.pool.as_ref().expect("members in flight have a pool");
            let (index, result) = pool
                .done
                .recv()
                .map_err(|_| io::Error::other("a gzip worker thread stopped"))?;
            self.ready.insert(index, result);
        }
    }
}

impl<R: BufRead> Read for ParallelGunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.out.len() {
                let n = buf.len().min(self.out.len() - self.pos);
                buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if let Some(stream) = self.sequential.as_mut() {
                let n = stream.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                // The member ended (its CRC checked): the input goes on after it.
                let stream = self.sequential.take().expect("just read");
                self.src = Some(stream.into_inner().into_inner().1);
                continue;
            }
            self.submit()?;
            // Members submitted and not yet returned (some may be inflated already,
            // out of order, and wait in `ready`).
            if self.next_out < self.next_submit {
                self.out = self.next_output()?;
                self.pos = 0;
                continue;
            }
            if let Some(header) = self.pending_stream.take() {
                let src = self.src.take().expect("the input is ours between members");
                self.sequential = Some(flate2::bufread::GzDecoder::new(
                    io::Cursor::new(header).chain(src),
                ));
                continue;
            }
            return Ok(0);
        }
    }
}
