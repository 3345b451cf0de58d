//! Container output kept under the working path: `logs/<id>.log`, written by podman's
//! conmon in the k8s-file format (`<RFC 3339 time> <stream> <P|F> <text>`), so it
//! survives container restarts and upgrades. berthd rotates it at the monitor tick:
//! past `ROTATE_AT` bytes the file is copied to `<id>.log.1` (replacing the older one)
//! and truncated — safe because conmon appends (O_APPEND). conmon itself caps the file
//! at twice that, should berthd not be there to rotate.

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
        // A line not in the k8s-file format (an LXC console log) is shown as it is.
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
