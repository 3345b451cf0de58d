//! A layer file's pages sent to the disk while it is still being written: a helper
//! thread calls fdatasync every `STEP` bytes, so the fsync that makes the finished
//! blob durable (before it is named) finds little left to write. Without it that last
//! fsync waited for the whole layer with every core idle.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

const STEP: u64 = 64 << 20;

pub struct EarlyWriteback<'a> {
    file: &'a mut File,
    written: u64,
    next: u64,
    wake: Option<SyncSender<()>>,
    helper: Option<JoinHandle<()>>,
}

impl<'a> EarlyWriteback<'a> {
    pub fn new(file: &'a mut File) -> io::Result<Self> {
        let clone = file.try_clone()?;
        // One request waits at most: a sync still running makes the next a no-op.
        let (wake, requests) = sync_channel::<()>(1);
        let helper = std::thread::spawn(move || {
            while requests.recv().is_ok() {
                // Only a head start: the final fsync reports what matters.
                let _ = clone.sync_data();
            }
        });
        Ok(EarlyWriteback {
            file,
            written: 0,
            next: STEP,
            wake: Some(wake),
            helper: Some(helper),
        })
    }
}

impl Write for EarlyWriteback<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written >= self.next {
            self.next = self.written + STEP;
            if let Some(wake) = &self.wake {
                let _ = wake.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for EarlyWriteback<'_> {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(helper) = self.helper.take() {
            let _ = helper.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    #[test]
    fn what_is_written_past_several_syncs_is_the_file_byte_for_byte() {
        let mut file = tempfile::tempfile().unwrap();
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        {
            let mut w = EarlyWriteback::new(&mut file).unwrap();
            for _ in 0..(2 * STEP / chunk.len() as u64 + 3) {
                w.write_all(&chunk).unwrap();
            }
            w.flush().unwrap();
        }
        let len = 2 * STEP + 3 * chunk.len() as u64;
        assert_eq!(file.metadata().unwrap().len(), len);
        file.rewind().unwrap();
        let mut back = vec![0u8; chunk.len()];
        for _ in 0..len / chunk.len() as u64 {
            file.read_exact(&mut back).unwrap();
            assert!(back == chunk);
        }
    }
}
