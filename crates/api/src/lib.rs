//! The types of berthd's API (HTTP/1.1 + JSON over a unix socket, paths under
//! `/v1/`), shared by the daemon and berthctl. docs/api.md describes them for users.

use serde::{Deserialize, Serialize};

/// The API version prefix of every path.
pub const PREFIX: &str = "/v1";

/// Every error response: a stable machine-readable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// Stable error codes.
pub mod codes {
    pub const NOT_FOUND: &str = "not_found";
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    pub const NO_SUCH_CONTAINER: &str = "no_such_container";
    pub const STORE_INVALID: &str = "store_invalid";
    pub const RUNTIME_UNAVAILABLE: &str = "runtime_unavailable";
    pub const RUNTIME_FAILED: &str = "runtime_failed";
    pub const INTERNAL: &str = "internal";
    pub const PACKAGE_INVALID: &str = "package_invalid";
    pub const ALREADY_INSTALLED: &str = "already_installed";
    pub const NO_SPACE: &str = "insufficient_storage";
    pub const BAD_REQUEST: &str = "bad_request";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    pub name: String,
    /// Whether the runtime's command was found on the daemon's PATH.
    pub found: bool,
}

/// `GET /v1/info`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub version: String,
    pub working_path: String,
    pub runtimes: Vec<RuntimeInfo>,
    /// Bytes free for the daemon under the working path.
    pub free_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub enabled: bool,
    pub max_retries: u32,
    pub window: u32,
    pub retry_delay: u32,
}

/// One managed container, as registered (`GET /v1/containers`, `/v1/containers/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub friendly_name: String,
    pub version: String,
    pub runtime: String,
    pub autostart: bool,
    pub monitor: bool,
    pub restart: RestartPolicy,
}

/// `GET /v1/containers/{id}/status`: what the runtime says now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: String,
    pub runtime: String,
    /// The runtime's word (created, running, exited...); `failed` when berthd gave up
    /// restarting it; `missing` when the runtime no longer has the container.
    pub status: String,
    pub running: bool,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    /// Automatic restarts since the last manual start.
    #[serde(default)]
    pub restart_count: u32,
    /// Why berthd gave up restarting it (status `failed`).
    #[serde(default)]
    pub reason: Option<String>,
}
