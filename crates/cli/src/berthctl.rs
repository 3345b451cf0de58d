//! `berthctl`: the operator's command line for berthd. A small synchronous HTTP/1.1
//! client over the unix socket: no async runtime, no TLS, little to link.

use berth_api::{Container, ErrorBody, Info, Status};
use clap::{Parser, Subcommand};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;

/// Control berthd, the berth device daemon.
///
/// Exit codes: 0 ok, 1 the operation failed, 2 bad input, 3 berthd unreachable.
#[derive(Parser)]
#[command(name = "berthctl", version, max_term_width = 100)]
struct Args {
    /// berthd's API socket.
    #[arg(
        long,
        global = true,
        env = "BERTH_SOCKET",
        default_value = "/run/berth/berthd.sock"
    )]
    socket: PathBuf,
    /// Print data as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install a package (a file, or - for standard input); an installed id with
    /// another version is upgraded in place.
    Install {
        /// The package: berth pack's .tar.gz / .tar.zst, or - to read standard input.
        package: PathBuf,
        /// Replace the same version if it is installed already.
        #[arg(long)]
        force: bool,
    },
    /// Stop and remove a container, its registration and its image.
    Uninstall {
        /// The container's id.
        id: String,
    },
    /// Start a container.
    Start {
        /// The container's id.
        id: String,
    },
    /// Stop a container (it is not restarted: a stop through berthd is never a crash).
    Stop {
        /// The container's id.
        id: String,
        /// Seconds to wait after SIGTERM before SIGKILL.
        #[arg(long, short = 't', default_value_t = 10)]
        time: u64,
    },
    /// Stop, then start a container.
    Restart {
        /// The container's id.
        id: String,
        /// Seconds to wait after SIGTERM before SIGKILL.
        #[arg(long, short = 't', default_value_t = 10)]
        time: u64,
    },
    /// A container's output.
    Logs {
        /// The container's id.
        id: String,
        /// Keep printing new output until interrupted.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        /// Only output since this time: RFC 3339 (2026-11-23T09:00:00Z) or a
        /// duration ago (10m, 1h).
        #[arg(long, value_name = "T")]
        since: Option<String>,
    },
    /// CPU, memory, network, block I/O and processes of a running container.
    Stats {
        /// The container's id.
        id: String,
        /// Refresh every few seconds until interrupted (with --json: a line each time).
        #[arg(long, short = 'w')]
        watch: bool,
        /// Seconds between refreshes with --watch.
        #[arg(long, default_value_t = 2, value_name = "S")]
        interval: u64,
    },
    /// Daemon version, runtimes found, working path, free disk.
    Info,
    /// The managed containers.
    List,
    /// What the runtime says of a container now (`missing` when it is gone).
    Status {
        /// The container's id.
        id: String,
    },
    /// A container's registered settings (autostart, monitor, restart.*).
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print all settings, or the one named by KEY (e.g. restart.window).
    Get {
        /// The container's id.
        id: String,
        /// autostart, monitor, restart, restart.enabled, restart.max_retries,
        /// restart.window or restart.retry_delay.
        key: Option<String>,
    },
    /// Change a setting without reinstalling: autostart, monitor or restart.<enabled|
    /// max_retries|window|retry_delay>. VALUE is true/false or a whole number.
    Set {
        /// The container's id.
        id: String,
        key: String,
        value: String,
    },
}

enum Failure {
    Failed(String),
    BadInput(String),
    Unreachable(String),
}

/// Container ids travel in URL paths: only the characters an id may have.
fn checked_id(id: &str) -> Result<&str, Failure> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if ok {
        Ok(id)
    } else {
        Err(Failure::BadInput(format!(
            "{id:?} is not a container id (1-128 of A-Z a-z 0-9 . _ - +)"
        )))
    }
}

fn connect(socket: &PathBuf) -> Result<UnixStream, Failure> {
    UnixStream::connect(socket).map_err(|e| {
        Failure::Unreachable(format!(
            "cannot reach berthd at {}: {e} (start it with `systemctl start berthd` or `berthd`; --socket or BERTH_SOCKET point elsewhere)",
            socket.display()
        ))
    })
}

