//! Container output kept under the working path: `logs/<id>.log`, written by podman's
//! conmon in the k8s-file format (`<RFC 3339 time> <stream> <P|F> <text>`), so it
//! survives container restarts and upgrades. berthd rotates it at the monitor tick:
//! past `ROTATE_AT` bytes the file is copied to `<id>.log.1` (replacing the older one)
//! and truncated — safe because conmon appends (O_APPEND). conmon itself caps the file
//! at twice that, should berthd not be there to rotate.
//!
//! LXC writes a container's console to `logs/console/<id>` instead, without times; a
//! berthd thread woken by inotify moves each new piece into `<id>.log` in the same
//! format, stamped with the moment it saw it, so `--since` works for both runtimes.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A container's log is rotated past this size; at most ~2x it is kept on disk.
pub const ROTATE_AT: u64 = 1024 * 1024;

pub fn dir(working_path: &Path) -> PathBuf {
    working_path.join("logs")
}

pub fn path(working_path: &Path, id: &str) -> PathBuf {
    dir(working_path).join(format!("{id}.log"))
}

fn rotated(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".1");
    PathBuf::from(p)
}

/// The podman options that send a container's output to its log file.
pub fn create_args(working_path: &Path, id: &str) -> Vec<String> {
    vec![
        "--log-driver".into(),
        "k8s-file".into(),
        "--log-opt".into(),
        format!("path={}", path(working_path, id).display()),
        "--log-opt".into(),
        format!("max-size={}", 2 * ROTATE_AT),
    ]
}

/// Rotates the log of `id` if it grew past `ROTATE_AT`.
pub fn rotate_if_needed(working_path: &Path, id: &str) -> io::Result<bool> {
    let path = path(working_path, id);
    let len = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    if len < ROTATE_AT {
        return Ok(false);
    }
    let old = rotated(&path);
    let tmp = path.with_extension("log.1.tmp");
    fs::copy(&path, &tmp)?;
    fs::rename(&tmp, &old)?;
    File::options().write(true).open(&path)?.set_len(0)?;
    Ok(true)
}

/// Removes a container's log files.
pub fn remove(working_path: &Path, id: &str) {
    let path = path(working_path, id);
    let _ = fs::remove_file(rotated(&path));
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(console_path(working_path, id));
}

/// Where LXC writes the consoles of berthd's containers (`lxc.console.logfile`).
pub fn console_dir(working_path: &Path) -> PathBuf {
    dir(working_path).join("console")
}

pub fn console_path(working_path: &Path, id: &str) -> PathBuf {
    console_dir(working_path).join(id)
}

/// Moves what LXC wrote to `id`'s console log from byte `offset` on into `<id>.log`,
/// as k8s-file lines stamped now (a trailing piece without its newline as a partial
/// line). Then, if nothing came meanwhile, empties the console log — LXC appends, so
/// its next write lands at the start — and returns 0; else the offset reached. A
/// berthd killed between the two steps shows that piece twice, never loses it.
pub fn pump_console(working_path: &Path, id: &str, offset: u64) -> io::Result<u64> {
    let console = console_path(working_path, id);
    let mut file = match File::open(&console) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let offset = if len < offset { 0 } else { offset };
    if len == offset {
        return Ok(offset);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let stamp = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
    let text = String::from_utf8_lossy(&bytes);
    let mut out = String::with_capacity(text.len() + 64);
    for piece in text.split_inclusive('\n') {
        let (line, tag) = match piece.strip_suffix('\n') {
            Some(line) => (line, "F"),
            None => (piece, "P"),
        };
        // The console is a terminal: lines end in CR LF.
        let line = line.trim_end_matches('\r');
        out.push_str(&format!("{stamp} stdout {tag} {line}\n"));
    }
    let mut log = File::options()
        .create(true)
        .append(true)
        .open(path(working_path, id))?;
    std::io::Write::write_all(&mut log, out.as_bytes())?;
    let reached = offset + bytes.len() as u64;
    if fs::metadata(&console)?.len() == reached {
        File::options().write(true).open(&console)?.set_len(0)?;
        return Ok(0);
    }
    Ok(reached)
}

/// For as long as berthd runs: moves LXC console output into the containers' logs
/// as it appears (inotify on the console directory; a 1 s poll where inotify is
/// not available). What came while berthd was down is moved at once, stamped with
/// the time berthd starts.
pub fn pump_consoles(working_path: &Path) {
    use rustix::fs::inotify;
    let dir = console_dir(working_path);
    let _ = fs::create_dir_all(&dir);
    let mut offsets: std::collections::HashMap<String, u64> = Default::default();
    let mut pump = |id: String| {
        let from = offsets.get(&id).copied().unwrap_or(0);
        match pump_console(working_path, &id, from) {
            Ok(reached) => {
                offsets.insert(id, reached);
            }
            Err(e) => crate::log::warn(format!("{id}: moving its console output: {e}")),
        }
    };
    let everything = |pump: &mut dyn FnMut(String)| {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            pump(entry.file_name().to_string_lossy().into_owned());
        }
    };
    everything(&mut pump);
    let watch = inotify::init(inotify::CreateFlags::CLOEXEC).and_then(|fd| {
        inotify::add_watch(
            &fd,
            &dir,
            inotify::WatchFlags::MODIFY | inotify::WatchFlags::CREATE,
        )?;
        Ok(fd)
    });
    let Ok(fd) = watch else {
        crate::log::warn("no inotify: LXC console output is moved to the logs once a second");
        loop {
            std::thread::sleep(Duration::from_secs(1));
            everything(&mut pump);
        }
    };
    let mut buf = [std::mem::MaybeUninit::uninit(); 4096];
    let mut events = inotify::Reader::new(&fd, &mut buf);
    loop {
        // One pump per file for all the events one read returned.
        let mut touched = std::collections::BTreeSet::new();
        loop {
            match events.next() {
                Ok(event) => {
                    if let Some(name) = event.file_name() {
                        touched.insert(name.to_string_lossy().into_owned());
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_secs(1)),
            }
            if events.is_buffer_empty() {
                break;
            }
        }
        touched.into_iter().for_each(&mut pump);
    }
}

/// One k8s-file line: its time and its text; `partial` when the line continues.
struct Line<'a> {
    time: Option<SystemTime>,
    partial: bool,
    text: &'a str,
}

