//! `berthctl`: the operator's command line for berthd. A small synchronous HTTP/1.1
//! client over the unix socket: no async runtime, no TLS, little to link.

use berth_api::{Container, ErrorBody, Info, Status};
use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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

/// `GET path` and the status and body of the answer.
fn get(socket: &PathBuf, path: &str) -> Result<(u16, Vec<u8>), Failure> {
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        Failure::Unreachable(format!(
            "cannot reach berthd at {}: {e} (start it with `systemctl start berthd` or `berthd`; --socket or BERTH_SOCKET point elsewhere)",
            socket.display()
        ))
    })?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: berthd\r\nConnection: close\r\n\r\n");
    let mut raw = Vec::new();
    stream
        .write_all(request.as_bytes())
        .and_then(|_| stream.read_to_end(&mut raw))
        .map_err(|e| Failure::Failed(format!("talking to berthd: {e}")))?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| Failure::Failed("berthd sent a malformed answer".into()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Failure::Failed("berthd sent a malformed status line".into()))?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let mut body = raw[split + 4..].to_vec();
    if chunked {
        body = dechunk(&body)
            .ok_or_else(|| Failure::Failed("berthd sent a malformed chunked body".into()))?;
    }
    Ok((status, body))
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..line_end]).ok()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

fn fetch<T: serde::de::DeserializeOwned>(
    socket: &PathBuf,
    path: &str,
) -> Result<(T, Vec<u8>), Failure> {
    let (status, body) = get(socket, path)?;
    if status != 200 {
        let message = serde_json::from_slice::<ErrorBody>(&body)
            .map(|e| format!("{} ({})", e.message, e.code))
            .unwrap_or_else(|_| format!("berthd answered {status}"));
        return Err(Failure::Failed(message));
    }
    let value = serde_json::from_slice(&body)
        .map_err(|e| Failure::Failed(format!("unexpected answer from berthd: {e}")))?;
    Ok((value, body))
}

fn human(bytes: u64) -> String {
    let gib = bytes as f64 / (1u64 << 30) as f64;
    if gib >= 1.0 {
        format!("{gib:.1} GiB")
    } else {
        format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
    }
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
            let mut line = format!("{}: {} ({})", st.id, st.status, st.runtime);
            if let Some(pid) = st.pid {
                line.push_str(&format!(", pid {pid}"));
            }
            if let Some(code) = st.exit_code {
                line.push_str(&format!(", exit code {code}"));
            }
            if let Some(t) = st.started_at {
                line.push_str(&format!(", started {t}"));
            }
            Ok(line + "\n")
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
