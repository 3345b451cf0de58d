//! Output that an engine writes to a file of its own (Docker's json-file log) is
//! moved into the containers' logs under the working path as it appears: inotify on
//! each of those files, and which files they are looked up again (containers.conf,
//! then the engine's inspect for a container berthd has no file for, or whose file
//! went: an upgrade's new container has a new one) when containers.conf changes — an
//! install's first lines show at once — and every `REFRESH`.

use crate::daemon::Daemon;
use rustix::fs::inotify;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REFRESH: Duration = Duration::from_secs(5);

/// One engine log being moved.
struct Source {
    path: PathBuf,
    offset: u64,
    watch: Option<i32>,
}

/// Whether any of berthd's runtimes keeps its own log files (else no thread runs).
pub fn needed(daemon: &Daemon) -> bool {
    daemon.drivers().any(|d| d.runtime().keeps_own_logs())
}

pub fn pump_engine_logs(daemon: Arc<Daemon>) {
    let wp = daemon.home.working_path().to_path_buf();
    let fd = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).ok();
    let mut sources: HashMap<String, Source> = HashMap::new();
    let mut refreshed: Option<Instant> = None;
    let mut buf = [std::mem::MaybeUninit::uninit(); 4096];
    // containers.conf is replaced by a rename into the working path.
    let conf_watch = fd.as_ref().and_then(|fd| {
        inotify::add_watch(
            fd,
            &wp,
            inotify::WatchFlags::MOVED_TO | inotify::WatchFlags::CLOSE_WRITE,
        )
        .ok()
    });
    loop {
        if refreshed.is_none_or(|t| t.elapsed() >= REFRESH) {
            refresh(&daemon, fd.as_ref(), &mut sources);
            refreshed = Some(Instant::now());
            for (id, s) in sources.iter_mut() {
                pump(&wp, id, s);
            }
        }
        let Some(fd) = fd.as_ref() else {
            std::thread::sleep(Duration::from_secs(1));
            refreshed = None;
            continue;
        };
        let mut pfd = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
        let timeout = rustix::event::Timespec {
            tv_sec: REFRESH.as_secs() as i64,
            tv_nsec: 0,
        };
        if !matches!(rustix::event::poll(&mut pfd, Some(&timeout)), Ok(n) if n > 0) {
            continue;
        }
        let mut touched = std::collections::BTreeSet::new();
        let mut events = inotify::Reader::new(fd, &mut buf);
        while let Ok(event) = events.next() {
            let conf = Some(event.wd()) == conf_watch
                && event
                    .file_name()
                    .is_some_and(|n| n.to_bytes() == b"containers.conf");
            if conf {
                refreshed = None;
            }
            touched.insert(event.wd());
        }
        if refreshed.is_none() {
            continue; // refreshed, and every file pumped, at the top
        }
        for (id, s) in sources.iter_mut() {
            if s.watch.is_some_and(|w| touched.contains(&w)) {
                pump(&wp, id, s);
            }
        }
    }
}

fn pump(wp: &std::path::Path, id: &str, s: &mut Source) {
    match crate::container_log::pump_json_log(wp, id, &s.path, s.offset) {
        Ok(reached) => s.offset = reached,
        Err(e) => crate::daemon_log::warn(format!("{id}: moving its output: {e}")),
    }
}

/// The registered containers of runtimes with their own log files, and their files.
fn refresh(
    daemon: &Daemon,
    fd: Option<&rustix::fd::OwnedFd>,
    sources: &mut HashMap<String, Source>,
) {
    let Ok(conf) = daemon.home.containers() else {
        return;
    };
    let mut keep = std::collections::HashSet::new();
    // Replaced containers (an upgrade's old one is kept for a rollback): their log
    // file still exists, but is no longer theirs.
    let replaced = daemon.take_replaced();
    for entry in &conf.containers {
        let Ok(driver) = daemon.driver_for(entry) else {
            continue;
        };
        let rt = driver.runtime();
        if !rt.keeps_own_logs() {
            continue;
        }
        keep.insert(entry.id.clone());
        if sources.get(&entry.id).is_some_and(|s| s.path.exists()) && !replaced.contains(&entry.id)
        {
            continue;
        }
        let Some(path) = rt.state(&entry.id).ok().and_then(|s| s.log_path) else {
            continue;
        };
        if sources.get(&entry.id).is_some_and(|s| s.path == path) {
            continue; // the same file: pumped on from where it was
        }
        let watch =
            fd.and_then(|fd| inotify::add_watch(fd, &path, inotify::WatchFlags::MODIFY).ok());
        if let Some(old) = sources.insert(
            entry.id.clone(),
            Source {
                path,
                offset: 0,
                watch,
            },
        ) {
            unwatch(fd, old.watch);
        }
    }
    sources.retain(|id, s| {
        let kept = keep.contains(id);
        if !kept {
            unwatch(fd, s.watch);
        }
        kept
    });
}

fn unwatch(fd: Option<&rustix::fd::OwnedFd>, watch: Option<i32>) {
    if let (Some(fd), Some(w)) = (fd, watch) {
        let _ = inotify::remove_watch(fd, w);
    }
}
