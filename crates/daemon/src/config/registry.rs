//! The `registry` section: how berthd reaches registries when it installs
//! `docker://` references (only with the `registry` feature; parsed always, so a
//! configuration is valid or not whatever the build).
//!
//! ```json
//! "registry": {
//!     "tls_verify": true,
//!     "credentials": {"registry.example:5000": "USER:PASSWORD"},
//!     "auth_file": "/etc/berth/auth.json",
//!     "allow": ["registry.example:5000", "*.blobs.example"],
//!     "stall_timeout": 60,
//!     "deadline": 1800
//! }
//! ```
//!
//! `tls_verify: false` speaks plain HTTP to every registry (loopback registries always
//! get plain HTTP); otherwise HTTPS with the web's root certificates. Credentials by
//! registry host, else the auth file (podman's auth.json / docker's config.json form).
//! `allow`: the hosts an install may name and redirects may lead to (`host:port`,
//! `host` with any port, `*.domain`); empty, any host (`--check-config` says so).
//! `stall_timeout`: seconds a connection may stay silent; `deadline`: seconds one
//! install from a registry may take in all, so that a registry that drips its answer
//! cannot hold the container's lock for ever.

use super::fields::{absolute_path, optional_bool, optional_int, section};
use berth_package::manifest::{describe, Checker};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub tls_verify: bool,
    /// Registry host → `USER:PASSWORD`.
    pub credentials: BTreeMap<String, String>,
    pub auth_file: Option<PathBuf>,
    /// Host patterns installs may fetch from; empty: any.
    pub allow: Vec<String>,
    /// Seconds a connection may stay silent.
    pub stall_timeout: u32,
    /// Seconds one install from a registry may take.
    pub deadline: u32,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            tls_verify: true,
            credentials: BTreeMap::new(),
            auth_file: None,
            allow: Vec::new(),
            stall_timeout: 60,
            deadline: 1800,
        }
    }
}

/// `--check-config` prints the settings; never the passwords.
impl serde::Serialize for Registry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hidden: BTreeMap<&String, String> = self
            .credentials
            .iter()
            .map(|(host, c)| {
                let user = c.split_once(':').map_or("", |(u, _)| u);
                (host, format!("{user}:***"))
            })
            .collect();
        serde_json::json!({
            "tls_verify": self.tls_verify,
            "credentials": hidden,
            "auth_file": self.auth_file,
            "allow": if self.allow.is_empty() {
                serde_json::json!("any host (registry.allow is empty)")
            } else {
                serde_json::json!(self.allow)
            },
            "stall_timeout": self.stall_timeout,
            "deadline": self.deadline,
        })
        .serialize(s)
    }
}

pub(super) fn parse(c: &mut Checker, root: &Map<String, Value>) -> Registry {
    let mut out = Registry::default();
    let Some(r) = section(c, root, "registry") else {
        return out;
    };
    out.tls_verify = optional_bool(c, r, "registry", "tls_verify", true);
    out.stall_timeout = optional_int(c, r, "registry", "stall_timeout", 1, out.stall_timeout);
    out.deadline = optional_int(c, r, "registry", "deadline", 1, out.deadline);
    match r.get("allow") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(p) if host_pattern_ok(p) => out.allow.push(p.to_string()),
                    _ => c.fail(
                        &format!("registry.allow[{i}]"),
                        format!(
                            "must be a host pattern (HOST, HOST:PORT or *.DOMAIN), got {}",
                            describe(item)
                        ),
                    ),
                }
            }
        }
        Some(other) => c.fail(
            "registry.allow",
            format!("must be a list of host patterns, got {}", describe(other)),
        ),
    }
    out.auth_file = absolute_path(c, r, "registry.auth_file", "auth_file");
    match r.get("credentials") {
        None => {}
        Some(Value::Object(map)) => {
            for (host, value) in map {
                let field = format!("registry.credentials.{host}");
                match value {
                    Value::String(s) if s.split_once(':').is_some_and(|(u, _)| !u.is_empty()) => {
                        out.credentials.insert(host.clone(), s.clone());
                    }
                    Value::String(_) => c.fail(&field, "must be \"USER:PASSWORD\""),
                    other => c.fail(
                        &field,
                        format!("must be \"USER:PASSWORD\", got {}", describe(other)),
                    ),
                }
            }
        }
        Some(other) => c.fail(
            "registry.credentials",
            format!(
                "must be an object of registry host to \"USER:PASSWORD\", got {}",
                describe(other)
            ),
        ),
    }
    out
}

/// `HOST`, `HOST:PORT`, `[IPv6]:PORT` or `*.DOMAIN`: letters, digits, `.-:[]`, and a
/// leading `*.` only.
fn host_pattern_ok(p: &str) -> bool {
    let rest = p.strip_prefix("*.").unwrap_or(p);
    !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}
