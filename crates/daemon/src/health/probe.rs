//! One health check, bounded by its timeout: a command inside the container
//! (through the runtime's exec; the process group is killed at the deadline), or a
//! probe berthd sends itself — an HTTP/1.0 GET whose status must be 2xx or 3xx, or
//! a TCP connect.

use berth_package::manifest::health::{host_port, http_target};
use berth_package::manifest::{HealthCheck, Probe};
use berth_runtime::{CommandError, Runtime, RuntimeError};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A check's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub healthy: bool,
    pub output: String,
}

fn unhealthy(output: impl Into<String>) -> Verdict {
    Verdict {
        healthy: false,
        output: output.into(),
    }
}

/// Runs `check` against container `id` of `rt`.
pub fn run(rt: &dyn Runtime, id: &str, check: &HealthCheck) -> Verdict {
    let timeout = Duration::from_secs(check.timeout.into());
    match &check.probe {
        Probe::Cmd(argv) => match rt.exec(id, argv, timeout) {
            Ok(o) if o.exit_code == 0 => Verdict {
                healthy: true,
                output: o.output,
            },
            Ok(o) => unhealthy(format!("exit code {}: {}", o.exit_code, o.output.trim())),
            Err(RuntimeError::Command(CommandError::Timeout { .. })) => unhealthy(format!(
                "no answer within {}s (timeout): killed",
                check.timeout
            )),
            Err(e) => unhealthy(crate::error::error_chain(&e)),
        },
        Probe::Http(url) => http(url, timeout),
        Probe::Tcp(addr) => match connect(addr, Instant::now() + timeout) {
            Ok(_) => Verdict {
                healthy: true,
                output: format!("connected to {addr}"),
            },
            Err(why) => unhealthy(why),
        },
    }
}

/// Connects to `addr` (`HOST:PORT`) before `deadline`, trying each address.
fn connect(addr: &str, deadline: Instant) -> Result<TcpStream, String> {
    let (host, port) = host_port(addr).ok_or_else(|| format!("{addr}: not HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: cannot resolve: {e}"))?
        .collect();
    let mut last = format!("{addr}: no address");
    for a in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("{addr}: no connection within the timeout"));
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{addr}: cannot connect: {e}"),
        }
    }
    Err(last)
}

fn http(url: &str, timeout: Duration) -> Verdict {
    let deadline = Instant::now() + timeout;
    let Some((authority, path)) = http_target(url) else {
        return unhealthy(format!("{url}: not an http:// URL"));
    };
    let mut stream = match connect(authority, deadline) {
        Ok(s) => s,
        Err(why) => return unhealthy(why),
    };
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let _ = stream.set_read_timeout(Some(left));
    let _ = stream.set_write_timeout(Some(left));
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: berthd-health\r\nConnection: close\r\n\r\n"
    );
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return unhealthy(format!("{url}: sending the request: {e}"));
    }
    // The status line is all a verdict needs.
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.contains(&b'\n') && head.len() < 4096 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return unhealthy(format!("{url}: no answer within the timeout: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default().trim().to_string();
    let code: Option<u16> = line
        .strip_prefix("HTTP/")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    match code {
        Some(c) if (200..400).contains(&c) => Verdict {
            healthy: true,
            output: line,
        },
        Some(_) => unhealthy(format!("{url}: {line}")),
        None => unhealthy(format!("{url}: not an HTTP answer: {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer.as_bytes());
            }
        });
        addr
    }

    fn check(probe: Probe) -> HealthCheck {
        HealthCheck {
            probe,
            interval: 1,
            timeout: 2,
            retries: 1,
            start_period: 0,
        }
    }

    #[test]
    fn http_2xx_and_3xx_are_healthy_and_others_not() {
        let rt = berth_runtime::testkit::FakeRuntime::default();
        for (answer, healthy) in [
            ("HTTP/1.1 200 OK\r\n\r\n", true),
            ("HTTP/1.0 302 Found\r\n\r\n", true),
            ("HTTP/1.1 503 Service Unavailable\r\n\r\n", false),
            ("SSH-2.0-OpenSSH\r\n", false),
        ] {
            let addr = serve_once(answer);
            let v = run(
                &rt,
                "web",
                &check(Probe::Http(format!("http://{addr}/healthz"))),
            );
            assert_eq!(v.healthy, healthy, "{answer:?}: {v:?}");
        }
    }

    #[test]
    fn a_server_that_never_answers_fails_at_the_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let rt = berth_runtime::testkit::FakeRuntime::default();
        let started = Instant::now();
        let v = run(&rt, "web", &check(Probe::Http(format!("http://{addr}/"))));
        assert!(
            !v.healthy && v.output.contains("no answer within the timeout"),
            "{v:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(listener);
    }

    #[test]
    fn tcp_connects_or_says_why_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let rt = berth_runtime::testkit::FakeRuntime::default();
        assert!(run(&rt, "web", &check(Probe::Tcp(addr.clone()))).healthy);
        drop(listener);
        let v = run(&rt, "web", &check(Probe::Tcp(addr)));
        assert!(!v.healthy && v.output.contains("cannot connect"), "{v:?}");
    }

    #[test]
    fn a_command_answers_by_its_exit_code() {
        let rt = berth_runtime::testkit::FakeRuntime::default();
        rt.add_container("web", "img", true, &[]);
        assert!(run(&rt, "web", &check(Probe::Cmd(vec!["check".into()]))).healthy);
        rt.exec_answers.lock().unwrap().insert(
            "web".into(),
            berth_runtime::ExecOutcome {
                exit_code: 1,
                output: "db down".into(),
            },
        );
        let v = run(&rt, "web", &check(Probe::Cmd(vec!["check".into()])));
        assert_eq!(v, unhealthy("exit code 1: db down"));
    }
}
