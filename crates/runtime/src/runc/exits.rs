//! How berthd learns that a runc container exited: a detached container's init is not
//! berthd's child, so berthd holds a pidfd for it (one per running container, no
//! process per container) and polls them all on the event stream's thread, with an
//! eventfd that wakes the poll when a container is started meanwhile.

use rustix::event::{poll, PollFd, PollFlags};
use rustix::fd::OwnedFd;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// The pidfds of running containers, and a wake-up for the stream when one is added.
pub(super) struct ExitWatch {
    pidfds: Mutex<HashMap<String, OwnedFd>>,
    /// Exits seen before a pidfd could be opened (the process was already gone).
    gone: Mutex<Vec<String>>,
    wake: Option<OwnedFd>,
}

impl ExitWatch {
    pub(super) fn new() -> Self {
        let flags = rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK;
        ExitWatch {
            pidfds: Mutex::new(HashMap::new()),
            gone: Mutex::new(Vec::new()),
            wake: rustix::event::eventfd(0, flags).ok(),
        }
    }

    /// Watches container `id`'s init process `pid`.
    pub(super) fn watch(&self, id: &str, pid: u32) {
        let opened = rustix::process::Pid::from_raw(pid as i32)
            .ok_or(rustix::io::Errno::SRCH)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()));
        match opened {
            Ok(fd) => {
                self.pidfds
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.to_string(), fd);
            }
            Err(_) => self
                .gone
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(id.to_string()),
        }
        if let Some(wake) = &self.wake {
            let _ = rustix::io::write(wake, &1u64.to_ne_bytes());
        }
    }

    pub(super) fn forget(&self, id: &str) {
        self.pidfds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Blocks until a watched process exits; returns its container's id.
    pub(super) fn next_exit(&self) -> Option<String> {
        loop {
            if let Some(id) = self.gone.lock().unwrap_or_else(|p| p.into_inner()).pop() {
                return Some(id);
            }
            // Duplicates of the fds, so the map is not locked while polling.
            let watched: Vec<(String, OwnedFd)> = self
                .pidfds
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .filter_map(|(id, fd)| Some((id.clone(), fd.try_clone().ok()?)))
                .collect();
            let mut fds: Vec<PollFd<'_>> = watched
                .iter()
                .map(|(_, fd)| PollFd::new(fd, PollFlags::IN))
                .collect();
            if let Some(wake) = &self.wake {
                fds.push(PollFd::new(wake, PollFlags::IN));
            }
            // Without an eventfd, new pidfds are picked up within a second.
            let timeout = self.wake.is_none().then_some(rustix::event::Timespec {
                tv_sec: 1,
                tv_nsec: 0,
            });
            if poll(&mut fds, timeout.as_ref()).is_err() {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            let ready: Vec<usize> = fds
                .iter()
                .enumerate()
                .filter(|(_, f)| !f.revents().is_empty())
                .map(|(i, _)| i)
                .collect();
            drop(fds);
            if let Some(wake) = &self.wake {
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(wake, &mut buf);
            }
            if let Some(i) = ready.into_iter().find(|i| *i < watched.len()) {
                let id = watched[i].0.clone();
                self.forget(&id);
                return Some(id);
            }
        }
    }
}
