//! Container output kept under the working path: `logs/<id>.log`, written by podman's
//! conmon in the k8s-file format (`<RFC 3339 time> <stream> <P|F> <text>`), so it
//! survives container restarts and upgrades. Bytes are kept as the container wrote
//! them: output that is not UTF-8 is shown, never an error.
//!
//! berthd rotates it at the monitor tick: past `ROTATE_AT` bytes, its whole lines are
//! copied to `<id>.log.1` (replacing the older one) and then punched out of the live
//! file (`fallocate(PUNCH_HOLE)`), which frees their blocks without moving the end
//! of the file: conmon appends (O_APPEND), so what it writes meanwhile lands after
//! them and nothing is lost (copy-then-truncate would drop it). Readers skip the
//! hole. conmon itself caps a file at `CONMON_CAP`, should berthd not be there.
//!
//! LXC and runc write a container's output to `logs/console/<id>` instead, without
//! times, and Docker to its json-file log; a berthd thread woken by inotify moves each
//! new piece into `<id>.log` in the same format (`pump.rs`), so `--since` works for
//! every runtime.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A container's log is rotated past this size; at most ~2x it is kept on disk.
pub const ROTATE_AT: u64 = 1024 * 1024;

/// conmon's own limit (`max-size`): it starts a new file past it, dropping what
/// berthd did not rotate. Counted by conmon over the file's whole length, holes
/// included, so it is well above `ROTATE_AT`.
pub const CONMON_CAP: u64 = 64 * ROTATE_AT;

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

/// Where the data of a log file starts: after the hole rotations punched (and
/// the zeros of a partly punched block).
fn data_start(file: &mut File) -> io::Result<u64> {
    let from = rustix::fs::seek(&*file, rustix::fs::SeekFrom::Data(0)).unwrap_or(0);
    file.seek(SeekFrom::Start(from))?;
    let mut reader = BufReader::new(&*file);
    let mut at = from;
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(at);
        }
        let zeros = buf.iter().take_while(|b| **b == 0).count();
        at += zeros as u64;
        if zeros < buf.len() {
            return Ok(at);
        }
        let n = buf.len();
        reader.consume(n);
    }
}

/// Frees the first `len` bytes of a file without moving its end.
fn punch_hole(file: &File, len: u64) -> io::Result<()> {
    rustix::fs::fallocate(
        file,
        rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE,
        0,
        len,
    )
    .map_err(io::Error::from)
}

/// Rotates the log of `id` if it holds more than `ROTATE_AT` bytes.
pub fn rotate_if_needed(working_path: &Path, id: &str) -> io::Result<bool> {
    rotate(&path(working_path, id), punch_hole)
}