fn talk(e: std::io::Error) -> Failure {
    Failure::Failed(format!("talking to berthd: {e}"))
}

/// An answer: its status, and its body as it arrives.
struct Answer {
    status: u16,
    body: Box<dyn Read>,
}

impl Answer {
    fn bytes(mut self) -> Result<(u16, Vec<u8>), Failure> {
        let mut body = Vec::new();
        self.body.read_to_end(&mut body).map_err(talk)?;
        Ok((self.status, body))
    }
}

/// A request body streamed from a reader, and what to tell of the bytes sent.
type Upload<'a> = (&'a mut dyn Read, &'a mut dyn FnMut(u64));

/// Sends a request; a `body` goes chunked, with `progress` told the bytes sent.
fn request(
    socket: &PathBuf,
    method: &str,
    path: &str,
    body: Option<Upload<'_>>,
    json: Option<&serde_json::Value>,
) -> Result<Answer, Failure> {
    let mut stream = connect(socket)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: berthd\r\nConnection: close\r\n");
    let json_bytes = json.map(|v| serde_json::to_vec(v).unwrap_or_default());
    match (&body, &json_bytes) {
        (Some(_), _) => head
            .push_str("Transfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n"),
        (None, Some(b)) => head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        )),
        (None, None) => {}
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(talk)?;
    if let Some(b) = &json_bytes {
        stream.write_all(b).map_err(talk)?;
    }
    if let Some((input, progress)) = body {
        let mut buf = vec![0u8; 256 * 1024];
        let mut sent = 0u64;
        loop {
            let n = input
                .read(&mut buf)
                .map_err(|e| Failure::BadInput(format!("reading the package: {e}")))?;
            let chunk = if n == 0 {
                Vec::from(&b"0\r\n\r\n"[..])
            } else {
                let mut c = format!("{n:x}\r\n").into_bytes();
                c.extend_from_slice(&buf[..n]);
                c.extend_from_slice(b"\r\n");
                c
            };
            // berthd may answer before it has read everything (a package refused at
            // its manifest): stop sending and read what it says.
            if stream.write_all(&chunk).is_err() || n == 0 {
                break;
            }
            sent += n as u64;
            progress(sent);
        }
    }
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).map_err(talk)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::Failed("berthd sent a malformed status line".into()))?;
    let mut chunked = false;
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).map_err(talk)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse::<u64>().ok();
        }
    }
    let body: Box<dyn Read> = match (chunked, length) {
        (true, _) => Box::new(Chunked {
            inner: reader,
            left: 0,
            done: false,
        }),
        (false, Some(n)) => Box::new(reader.take(n)),
        (false, None) => Box::new(reader),
    };
    Ok(Answer { status, body })
}

/// A chunked body, decoded as it is read (so followed logs print as they come).
struct Chunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Chunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed chunked body");
        while self.left == 0 {
            if self.done {
                return Ok(0);
            }
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                // Cut before the last (empty) chunk: the answer is incomplete.
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "berthd's answer ended before its last chunk (cut off)",
                ));
            }
            let line = line.trim();
            if line.is_empty() {
                continue; // the CRLF after a chunk
            }
            let size = line.split(';').next().unwrap_or_default();
            self.left = usize::from_str_radix(size, 16).map_err(|_| bad())?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "berthd's answer ended inside a chunk (cut off)",
            ));
        }
        self.left -= n;
        Ok(n)
    }
}

/// Turns an error answer into a failure: exit 2 for what the request got wrong.
fn failure(status: u16, body: &[u8]) -> Failure {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) if status == 400 || status == 409 => {
            Failure::BadInput(format!("{} ({})", e.message, e.code))
        }
        Ok(e) => Failure::Failed(format!("{} ({})", e.message, e.code)),
        Err(_) => Failure::Failed(format!("berthd answered {status}")),
    }
}