fn parse(line: &str) -> Option<Line<'_>> {
    let mut parts = line.splitn(4, ' ');
    let time = parts.next()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or("");
    Some(Line {
        time: humantime::parse_rfc3339_weak(&time[..time.len().min(19)])
            .ok()
            .map(|t| t + sub_second(time)),
        partial: tag.starts_with('P'),
        text,
    })
}

/// The fraction of a second in an RFC 3339 time, so --since is not rounded.
fn sub_second(time: &str) -> Duration {
    time.get(19..)
        .and_then(|rest| rest.strip_prefix('.'))
        .map(|frac| {
            let digits: String = frac
                .chars()
                .take_while(char::is_ascii_digit)
                .take(9)
                .collect();
            let nanos: u32 = format!("{digits:0<9}").parse().unwrap_or(0);
            Duration::from_nanos(nanos.into())
        })
        .unwrap_or_default()
}

/// The container's output as text: the rotated file, then the current one; lines at
/// or after `since`, the last `tail` of them.
pub fn read(
    working_path: &Path,
    id: &str,
    since: Option<SystemTime>,
    tail: Option<u64>,
) -> io::Result<(String, u64)> {
    let path = path(working_path, id);
    let mut text = String::new();
    let mut end = 0;
    for (n, p) in [rotated(&path), path.clone()].iter().enumerate() {
        let mut raw = String::new();
        match File::open(p) {
            Ok(mut f) => {
                f.read_to_string(&mut raw)?;
                if n == 1 {
                    end = raw.len() as u64;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        text.push_str(&render(&raw, since));
    }
    if let Some(n) = tail {
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let skip = lines.len().saturating_sub(n as usize);
        text = lines[skip..].concat();
    }
    Ok((text, end))
}

fn render(raw: &str, since: Option<SystemTime>) -> String {
    let mut out = String::new();
    for line in raw.lines() {
        // A line not in the k8s-file format (not written by conmon or berthd) is
        // shown as it is.
        let Some(l) = parse(line).filter(|l| l.time.is_some()) else {
            out.push_str(line.trim_end_matches('\r'));
            out.push('\n');
            continue;
        };
        if let (Some(since), Some(t)) = (since, l.time) {
            if t < since {
                continue;
            }
        }
        out.push_str(l.text);
        if !l.partial {
            out.push('\n');
        }
    }
    out
}

/// Follows the log from byte `from`, sending new text to `send` until it returns
/// false; a truncated file (rotation) is read again from its start.
pub fn follow(working_path: &Path, id: &str, mut from: u64, mut send: impl FnMut(String) -> bool) {
    let path = path(working_path, id);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Ok(mut file) = File::open(&path) else {
            if !send(String::new()) {
                return;
            }
            continue;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < from {
            from = 0;
        }
        if len == from {
            // Nothing new; an empty send tells whether the client is still there.
            if !send(String::new()) {
                return;
            }
            continue;
        }
        if file.seek(SeekFrom::Start(from)).is_err() {
            continue;
        }
        let mut reader = BufReader::new(file);
        let mut chunk = String::new();
        let mut line = String::new();
        while let Ok(n) = reader.read_line(&mut line) {
            // Only whole lines: a line still being written is read next time.
            if n == 0 || !line.ends_with('\n') {
                break;
            }
            from += n as u64;
            chunk.push_str(&line);
            line.clear();
        }
        if !send(render(&chunk, None)) {
            return;
        }
    }
}

/// A `--since` value: an RFC 3339 time, or a duration ago ("10m", "2h 30m").
pub fn parse_since(value: &str) -> Result<SystemTime, String> {
    if let Ok(t) = humantime::parse_rfc3339_weak(value) {
        return Ok(t);
    }
    humantime::parse_duration(value)
        .map(|d| SystemTime::now() - d)
        .map_err(|_| {
            format!("since must be an RFC 3339 time or a duration like 10m, got {value:?}")
        })
}

/// Writes `text` to `out`, for tests of the format.
#[cfg(test)]
fn k8s(out: &mut impl std::io::Write, time: &str, tag: &str, text: &str) {
    writeln!(out, "{time} stdout {tag} {text}").unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_files_with_since_tail_and_partial_lines() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(super::dir(dir.path())).unwrap();
        let p = path(dir.path(), "web");
        let mut old = File::create(rotated(&p)).unwrap();
        k8s(&mut old, "2026-01-01T00:00:00.100000000+00:00", "F", "one");
        let mut cur = File::create(&p).unwrap();
        k8s(&mut cur, "2026-01-01T00:00:01.500000000+00:00", "P", "two-");
        k8s(
            &mut cur,
            "2026-01-01T00:00:01.600000000+00:00",
            "F",
            "and-a-half",
        );
        k8s(
            &mut cur,
            "2026-01-01T00:00:02.000000000+00:00",
            "F",
            "three",
        );
        let (all, _) = read(dir.path(), "web", None, None).unwrap();
        assert_eq!(all, "one\ntwo-and-a-half\nthree\n");
        let since = humantime::parse_rfc3339("2026-01-01T00:00:01.550Z").unwrap();
        let (later, _) = read(dir.path(), "web", Some(since), None).unwrap();
        assert_eq!(later, "and-a-half\nthree\n");
        let (last, _) = read(dir.path(), "web", None, Some(1)).unwrap();
        assert_eq!(last, "three\n");
    }

    #[test]
    fn console_output_is_moved_into_the_log_with_times() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(console_dir(dir.path())).unwrap();
        let console = console_path(dir.path(), "box");
        let append = |text: &str| {
            let mut f = File::options()
                .create(true)
                .append(true)
                .open(&console)
                .unwrap();
            std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        };
        let before = SystemTime::now();
        append("hello\r\nhalf a ");
        assert_eq!(pump_console(dir.path(), "box", 0).unwrap(), 0);
        assert_eq!(
            fs::metadata(&console).unwrap().len(),
            0,
            "emptied once moved"
        );
        append("line\r\n");
        assert_eq!(pump_console(dir.path(), "box", 0).unwrap(), 0);
        let (all, _) = read(dir.path(), "box", None, None).unwrap();
        assert_eq!(all, "hello\nhalf a line\n");
        let (since, _) = read(dir.path(), "box", Some(before), None).unwrap();
        assert_eq!(since, all, "stamped when moved, not before");
        let later = SystemTime::now() + Duration::from_secs(1);
        assert_eq!(read(dir.path(), "box", Some(later), None).unwrap().0, "");
        // No console log (yet): nothing to do.
        assert_eq!(pump_console(dir.path(), "none", 0).unwrap(), 0);
    }

    #[test]
    fn rotation_keeps_one_old_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(super::dir(dir.path())).unwrap();
        let p = path(dir.path(), "web");
        fs::write(&p, vec![b'x'; ROTATE_AT as usize]).unwrap();
        assert!(rotate_if_needed(dir.path(), "web").unwrap());
        assert_eq!(fs::metadata(&p).unwrap().len(), 0);
        assert_eq!(fs::metadata(rotated(&p)).unwrap().len(), ROTATE_AT);
        assert!(!rotate_if_needed(dir.path(), "web").unwrap());
        assert!(!rotate_if_needed(dir.path(), "nothing").unwrap());
    }

    #[test]
    fn since_takes_times_and_durations() {
        assert!(parse_since("2026-01-01T00:00:00Z").is_ok());
        let t = parse_since("10m").unwrap();
        let ago = SystemTime::now().duration_since(t).unwrap();
        assert!(ago >= Duration::from_secs(600) && ago < Duration::from_secs(700));
        assert!(parse_since("yesterday-ish").is_err());
    }
}
