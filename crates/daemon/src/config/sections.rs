//! One parser per section of the configuration: each reads its section (when
//! present) into the configuration and records every broken rule.

use super::fields::{absolute_path, is_oci_runtime, level, optional_bool, optional_int, sink};
use super::model::{Config, FileSink, ImageEngine};
use berth_package::manifest::{describe, Checker};
use serde_json::{Map, Value};
use std::path::PathBuf;

type Section = Map<String, Value>;

pub(super) fn version(c: &mut Checker, root: &Section) {
    match root.get("version") {
        None => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(other) => c.fail("version", format!("must be 1, got {}", describe(other))),
    }
}

pub(super) fn service(c: &mut Checker, s: &Section, cfg: &mut Config) {
    const P: &str = "service";
    let d = &mut cfg.service;
    if let Some(p) = absolute_path(c, s, "service.working_path", "working_path") {
        d.working_path = p;
    }
    d.monitor_interval = optional_int(c, s, P, "monitor_interval", 1, d.monitor_interval);
    d.command_timeout = optional_int(c, s, P, "command_timeout", 1, d.command_timeout);
    d.podman_load_timeout = optional_int(c, s, P, "podman_load_timeout", 1, d.podman_load_timeout);
}

pub(super) fn logging(c: &mut Checker, l: &Section, cfg: &mut Config) {
    if let Some(level) = level(c, l, "logging.level") {
        cfg.logging.level = level;
    }
    cfg.logging.console = sink(c, l, "logging.console", &cfg.logging.console);
    cfg.logging.syslog = sink(c, l, "logging.syslog", &cfg.logging.syslog);
    if let Some(f) = super::fields::section(c, l, "logging.file") {
        const P: &str = "logging.file";
        let d = &cfg.logging.file;
        cfg.logging.file = FileSink {
            enabled: optional_bool(c, f, P, "enabled", d.enabled),
            level: level(c, f, "logging.file.level").or(d.level),
            path: absolute_path(c, f, "logging.file.path", "path")
                .unwrap_or_else(|| d.path.clone()),
            max_size: optional_int(c, f, P, "max_size", 4096, d.max_size),
        };
    }
}

pub(super) fn api(c: &mut Checker, a: &Section, cfg: &mut Config) {
    if let Some(p) = absolute_path(c, a, "api.socket", "socket") {
        cfg.api.socket = p;
    }
    match a.get("socket_mode") {
        None => {}
        Some(Value::String(s)) if u32::from_str_radix(s, 8).is_ok_and(|m| m <= 0o777) => {
            cfg.api.socket_mode = u32::from_str_radix(s, 8).expect("checked");
        }
        Some(other) => c.fail(
            "api.socket_mode",
            format!(
                "must be an octal mode string like \"0660\", got {}",
                describe(other)
            ),
        ),
    }
}

pub(super) fn trust(c: &mut Checker, t: &Section, cfg: &mut Config) {
    cfg.trust.require_signature = optional_bool(c, t, "trust", "require_signature", false);
    match t.get("keys") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) if s.starts_with('/') => cfg.trust.keys.push(PathBuf::from(s)),
                    other => c.fail(
                        &format!("trust.keys[{i}]"),
                        format!("must be an absolute path, got {}", describe(other)),
                    ),
                }
            }
        }
        Some(other) => c.fail(
            "trust.keys",
            format!(
                "must be a list of public key paths, got {}",
                describe(other)
            ),
        ),
    }
    if cfg.trust.require_signature && cfg.trust.keys.is_empty() && c.issues.is_empty() {
        c.fail(
            "trust.require_signature",
            "is true but trust.keys lists no key",
        );
    }
}

pub(super) fn runtimes(c: &mut Checker, r: &Section, cfg: &mut Config) {
    match r.get("image_engine") {
        None => {}
        Some(Value::String(s)) if s == "podman" => cfg.runtimes.image_engine = ImageEngine::Podman,
        Some(Value::String(s)) if s == "docker" => cfg.runtimes.image_engine = ImageEngine::Docker,
        Some(other) => c.fail(
            "runtimes.image_engine",
            format!("must be \"podman\" or \"docker\", got {}", describe(other)),
        ),
    }
    match r.get("oci_runtime") {
        None => {}
        Some(Value::String(s)) if is_oci_runtime(s) => cfg.runtimes.oci_runtime = s.clone(),
        Some(other) => c.fail(
            "runtimes.oci_runtime",
            format!(
                "must be \"runc\" or \"crun\" (or an absolute path to one), got {}",
                describe(other)
            ),
        ),
    }
}

pub(super) fn device(c: &mut Checker, d: &Section, cfg: &mut Config) {
    let mut text = |key: &str| match d.get(key) {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() && !s.contains(char::is_control) => {
            Some(s.clone())
        }
        Some(other) => {
            c.fail(
                &format!("device.{key}"),
                format!("must be a non-empty string, got {}", describe(other)),
            );
            None
        }
    };
    cfg.device.id = text("id");
    cfg.device.device_type = text("type");
    cfg.device.firmware_version = text("firmware_version");
}

pub(super) fn updates(c: &mut Checker, u: &Section, cfg: &mut Config) {
    const P: &str = "updates";
    let d = &mut cfg.updates;
    d.keep_previous = optional_bool(c, u, P, "keep_previous", true);
    d.interval = optional_int(c, u, P, "interval", 1, d.interval);
    d.jitter = optional_int(c, u, P, "jitter", 0, d.jitter);
    d.retry = optional_int(c, u, P, "retry", 1, d.retry);
}