fn call<T: serde::de::DeserializeOwned>(
    socket: &PathBuf,
    method: &str,
    path: &str,
    json: Option<&serde_json::Value>,
) -> Result<(T, Vec<u8>), Failure> {
    let (status, body) = request(socket, method, path, None, json)?.bytes()?;
    if !(200..300).contains(&status) {
        return Err(failure(status, &body));
    }
    let value = serde_json::from_slice(&body)
        .map_err(|e| Failure::Failed(format!("unexpected answer from berthd: {e}")))?;
    Ok((value, body))
}

fn fetch<T: serde::de::DeserializeOwned>(
    socket: &PathBuf,
    path: &str,
) -> Result<(T, Vec<u8>), Failure> {
    call(socket, "GET", path, None)
}

/// On a terminal: one line rewritten as bytes go out.
fn progress_line(total: Option<u64>) -> impl FnMut(u64) {
    let tty = std::io::stderr().is_terminal();
    let mut last = 0u64;
    move |sent| {
        if !tty || sent - last < (4 << 20) {
            return;
        }
        last = sent;
        match total {
            Some(t) if t > 0 => eprint!(
                "\rinstalling: {:>3}% ({} of {})   ",
                sent * 100 / t,
                human(sent),
                human(t)
            ),
            _ => eprint!("\rinstalling: {} sent   ", human(sent)),
        }
    }
}

