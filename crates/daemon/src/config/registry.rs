//! The `registry` section: how berthd reaches registries when it installs
//! `docker://` references (only with the `registry` feature; parsed always, so a
//! configuration is valid or not whatever the build).
//!
//!     "registry": {
//!         "tls_verify": true,
//!         "credentials": {"registry.example:5000": "USER:PASSWORD"},
//!         "auth_file": "/etc/berth/auth.json"
//!     }
//!
//! `tls_verify: false` speaks plain HTTP to every registry (loopback registries always
//! get plain HTTP); otherwise HTTPS with the web's root certificates. Credentials by
//! registry host, else the auth file (podman's auth.json / docker's config.json form).

use super::{absolute_path, describe, optional_bool, section, Checker};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub tls_verify: bool,
    /// Registry host → `USER:PASSWORD`.
    pub credentials: BTreeMap<String, String>,
    pub auth_file: Option<PathBuf>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            tls_verify: true,
            credentials: BTreeMap::new(),
            auth_file: None,
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
