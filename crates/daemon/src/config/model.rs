//! What berthd's configuration holds, and the built-in defaults.

use super::{registry, DEFAULT_WORKING_PATH};
use std::path::PathBuf;

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

/// The device berthd runs on, against which packages' `device_types` and
/// `firmware_versions` are checked (docs/package-format.md, "Compatibility").
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Device {
    /// Default: the contents of /etc/machine-id.
    pub id: Option<String>,
    /// None: packages for any device type are accepted.
    #[serde(rename = "type")]
    pub device_type: Option<String>,
    /// None: packages for any firmware are accepted.
    pub firmware_version: Option<String>,
}

/// What berthd keeps of an upgrade.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Updates {
    /// Keep the version an upgrade replaced (stopped, whole) until the next upgrade
    /// commits, for `berthctl rollback`; off, it goes once the upgrade's probation
    /// passes.
    pub keep_previous: bool,
    /// Seconds between two checks of a followed tag.
    pub interval: u32,
    /// Up to this many seconds more, drawn at random for every check, so a fleet
    /// does not check in step.
    pub jitter: u32,
    /// Seconds before the first check again after a registry error; doubled after
    /// each further error, up to `interval`.
    pub retry: u32,
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
    pub device: Device,
    pub updates: Updates,
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
            device: Device::default(),
            updates: Updates {
                keep_previous: true,
                interval: 3600,
                jitter: 300,
                retry: 30,
            },
        }
    }
}