fn status_line(st: &Status) -> String {
    let mut line = format!("{}: {} ({})", st.id, st.status, st.runtime);
    if let Some(pid) = st.pid {
        line.push_str(&format!(", pid {pid}"));
    }
    if let Some(code) = st.exit_code {
        line.push_str(&format!(", exit code {code}"));
    }
    if let Some(t) = &st.started_at {
        line.push_str(&format!(", started {t}"));
    }
    if st.restart_count > 0 {
        let times = if st.restart_count == 1 {
            "once".to_string()
        } else {
            format!("{} times", st.restart_count)
        };
        line.push_str(&format!(", restarted {times} by berthd"));
    }
    if let Some(reason) = &st.reason {
        line.push_str(&format!("; {reason}"));
    }
    line + "\n"
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn run(args: &Args) -> Result<String, Failure> {
    let pretty = |raw: &[u8]| {
        let v: serde_json::Value = serde_json::from_slice(raw).unwrap_or_default();
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    };
    match &args.command {
        Command::Status { id } => {
            let id = checked_id(id)?;
            let (st, raw): (Status, _) =
                fetch(&args.socket, &format!("/v1/containers/{id}/status"))?;
            if args.json {
                return Ok(pretty(&raw));
            }
            Ok(status_line(&st))
        }
        Command::Install { package, force } => {
            let (mut input, total): (Box<dyn Read>, Option<u64>) = if package.as_os_str() == "-" {
                (Box::new(std::io::stdin().lock()), None)
            } else {
                let file = std::fs::File::open(package)
                    .map_err(|e| Failure::BadInput(format!("{}: {e}", package.display())))?;
                let len = file.metadata().ok().map(|m| m.len());
                (Box::new(file), len)
            };
            let mut progress = progress_line(total);
            let path = if *force {
                "/v1/packages?force=true"
            } else {
                "/v1/packages"
            };
            let answer = request(
                &args.socket,
                "POST",
                path,
                Some((&mut *input, &mut progress)),
                None,
            );
            if std::io::stderr().is_terminal() {
                eprint!("\r\x1b[K");
            }
            let (status, body) = answer?.bytes()?;
            if !(200..300).contains(&status) {
                return Err(failure(status, &body));
            }
            if args.json {
                return Ok(pretty(&body));
            }
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let mut line = format!(
                "installed {} {}",
                v["id"].as_str().unwrap_or("?"),
                v["version"].as_str().unwrap_or("?")
            );
            if let Some(old) = v["replaced"].as_str() {
                line.push_str(&format!(" (replaced {old})"));
            }
            line.push_str(if v["started"] == true {
                ", running\n"
            } else {
                ", not started (autostart off)\n"
            });
            Ok(line)
        }
        Command::Uninstall { id } => {
            let id = checked_id(id)?;
            let (_, raw): (serde_json::Value, _) = call(
                &args.socket,
                "DELETE",
                &format!("/v1/containers/{id}"),
                None,
            )?;
            Ok(if args.json {
                pretty(&raw)
            } else {
                format!("uninstalled {id}\n")
            })
        }
        Command::Start { id } | Command::Stop { id, .. } | Command::Restart { id, .. } => {
            let id = checked_id(id)?;
            let path = match &args.command {
                Command::Start { .. } => format!("/v1/containers/{id}/start"),
                Command::Stop { time, .. } => format!("/v1/containers/{id}/stop?time={time}"),
                Command::Restart { time, .. } => format!("/v1/containers/{id}/restart?time={time}"),
                _ => unreachable!(),
            };
            let (st, raw): (Status, _) = call(&args.socket, "POST", &path, None)?;
            Ok(if args.json {
                pretty(&raw)
            } else {
                status_line(&st)
            })
        }
        Command::Logs {
            id,
            follow,
            tail,
            since,
        } => {
            let id = checked_id(id)?;
            let mut path = format!("/v1/containers/{id}/logs?follow={follow}");
            if let Some(n) = tail {
                path.push_str(&format!("&tail={n}"));
            }
            if let Some(t) = since {
                if !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '.' | '+' | ' '))
                {
                    return Err(Failure::BadInput(format!(
                        "--since {t:?}: an RFC 3339 time or a duration like 10m"
                    )));
                }
                let encoded = t.replace(' ', "%20").replace('+', "%2B");
                path.push_str(&format!("&since={encoded}"));
            }
            let mut answer = request(&args.socket, "GET", &path, None, None)?;
            if answer.status != 200 {
                let (status, body) = answer.bytes()?;
                return Err(failure(status, &body));
            }
            // Printed as it arrives: --follow runs until interrupted.
            let mut out = std::io::stdout().lock();
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = answer.body.read(&mut buf).map_err(talk)?;
                if n == 0 || out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
                    return Ok(String::new());
                }
            }
        }
        Command::Stats {
            id,
            watch,
            interval,
        } => {
            let id = checked_id(id)?;
            let render = |v: &serde_json::Value, raw: &[u8]| {
                if args.json {
                    let compact = serde_json::to_string(v).unwrap_or_default();
                    return if *watch { compact + "\n" } else { pretty(raw) };
                }
                let n = |k: &str| v[k].as_u64().unwrap_or(0);
                format!(
                    "{id}: cpu {:.1}%, memory {} of {}, net rx {} tx {}, block read {} write {}, {} processes\n",
                    v["cpu_percent"].as_f64().unwrap_or(0.0),
                    human(n("memory_bytes")),
                    human(n("memory_limit_bytes")),
                    human(n("net_rx_bytes")),
                    human(n("net_tx_bytes")),
                    human(n("block_read_bytes")),
                    human(n("block_write_bytes")),
                    n("pids")
                )
            };
            let path = format!("/v1/containers/{id}/stats");
            if !*watch {
                let (v, raw): (serde_json::Value, _) = fetch(&args.socket, &path)?;
                return Ok(render(&v, &raw));
            }
            let tty = std::io::stdout().is_terminal() && !args.json;
            loop {
                let (v, raw): (serde_json::Value, _) = fetch(&args.socket, &path)?;
                let mut out = std::io::stdout().lock();
                let text = if tty {
                    format!("\x1b[H\x1b[2J{}", render(&v, &raw))
                } else {
                    render(&v, &raw)
                };
                if out
                    .write_all(text.as_bytes())
                    .and_then(|_| out.flush())
                    .is_err()
                {
                    return Ok(String::new());
                }
                drop(out);
                std::thread::sleep(std::time::Duration::from_secs((*interval).max(1)));
            }
        }
        Command::Config(ConfigCommand::Set { id, key, value }) => {
            let id = checked_id(id)?;
            let parsed: serde_json::Value = match value.as_str() {
                "true" => true.into(),
                "false" => false.into(),
                v => v.parse::<u64>().map(Into::into).map_err(|_| {
                    Failure::BadInput(format!(
                        "{key}: {value:?} is neither true/false nor a whole number"
                    ))
                })?,
            };
            if !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
            {
                return Err(Failure::BadInput(format!("{key:?} is not a setting")));
            }
            let (_, raw): (Container, _) = call(
                &args.socket,
                "PUT",
                &format!("/v1/containers/{id}/config/{key}"),
                Some(&parsed),
            )?;
            Ok(if args.json {
                pretty(&raw)
            } else {
                format!("{id}: {key} = {parsed}\n")
            })
        }
        Command::Config(ConfigCommand::Get { id, key }) => {
            let id = checked_id(id)?;
            let (_, raw): (Container, _) = fetch(&args.socket, &format!("/v1/containers/{id}"))?;
            let all: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
            let settings = serde_json::json!({
                "autostart": all["autostart"], "monitor": all["monitor"], "restart": all["restart"],
            });
            let value = match key.as_deref() {
                None => settings,
                Some(k) => {
                    let mut v = &settings;
                    for part in k.split('.') {
                        v = v.get(part).ok_or_else(|| {
                            Failure::BadInput(format!(
                                "unknown key {k:?}: use autostart, monitor, restart or restart.<enabled|max_retries|window|retry_delay>"
                            ))
                        })?;
                    }
                    v.clone()
                }
            };
            Ok(match (&value, args.json) {
                (serde_json::Value::Object(_), _) | (_, true) => {
                    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
                }
                (scalar, false) => format!("{scalar}\n"),
            })
        }
        Command::Info => {
            let (info, raw): (Info, _) = fetch(&args.socket, "/v1/info")?;
            if args.json {
                return Ok(pretty(&raw));
            }
            let runtimes: Vec<String> = info
                .runtimes
                .iter()
                .map(|r| format!("{} ({})", r.name, if r.found { "found" } else { "missing" }))
                .collect();
            Ok(format!(
                "berthd:       {}\nworking path: {}\nfree disk:    {}\nruntimes:     {}\n",
                info.version,
                info.working_path,
                human(info.free_bytes),
                runtimes.join(", ")
            ))
        }
        Command::List => {
            let (list, raw): (Vec<Container>, _) = fetch(&args.socket, "/v1/containers")?;
            if args.json {
                return Ok(pretty(&raw));
            }
            let mut out = format!(
                "{:<24} {:<12} {:<8} {:<9} {}\n",
                "ID", "VERSION", "RUNTIME", "AUTOSTART", "NAME"
            );
            for c in list {
                out.push_str(&format!(
                    "{:<24} {:<12} {:<8} {:<9} {}\n",
                    c.id, c.version, c.runtime, c.autostart, c.friendly_name
                ));
            }
            Ok(out)
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            }
        }
        Err(Failure::Failed(m)) => {
            eprintln!("berthctl: error: {m}");
            ExitCode::from(1)
        }
        Err(Failure::BadInput(m)) => {
            eprintln!("berthctl: error: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Unreachable(m)) => {
            eprintln!("berthctl: error: {m}");
            ExitCode::from(3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a chunked answer cut off was read as a normal end, so truncated
    /// logs exited 0.
    #[test]
    fn a_chunked_body_cut_off_is_an_error_not_an_end() {
        let whole = b"5\r\nhello\r\n0\r\n\r\n";
        let mut out = Vec::new();
        let mut c = Chunked {
            inner: &whole[..],
            left: 0,
            done: false,
        };
        c.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
        for cut in [&b"5\r\nhello\r\n"[..], &b"5\r\nhel"[..]] {
            let mut c = Chunked {
                inner: cut,
                left: 0,
                done: false,
            };
            let err = c.read_to_end(&mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
        }
    }
}
