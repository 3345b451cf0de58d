//! Moving output that a runtime writes elsewhere into the container's log: LXC's
//! console log and runc's output file (`logs/console/<id>`, plain text, stamped with
//! the moment berthd sees it) and Docker's json-file log (its own times and streams).
//!
//! Each move appends the new piece to `<id>.log` and then, if nothing came
//! meanwhile, empties the source — the writers append (O_APPEND), so their next
//! write lands at its start — and starts over at 0; else it goes on from the offset
//! reached. A berthd killed between the two steps shows that piece twice, never
//! loses it.

use super::{console_dir, console_path, path};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Moves what was written to `source` from byte `offset` on into `log`: `convert`
/// turns the new bytes into k8s-file lines and says how many it consumed (a line
/// still being written waits). Returns the offset to go on from.
fn pump_file(
    source: &Path,
    log: &Path,
    offset: u64,
    convert: impl Fn(&[u8]) -> (String, usize),
) -> io::Result<u64> {
    let mut file = match File::open(source) {
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
    (&mut file).take(len - offset).read_to_end(&mut bytes)?;
    let (text, consumed) = convert(&bytes);
    if !text.is_empty() {
        let mut out = File::options().create(true).append(true).open(log)?;
        std::io::Write::write_all(&mut out, text.as_bytes())?;
    }
    let reached = offset + consumed as u64;
    if fs::metadata(source)?.len() == reached {
        File::options().write(true).open(source)?.set_len(0)?;
        return Ok(0);
    }
    Ok(reached)
}

/// Moves what LXC or runc wrote to `id`'s console file from byte `offset` on into
/// `<id>.log`, as k8s-file lines stamped now (a trailing piece without its newline as
/// a partial line).
pub fn pump_console(working_path: &Path, id: &str, offset: u64) -> io::Result<u64> {
    let stamp = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
    pump_file(
        &console_path(working_path, id),
        &path(working_path, id),
        offset,
        |bytes| {
            let text = String::from_utf8_lossy(bytes);
            let mut out = String::with_capacity(text.len() + 64);
            for piece in text.split_inclusive('\n') {
                let (line, tag) = match piece.strip_suffix('\n') {
                    Some(line) => (line, "F"),
                    None => (piece, "P"),
                };
                // A console is a terminal: lines end in CR LF.
                let line = line.trim_end_matches('\r');
                out.push_str(&format!("{stamp} stdout {tag} {line}\n"));
            }
            (out, bytes.len())
        },
    )
}

/// One line of Docker's json-file log.
#[derive(serde::Deserialize)]
struct JsonLine {
    log: String,
    #[serde(default)]
    stream: String,
    time: String,
}

/// Moves what Docker wrote to its json-file log `source` from byte `offset` on into
/// `id`'s log, with Docker's own times and streams. Only whole lines are moved; a line
/// that is not Docker's JSON (or zeros, should the file have been emptied under a
/// writer that does not append) is skipped.
pub fn pump_json_log(working_path: &Path, id: &str, source: &Path, offset: u64) -> io::Result<u64> {
    pump_file(source, &path(working_path, id), offset, |bytes| {
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let mut out = String::new();
        for line in bytes[..whole].split(|b| *b == b'\n') {
            let line = match line.iter().position(|b| *b != 0) {
                Some(start) => &line[start..],
                None => continue,
            };
            let Ok(l) = serde_json::from_slice::<JsonLine>(line) else {
                continue;
            };
            let (text, tag) = match l.log.strip_suffix('\n') {
                Some(text) => (text, "F"),
                None => (l.log.as_str(), "P"),
            };
            let stream = if l.stream == "stderr" {
                "stderr"
            } else {
                "stdout"
            };
            out.push_str(&format!("{} {stream} {tag} {text}\n", l.time));
        }
        (out, whole)
    })
}

/// For as long as berthd runs: moves console output into the containers' logs as it
/// appears (inotify on the console directory; a 1 s poll where inotify is not
/// available). What came while berthd was down is moved at once, stamped with the
/// time berthd starts.
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
            Err(e) => crate::daemon_log::warn(format!("{id}: moving its console output: {e}")),
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
        crate::daemon_log::warn("no inotify: console output is moved to the logs once a second");
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
