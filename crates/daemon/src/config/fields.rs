//! Reading one field of a section: its type, its range and its default, with one
//! issue per broken rule; and the warnings for keys no section knows.

use berth_package::manifest::{describe, Checker};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

use super::model::{Level, Sink};

/// Every key a section may hold; anything else is warned about.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "version", "service", "logging", "api", "trust", "runtimes", "registry", "device",
            "updates",
        ],
    ),
    ("device", &["id", "type", "firmware_version"]),
    ("updates", &["keep_previous", "interval", "jitter", "retry"]),
    (
        "service",
        &[
            "working_path",
            "monitor_interval",
            "command_timeout",
            "podman_load_timeout",
        ],
    ),
    ("logging", &["level", "console", "syslog", "file"]),
    ("logging.console", &["enabled", "level"]),
    ("logging.syslog", &["enabled", "level"]),
    ("logging.file", &["enabled", "level", "path", "max_size"]),
    ("api", &["socket", "socket_mode"]),
    ("trust", &["keys", "require_signature"]),
    ("runtimes", &["image_engine", "oci_runtime"]),
    (
        "registry",
        &[
            "tls_verify",
            "credentials",
            "auth_file",
            "allow",
            "stall_timeout",
            "deadline",
        ],
    ),
];

/// Objects whose keys are data (registry hosts), not settings.
const FREE_FORM: &[&str] = &["registry.credentials"];

pub(super) fn unknown_keys(path: &str, obj: &Map<String, Value>, warnings: &mut Vec<String>) {
    let known = KNOWN
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, k)| *k)
        .unwrap_or(&[]);
    for (key, value) in obj {
        let full = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if !known.contains(&key.as_str()) {
            warnings.push(format!("unknown key {full} (ignored)"));
        } else if let (Value::Object(inner), false) = (value, FREE_FORM.contains(&full.as_str())) {
            unknown_keys(&full, inner, warnings);
        }
    }
}

pub(super) fn section<'a>(
    c: &mut Checker,
    obj: &'a Map<String, Value>,
    path: &str,
) -> Option<&'a Map<String, Value>> {
    let key = path.rsplit('.').next().unwrap_or(path);
    c.object(obj, path, key, false)
}

pub(super) fn absolute_path(
    c: &mut Checker,
    obj: &Map<String, Value>,
    field: &str,
    key: &str,
) -> Option<PathBuf> {
    match obj.get(key) {
        None => None,
        Some(Value::String(s)) if s.starts_with('/') && !s.contains('\0') => Some(PathBuf::from(s)),
        Some(other) => {
            c.fail(
                field,
                format!("must be an absolute path, got {}", describe(other)),
            );
            None
        }
    }
}

pub(super) fn level(c: &mut Checker, obj: &Map<String, Value>, field: &str) -> Option<Level> {
    match obj.get("level")? {
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warning" | "warn" => Some(Level::Warning),
            "error" | "critical" => Some(Level::Error),
            _ => {
                c.fail(
                    field,
                    format!(
                        "must be one of debug, info, warning, error, got {}",
                        describe(&Value::String(s.clone()))
                    ),
                );
                None
            }
        },
        other => {
            c.fail(
                field,
                format!(
                    "must be one of debug, info, warning, error, got {}",
                    describe(other)
                ),
            );
            None
        }
    }
}

pub(super) fn optional_bool(
    c: &mut Checker,
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
    default: bool,
) -> bool {
    if obj.contains_key(key) {
        c.boolean(obj, path, key).unwrap_or(default)
    } else {
        default
    }
}

pub(super) fn optional_int(
    c: &mut Checker,
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
    min: u32,
    default: u32,
) -> u32 {
    if obj.contains_key(key) {
        c.integer(obj, path, key, min).unwrap_or(default)
    } else {
        default
    }
}

pub(super) fn sink(
    c: &mut Checker,
    parent: &Map<String, Value>,
    path: &str,
    default: &Sink,
) -> Sink {
    match section(c, parent, path) {
        None => default.clone(),
        Some(s) => Sink {
            enabled: optional_bool(c, s, path, "enabled", default.enabled),
            level: level(c, s, &format!("{path}.level")).or(default.level),
        },
    }
}

/// `runc`, `crun`, or an absolute path whose file name is one of them: berthd speaks
/// their shared command line, not any other runtime's.
pub(super) fn is_oci_runtime(s: &str) -> bool {
    let name = Path::new(s).file_name().and_then(|n| n.to_str());
    matches!(name, Some("runc" | "crun")) && (s.starts_with('/') || !s.contains('/'))
}
