//! berthd's configuration: the cc-container-mng.conf schema (`version`, `service`,
//! `logging`) plus berth's own sections (`api`, `trust`, `runtimes`). A missing file at the default
//! path means the built-in defaults; wrong types or values stop the start-up with one
//! line per problem naming the key; unknown keys are warned about and ignored.

use crate::FileIssues;
use berth_package::manifest::{describe, json_object, Checker};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Where berthd looks for its configuration when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/berth/berthd.conf";
pub const DEFAULT_WORKING_PATH: &str = "/var/lib/berth";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Service {
    pub working_path: PathBuf,
    /// Seconds between statistics samples.
    pub monitor_interval: u32,
    /// Seconds any runtime command may take.
    pub command_timeout: u32,
    /// Seconds a `podman load` may take.
    pub podman_load_timeout: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sink {
    pub enabled: bool,
    /// None: `logging.level` applies.
    pub level: Option<Level>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileSink {
    pub enabled: bool,
    pub level: Option<Level>,
    pub path: PathBuf,
    /// Bytes after which the log file is rotated.
    pub max_size: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Logging {
    pub level: Level,
    pub console: Sink,
    pub syslog: Sink,
    pub file: FileSink,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Api {
    pub socket: PathBuf,
    /// Permission bits of the socket.
    pub socket_mode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Trust {
    /// Public keys (berth keygen's NAME.pub) whose signatures are trusted.
    pub keys: Vec<PathBuf>,
    /// Refuse packages without a valid signature by a trusted key.
    pub require_signature: bool,
}

/// Which engine runs Digi's `runtime: "podman"` packages (any OCI-type image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageEngine {
    Podman,
    Docker,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Runtimes {
    /// The engine of `runtime: "podman"` packages; `runtime: "docker"` ones always
    /// run on Docker Engine.
    pub image_engine: ImageEngine,
    /// The OCI runtime that runs `runtime: "runc"` bundles: `runc` or `crun` (a
    /// program name or an absolute path).
    pub oci_runtime: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Config {
    pub version: u32,
    pub service: Service,
    pub logging: Logging,
    pub api: Api,
    pub trust: Trust,
    pub runtimes: Runtimes,
    pub registry: registry::Registry,
}

impl Default for Config {
    /// The embedded default: what berthd runs with when no configuration file exists.
    fn default() -> Self {
        Config {
            version: 1,
            service: Service {
                working_path: PathBuf::from(DEFAULT_WORKING_PATH),
                monitor_interval: 10,
                command_timeout: 30,
                podman_load_timeout: 600,
            },
            logging: Logging {
                level: Level::Info,
                console: Sink {
                    enabled: true,
                    level: None,
                },
                syslog: Sink {
                    enabled: false,
                    level: None,
                },
                file: FileSink {
                    enabled: false,
                    level: None,
                    path: PathBuf::from("/var/log/berthd.log"),
                    max_size: 1024 * 1024,
                },
            },
            api: Api {
                socket: PathBuf::from("/run/berth/berthd.sock"),
                socket_mode: 0o660,
            },
            trust: Trust {
                keys: Vec::new(),
                require_signature: false,
            },
            runtimes: Runtimes {
                image_engine: ImageEngine::Podman,
                oci_runtime: "runc".into(),
            },
            registry: registry::Registry::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(FileIssues),
}

/// A loaded configuration and the warnings (unknown keys) to log.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// None when the built-in defaults are used.
    pub path: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Loads `explicit` (which must exist), or the default path if it exists, or the
/// built-in defaults.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => PathBuf::from(DEFAULT_CONFIG_PATH),
        None => {
            return Ok(Loaded {
                config: Config::default(),
                path: None,
                warnings: Vec::new(),
            })
        }
    };
    let bytes = std::fs::read(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let (config, warnings) = parse(&bytes).map_err(|issues| {
        ConfigError::Invalid(FileIssues {
            path: path.clone(),
            issues,
        })
    })?;
    let warnings = warnings
        .into_iter()
        .map(|w| format!("{}: {w}", path.display()))
        .collect();
    Ok(Loaded {
        config,
        path: Some(path),
        warnings,
    })
}

/// Every key a section may hold; anything else is warned about.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "version", "service", "logging", "api", "trust", "runtimes", "registry",
        ],
    ),
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

fn unknown_keys(path: &str, obj: &Map<String, Value>, warnings: &mut Vec<String>) {
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

fn section<'a>(
    c: &mut Checker,
    obj: &'a Map<String, Value>,
    path: &str,
) -> Option<&'a Map<String, Value>> {
    let key = path.rsplit('.').next().unwrap_or(path);
    c.object(obj, path, key, false)
}

fn absolute_path(
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

fn level(c: &mut Checker, obj: &Map<String, Value>, field: &str) -> Option<Level> {
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

fn optional_bool(
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

fn optional_int(
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

fn sink(c: &mut Checker, parent: &Map<String, Value>, path: &str, default: &Sink) -> Sink {
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
fn is_oci_runtime(s: &str) -> bool {
    let name = Path::new(s).file_name().and_then(|n| n.to_str());
    matches!(name, Some("runc" | "crun")) && (s.starts_with('/') || !s.contains('/'))
}

/// Parses and validates configuration bytes: the configuration and its warnings, or
/// every broken rule.
pub fn parse(
    bytes: &[u8],
) -> Result<(Config, Vec<String>), Vec<berth_package::manifest::FieldIssue>> {
    let root = json_object(bytes).map_err(|issue| vec![issue])?;
    let mut c = Checker::default();
    let mut warnings = Vec::new();
    unknown_keys("", &root, &mut warnings);
    let mut cfg = Config::default();

    match root.get("version") {
        None => {}
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(other) => c.fail("version", format!("must be 1, got {}", describe(other))),
    }
    if let Some(s) = section(&mut c, &root, "service") {
        const P: &str = "service";
        if let Some(p) = absolute_path(&mut c, s, "service.working_path", "working_path") {
            cfg.service.working_path = p;
        }
        cfg.service.monitor_interval = optional_int(
            &mut c,
            s,
            P,
            "monitor_interval",
            1,
            cfg.service.monitor_interval,
        );
        cfg.service.command_timeout = optional_int(
            &mut c,
            s,
            P,
            "command_timeout",
            1,
            cfg.service.command_timeout,
        );
        cfg.service.podman_load_timeout = optional_int(
            &mut c,
            s,
            P,
            "podman_load_timeout",
            1,
            cfg.service.podman_load_timeout,
        );
    }
    if let Some(l) = section(&mut c, &root, "logging") {
        if let Some(level) = level(&mut c, l, "logging.level") {
            cfg.logging.level = level;
        }
        cfg.logging.console = sink(&mut c, l, "logging.console", &cfg.logging.console);
        cfg.logging.syslog = sink(&mut c, l, "logging.syslog", &cfg.logging.syslog);
        if let Some(f) = section(&mut c, l, "logging.file") {
            const P: &str = "logging.file";
            let d = &cfg.logging.file;
            cfg.logging.file = FileSink {
                enabled: optional_bool(&mut c, f, P, "enabled", d.enabled),
                level: level(&mut c, f, "logging.file.level").or(d.level),
                path: absolute_path(&mut c, f, "logging.file.path", "path")
                    .unwrap_or_else(|| d.path.clone()),
                max_size: optional_int(&mut c, f, P, "max_size", 4096, d.max_size),
            };
        }
    }
    if let Some(a) = section(&mut c, &root, "api") {
        if let Some(p) = absolute_path(&mut c, a, "api.socket", "socket") {
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
    if let Some(t) = section(&mut c, &root, "trust") {
        cfg.trust.require_signature = optional_bool(&mut c, t, "trust", "require_signature", false);
        match t.get("keys") {
            None => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) if s.starts_with('/') => {
                            cfg.trust.keys.push(PathBuf::from(s))
                        }
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
    if let Some(r) = section(&mut c, &root, "runtimes") {
        match r.get("image_engine") {
            None => {}
            Some(Value::String(s)) if s == "podman" => {
                cfg.runtimes.image_engine = ImageEngine::Podman
            }
            Some(Value::String(s)) if s == "docker" => {
                cfg.runtimes.image_engine = ImageEngine::Docker
            }
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
    cfg.registry = registry::parse(&mut c, &root);
    if c.issues.is_empty() {
        Ok((cfg, warnings))
    } else {
        Err(c.issues)
    }
}

pub mod registry;

#[cfg(test)]
mod tests;
