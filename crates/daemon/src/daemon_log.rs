//! berthd's own log, by its configuration's `logging` section: the console
//! (stderr), syslog (the local socket `/dev/log`, facility daemon, identity
//! "berthd") and a file rotated at `max_size` (one old file kept, `<path>.1`), each
//! with its level (`logging.level` unless the sink names its own). Before `init`
//! (tests, tools) everything goes to stderr.

use crate::config::{Level, Logging};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

pub const SYSLOG_SOCKET: &str = "/dev/log";
/// syslog's "daemon" facility.
const FACILITY_DAEMON: u8 = 3;

struct FileSink {
    level: Level,
    path: PathBuf,
    max_size: u64,
    file: Mutex<Option<File>>,
}

struct SyslogSink {
    level: Level,
    socket: UnixDatagram,
}

pub struct Logger {
    console: Option<Level>,
    syslog: Option<SyslogSink>,
    file: Option<FileSink>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warning => 4,
        Level::Info => 6,
        Level::Debug => 7,
    }
}

fn prefix(level: Level) -> &'static str {
    match level {
        Level::Error => "error: ",
        Level::Warning => "warning: ",
        Level::Info | Level::Debug => "",
    }
}

impl Logger {
    /// The sinks `cfg` enables; a sink that cannot be opened is reported on stderr
    /// and left out, so logging never stops the daemon.
    pub fn new(cfg: &Logging, syslog_socket: &Path) -> Logger {
        let level_of = |own: Option<Level>| own.unwrap_or(cfg.level);
        let syslog = cfg.syslog.enabled.then(|| {
            UnixDatagram::unbound()
                .and_then(|s| s.connect(syslog_socket).map(|_| s))
                .map_err(|e| {
                    eprintln!(
                        "berthd: warning: syslog: cannot reach {}: {e}",
                        syslog_socket.display()
                    )
                })
                .ok()
                .map(|socket| SyslogSink {
                    level: level_of(cfg.syslog.level),
                    socket,
                })
        });
        let file = cfg.file.enabled.then(|| FileSink {
            level: level_of(cfg.file.level),
            path: cfg.file.path.clone(),
            max_size: cfg.file.max_size.into(),
            file: Mutex::new(None),
        });
        Logger {
            console: cfg.console.enabled.then(|| level_of(cfg.console.level)),
            syslog: syslog.flatten(),
            file,
        }
    }

    pub fn log(&self, level: Level, message: &str) {
        if self.console.is_some_and(|l| level >= l) {
            eprintln!("berthd: {}{message}", prefix(level));
        }
        if let Some(s) = self.syslog.as_ref().filter(|s| level >= s.level) {
            let pri = FACILITY_DAEMON * 8 + severity(level);
            let line = format!("<{pri}>berthd[{}]: {message}", std::process::id());
            let _ = s.socket.send(line.as_bytes());
        }
        if let Some(f) = self.file.as_ref().filter(|f| level >= f.level) {
            let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now());
            let line = format!("{stamp} {}{message}\n", prefix(level));
            if let Err(e) = f.write(line.as_bytes()) {
                eprintln!("berthd: warning: {}: {e}", f.path.display());
            }
        }
    }
}

impl FileSink {
    /// Appends, rotating first when the line would take the file past `max_size`.
    fn write(&self, line: &[u8]) -> io::Result<()> {
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            *guard = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        let len = guard
            .as_ref()
            .map_or(Ok(0), |f| f.metadata().map(|m| m.len()))?;
        if len > 0 && len + line.len() as u64 > self.max_size {
            let mut old = self.path.as_os_str().to_owned();
            old.push(".1");
            std::fs::rename(&self.path, PathBuf::from(old))?;
            *guard = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)?,
            );
        }
        guard.as_mut().expect("opened above").write_all(line)
    }
}

/// Sets the daemon's logger (once).
pub fn init(cfg: &Logging) {
    let _ = LOGGER.set(Logger::new(cfg, Path::new(SYSLOG_SOCKET)));
}

pub fn log(level: Level, message: &str) {
    match LOGGER.get() {
        Some(l) => l.log(level, message),
        None => eprintln!("berthd: {}{message}", prefix(level)),
    }
}

pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message.as_ref())
}

pub fn warn(message: impl AsRef<str>) {
    log(Level::Warning, message.as_ref())
}

pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message.as_ref())
}

pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn each_sink_has_its_level_and_the_file_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let socket_path = dir.path().join("log.sock");
        let receiver = UnixDatagram::bind(&socket_path).unwrap();
        receiver
            .set_read_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        let mut cfg = Config::default().logging;
        cfg.level = Level::Info;
        cfg.console.enabled = false;
        cfg.syslog.enabled = true;
        cfg.syslog.level = Some(Level::Warning);
        cfg.file.enabled = true;
        cfg.file.level = Some(Level::Debug);
        cfg.file.path = dir.path().join("berthd.log");
        cfg.file.max_size = 120;
        let logger = Logger::new(&cfg, &socket_path);

        logger.log(Level::Info, "installed web 1.0");
        logger.log(Level::Warning, "web: stopped unexpectedly");
        logger.log(Level::Debug, "tick");
        let mut buf = [0u8; 256];
        let n = receiver.recv(&mut buf).unwrap();
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        // The info line was below syslog's level: the first datagram is the warning.
        assert_eq!(
            got,
            format!(
                "<28>berthd[{}]: web: stopped unexpectedly",
                std::process::id()
            )
        );
        let current = std::fs::read_to_string(&cfg.file.path).unwrap();
        let old = std::fs::read_to_string(dir.path().join("berthd.log.1")).unwrap();
        let all = old + &current;
        assert!(all.contains(" installed web 1.0\n"), "{all}");
        assert!(
            all.contains(" warning: web: stopped unexpectedly\n"),
            "{all}"
        );
        assert!(current.contains(" tick\n"), "{current}");
        assert!(std::fs::metadata(&cfg.file.path).unwrap().len() <= 120);
    }

    #[test]
    fn an_unreachable_syslog_does_not_stop_logging() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::default().logging;
        cfg.syslog.enabled = true;
        cfg.console.enabled = false;
        cfg.file.enabled = true;
        cfg.file.path = dir.path().join("berthd.log");
        let logger = Logger::new(&cfg, &dir.path().join("nothing-here"));
        assert!(logger.syslog.is_none());
        logger.log(Level::Error, "still fine");
        logger.log(Level::Error, "and again");
        // The other sinks still get every line.
        let file = std::fs::read_to_string(&cfg.file.path).unwrap();
        assert!(
            file.contains(" still fine\n") && file.contains(" and again\n"),
            "{file}"
        );
    }
}