fn rotate(path: &Path, punch: fn(&File, u64) -> io::Result<()>) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    // The tick asks for every container: a stat answers most of them. The blocks a
    // file holds bound its data from above (a punched hole holds none), so a file
    // with fewer than ROTATE_AT bytes in blocks has nothing to rotate.
    match fs::metadata(path) {
        Ok(m) if m.len() < ROTATE_AT || m.blocks().saturating_mul(512) < ROTATE_AT => {
            return Ok(false)
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    let mut file = match File::options().read(true).write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = data_start(&mut file)?;
    if len.saturating_sub(start) < ROTATE_AT {
        return Ok(false);
    }
    // Whole lines only: the rotated file ends at a line's end, the live one starts
    // at the next line.
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    (&mut file).take(len - start).read_to_end(&mut bytes)?;
    let Some(last_newline) = bytes.iter().rposition(|b| *b == b'\n') else {
        return Ok(false);
    };
    bytes.truncate(last_newline + 1);
    let cut = start + bytes.len() as u64;
    crate::atomic::write_atomic(&rotated(path), &bytes)?;
    if punch(&file, cut).is_err() {
        // A filesystem without holes: keep what follows the cut (a partial line, and
        // whatever came since the copy), empty the file and write that back. What a
        // writer appends between the read and the truncation is lost: the window
        // copy-then-truncate always has, kept as small as it can be.
        let mut rest = Vec::new();
        file.seek(SeekFrom::Start(cut))?;
        file.read_to_end(&mut rest)?;
        file.set_len(0)?;
        file.seek(SeekFrom::Start(0))?;
        std::io::Write::write_all(&mut file, &rest)?;
    }
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

/// One k8s-file line: its time and its text; `partial` when the line continues.
struct Line<'a> {
    time: Option<SystemTime>,
    partial: bool,
    text: &'a [u8],
}

fn parse(line: &[u8]) -> Option<Line<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?;
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let text = parts.next().unwrap_or(b"");
    Some(Line {
        time: humantime::parse_rfc3339_weak(time.get(..19)?)
            .ok()
            .map(|t| t + sub_second(time)),
        partial: tag.starts_with(b"P"),
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

/// The container's output: the rotated file, then the current one; lines at or after
/// `since`, the last `tail` of them. Also returns where the current file ends.
pub fn read(
    working_path: &Path,
    id: &str,
    since: Option<SystemTime>,
    tail: Option<u64>,
) -> io::Result<(Vec<u8>, u64)> {
    let path = path(working_path, id);
    let mut out = Vec::new();
    let mut end = 0;
    for (n, p) in [rotated(&path), path.clone()].iter().enumerate() {
        let mut file = match File::open(p) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let len = file.metadata()?.len();
        let start = data_start(&mut file)?;
        file.seek(SeekFrom::Start(start))?;
        let mut raw = Vec::new();
        (&mut file).take(len - start).read_to_end(&mut raw)?;
        if n == 1 {
            end = start + raw.len() as u64;
        }
        out.extend(render(&raw, since));
    }
    if let Some(n) = tail {
        let lines: Vec<&[u8]> = out.split_inclusive(|b| *b == b'\n').collect();
        let skip = lines
            .len()
            .saturating_sub(usize::try_from(n).unwrap_or(usize::MAX));
        out = lines[skip..].concat();
    }
    Ok((out, end))
}

fn render(raw: &[u8], since: Option<SystemTime>) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        // A line not in the k8s-file format (not written by conmon or berthd) is
        // shown as it is.
        let Some(l) = parse(line).filter(|l| l.time.is_some()) else {
            out.extend_from_slice(line);
            out.push(b'\n');
            continue;
        };
        if let (Some(since), Some(t)) = (since, l.time) {
            if t < since {
                continue;
            }
        }
        out.extend_from_slice(l.text);
        if !l.partial {
            out.push(b'\n');
        }
    }
    out
}

/// Follows the log from byte `from`, sending new output to `send` until it returns
/// false (asked with nothing new every 200 ms, so a client that left is noticed); a
/// file that shrank (conmon started a new one) is read again from its start.
pub fn follow(working_path: &Path, id: &str, mut from: u64, mut send: impl FnMut(Vec<u8>) -> bool) {
    let path = path(working_path, id);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let Ok(mut file) = File::open(&path) else {
            if !send(Vec::new()) {
                return;
            }
            continue;
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        if len < from {
            from = 0;
        }
        if len == from {
            if !send(Vec::new()) {
                return;
            }
            continue;
        }
        if from == 0 {
            from = data_start(&mut file).unwrap_or(0);
        }
        if file.seek(SeekFrom::Start(from)).is_err() {
            continue;
        }
        let mut reader = BufReader::new(file);
        let mut chunk = Vec::new();
        let mut line = Vec::new();
        while let Ok(n) = reader.read_until(b'\n', &mut line) {
            // Only whole lines: a line still being written is read next time.
            if n == 0 || !line.ends_with(b"\n") {
                break;
            }
            from += n as u64;
            chunk.extend_from_slice(&line);
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
    let ago = humantime::parse_duration(value).map_err(|_| {
        format!("since must be an RFC 3339 time or a duration like 10m, got {value:?}")
    })?;
    SystemTime::now()
        .checked_sub(ago)
        .ok_or_else(|| format!("since {value:?} reaches before the clock can count"))
}

mod pump;
pub use pump::{pump_console, pump_consoles, pump_json_log};

#[cfg(test)]
mod tests;
