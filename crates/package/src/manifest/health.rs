//! `registration_defaults.health` (berth's extension, also in containers.conf
//! entries): how berthd tells a running container is healthy. One probe — a command
//! run inside the container (exit 0 is healthy), an HTTP GET berthd sends (2xx or 3xx
//! is healthy) or a TCP connect — and Docker's timing: `interval`, `timeout`,
//! `retries` failures in a row, `start_period` of grace.

use super::checker::{describe, Checker};
use serde_json::{Map, Value};

pub const DEFAULT_INTERVAL: u32 = 30;
pub const DEFAULT_TIMEOUT: u32 = 30;
pub const DEFAULT_RETRIES: u32 = 3;

/// What a health check probes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    /// argv run inside the container.
    Cmd(Vec<String>),
    /// `http://HOST:PORT/PATH`, sent by berthd.
    Http(String),
    /// `HOST:PORT`, connected to by berthd.
    Tcp(String),
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthCheck {
    #[serde(flatten)]
    pub probe: Probe,
    /// Seconds between checks.
    pub interval: u32,
    /// Seconds a check may take before it counts as failed (and is killed).
    pub timeout: u32,
    /// Failures in a row that make the container unhealthy.
    pub retries: u32,
    /// Seconds after a start during which failures do not count.
    pub start_period: u32,
}

/// The timing keys `config set health.<key>` changes.
pub const HEALTH_TIMING: [&str; 4] = ["interval", "timeout", "retries", "start_period"];

/// The health check rules, for the object at `path`.
pub fn check_health(c: &mut Checker, h: &Map<String, Value>, path: &str) -> Option<HealthCheck> {
    let mut probes = Vec::new();
    for key in ["cmd", "http", "tcp"] {
        if let Some(v) = h.get(key) {
            probes.push((key, v));
        }
    }
    let probe = match probes.as_slice() {
        [(key, v)] => probe(c, &format!("{path}.{key}"), key, v),
        [] => {
            c.fail(path, "needs one of cmd, http or tcp");
            None
        }
        _ => {
            c.fail(path, "must have only one of cmd, http or tcp");
            None
        }
    };
    let mut timing = |key: &str, min: u32, default: u32| {
        if h.contains_key(key) {
            c.integer(h, path, key, min)
        } else {
            Some(default)
        }
    };
    let interval = timing("interval", 1, DEFAULT_INTERVAL);
    let timeout = timing("timeout", 1, DEFAULT_TIMEOUT);
    let retries = timing("retries", 1, DEFAULT_RETRIES);
    let start_period = timing("start_period", 0, 0);
    Some(HealthCheck {
        probe: probe?,
        interval: interval?,
        timeout: timeout?,
        retries: retries?,
        start_period: start_period?,
    })
}

fn probe(c: &mut Checker, field: &str, key: &str, v: &Value) -> Option<Probe> {
    match (key, v) {
        ("cmd", Value::Array(items)) if !items.is_empty() => {
            let argv: Vec<String> = items
                .iter()
                .filter_map(|i| i.as_str().map(String::from))
                .collect();
            if argv.len() != items.len()
                || argv[0].is_empty()
                || argv.iter().any(|a| a.contains('\0'))
            {
                c.fail(field, "must be a list of strings (argv, the program first)");
                return None;
            }
            Some(Probe::Cmd(argv))
        }
        ("cmd", other) => {
            c.fail(
                field,
                format!(
                    "must be a non-empty list of strings (argv), got {}",
                    describe(other)
                ),
            );
            None
        }
        ("http", Value::String(url)) if http_target(url).is_some() => {
            Some(Probe::Http(url.clone()))
        }
        ("http", other) => {
            c.fail(
                field,
                format!("must be \"http://HOST:PORT/PATH\", got {}", describe(other)),
            );
            None
        }
        (_, Value::String(addr)) if host_port(addr).is_some() => Some(Probe::Tcp(addr.clone())),
        (_, other) => {
            c.fail(
                field,
                format!("must be \"HOST:PORT\", got {}", describe(other)),
            );
            None
        }
    }
}

/// `HOST:PORT` with a port from 1 to 65535 (an IPv6 host in brackets).
pub fn host_port(addr: &str) -> Option<(&str, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
    let ok =
        !host.is_empty() && !host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@');
    ok.then_some((host, port))
}

/// The `HOST:PORT` and path of an `http://` URL (no user info, no https: berthd sends
/// plain HTTP to the container it runs).
pub fn http_target(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    host_port(authority)?;
    if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return None;
    }
    Some((authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: Value) -> Result<HealthCheck, Vec<String>> {
        let mut c = Checker::default();
        let h = check_health(
            &mut c,
            v.as_object().unwrap(),
            "registration_defaults.health",
        );
        match h {
            Some(h) if c.issues.is_empty() => Ok(h),
            _ => Err(c.issues.iter().map(ToString::to_string).collect()),
        }
    }

    #[test]
    fn a_command_check_gets_dockers_defaults() {
        let h = check(json!({"cmd": ["/bin/check", "--quick"]})).unwrap();
        assert_eq!(
            h.probe,
            Probe::Cmd(vec!["/bin/check".into(), "--quick".into()])
        );
        assert_eq!(
            (h.interval, h.timeout, h.retries, h.start_period),
            (30, 30, 3, 0)
        );
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            json!({"cmd": ["/bin/check", "--quick"], "interval": 30, "timeout": 30, "retries": 3, "start_period": 0})
        );
    }

    #[test]
    fn http_and_tcp_probes_are_checked() {
        let h = check(json!({"http": "http://127.0.0.1:8080/healthz", "interval": 5})).unwrap();
        assert_eq!(h.probe, Probe::Http("http://127.0.0.1:8080/healthz".into()));
        assert_eq!(http_target("http://[::1]:80"), Some(("[::1]:80", "/")));
        assert!(check(json!({"tcp": "localhost:6379"})).is_ok());
        assert_eq!(
            check(json!({"http": "https://a:1/"})).unwrap_err(),
            ["registration_defaults.health.http must be \"http://HOST:PORT/PATH\", got string \"https://a:1/\""]
        );
        assert_eq!(
            check(json!({"tcp": "localhost:0"})).unwrap_err(),
            ["registration_defaults.health.tcp must be \"HOST:PORT\", got string \"localhost:0\""]
        );
    }

    #[test]
    fn exactly_one_probe_and_sane_timing() {
        assert_eq!(
            check(json!({"interval": 0})).unwrap_err(),
            [
                "registration_defaults.health needs one of cmd, http or tcp",
                "registration_defaults.health.interval must be an integer >= 1, got 0"
            ]
        );
        assert_eq!(
            check(json!({"cmd": ["true"], "tcp": "a:1", "retries": 0})).unwrap_err(),
            [
                "registration_defaults.health must have only one of cmd, http or tcp",
                "registration_defaults.health.retries must be an integer >= 1, got 0"
            ]
        );
        assert_eq!(
            check(json!({"cmd": "curl -f localhost"})).unwrap_err(),
            ["registration_defaults.health.cmd must be a non-empty list of strings (argv), got string \"curl -f localhost\""]
        );
    }
}
