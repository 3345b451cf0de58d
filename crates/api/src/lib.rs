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
    /// The package's `device_types` or `firmware_versions` exclude this device.
    pub const INCOMPATIBLE: &str = "incompatible";
    pub const NO_SPACE: &str = "insufficient_storage";
    pub const BAD_REQUEST: &str = "bad_request";
    /// A registry could not be reached or answered wrongly (`docker://` installs).
    pub const REGISTRY_FAILED: &str = "registry_failed";
    /// A `docker://` install names a registry berthd's `registry.allow` does not list.
    pub const REGISTRY_NOT_ALLOWED: &str = "registry_not_allowed";
    /// This berthd was built without what the request needs (a cargo feature).
    pub const NOT_BUILT: &str = "not_built";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// The manifest's runtime: podman, docker, lxc, runc.
    pub name: String,
    /// Whether berthd can run packages of this runtime here.
    pub found: bool,
    /// The engine that runs them (`docker` for podman packages, where berthd's
    /// config says so; `crun` for runc bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Why not, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
}

/// `GET /v1/info`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub version: String,
    pub working_path: String,
    pub runtimes: Vec<RuntimeInfo>,
    /// Bytes free for the daemon under the working path.
    pub free_bytes: u64,
    /// The versions kept for a rollback, and the disk each holds.
    #[serde(default)]
    pub previous: Vec<PreviousVersion>,
}

/// A version an upgrade replaced, kept for `rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousVersion {
    pub id: String,
    pub version: String,
    /// The disk it holds that the current version does not share.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    pub enabled: bool,
    pub max_retries: u32,
    pub window: u32,
    pub retry_delay: u32,
}

/// A registered health check: one of `cmd`, `http`, `tcp`, and its timing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    pub interval: u32,
    pub timeout: u32,
    pub retries: u32,
    pub start_period: u32,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Its health now (`starting`, `healthy`, `unhealthy`), when it has a check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// The registry tag it follows for updates (`docker://HOST/REPO:TAG`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
}

/// A container's health, as its checks found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: u32,
    #[serde(default)]
    pub last_output: Option<String>,
    /// When the last check ended (RFC 3339).
    #[serde(default)]
    pub last_check: Option<String>,
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
    /// Its health, when it has a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// The registered version.
    #[serde(default)]
    pub version: String,
    /// Its upgrade is on probation until then (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probation_until: Option<String>,
    /// The last rollback to this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<RolledBack>,
    /// The version kept for `rollback`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<String>,
}

/// `POST /v1/packages`: what an install did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    pub id: String,
    pub version: String,
    /// The version replaced, for an upgrade.
    pub replaced: Option<String>,
    /// The images the payload brought (none for bundles).
    pub images: Vec<String>,
    pub started: bool,
    /// An upgrade on probation until then (RFC 3339): committed, or rolled back,
    /// when it ends (`status` tells).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probation_until: Option<String>,
}

/// A rollback: from which version, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    pub from: String,
    pub reason: String,
    pub at: String,
}

/// `GET /v1/updates`: a container that follows a registry tag, and what its checks
/// found (docs/fleet-updates.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    pub id: String,
    /// `docker://HOST/REPO:TAG`.
    pub follow: String,
    /// The version registered now.
    pub version: String,
    /// RFC 3339; none before the first check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_check: Option<String>,
    /// What the last check found or did: `up to date`, `held back by rollout
    /// (N%)`, `installed VERSION`, `refused …`, a registry error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The artifact manifest the tag named at the last check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    /// Registry errors in a row (checks back off while there are any).
    pub failures: u32,
    /// Packages never tried again unless the operator asks (`updates --retry`).
    pub refused: Vec<Refused>,
}

/// A package an update refused or rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// The package file's digest.
    pub digest: String,
    pub version: String,
    pub reason: String,
    pub at: String,
}

/// `POST /v1/containers/{id}/follow`: the tag to follow, or none to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowRequest {
    pub reference: Option<String>,
}

/// `DELETE /v1/containers/{id}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removed {
    pub removed: String,
}

/// The longest stop grace (`time`) the API takes, in seconds: a day.
pub const MAX_STOP_SECONDS: u64 = 86_400;

/// The settings `config set` changes, as berthd and berthctl name them to a user
/// who gave another.
pub const SETTINGS: &str = "autostart, monitor, restart.enabled, restart.max_retries, restart.window, restart.retry_delay, health, health.cmd, health.http, health.tcp, health.interval, health.timeout, health.retries, health.start_period";

/// Paths and queries of the API, built the same way by both ends.
pub mod paths {
    use super::PREFIX;

    pub fn info() -> String {
        format!("{PREFIX}/info")
    }

    pub fn containers() -> String {
        format!("{PREFIX}/containers")
    }

    pub fn packages(force: bool) -> String {
        let query = if force { "?force=1" } else { "" };
        format!("{PREFIX}/packages{query}")
    }

    /// An install berthd fetches itself: `reference` is `docker://HOST/REPO:TAG|@DIGEST`;
    /// with `follow`, the container follows the tag afterwards.
    pub fn packages_from(reference: &str, force: bool, follow: bool) -> String {
        let force = if force { "&force=1" } else { "" };
        let follow = if follow { "&follow=1" } else { "" };
        format!(
            "{PREFIX}/packages?from={}{force}{follow}",
            encode(reference)
        )
    }

    /// `/v1/updates`, and `/v1/updates/{id}/retry`.
    pub fn updates(retry: Option<&str>) -> String {
        match retry {
            Some(id) => format!("{PREFIX}/updates/{}/retry", encode(id)),
            None => format!("{PREFIX}/updates"),
        }
    }

    /// `/v1/containers/{id}` and what follows (`status`, `stop`, `config/KEY`...).
    pub fn container(id: &str, rest: &[&str]) -> String {
        let mut path = format!("{PREFIX}/containers/{}", encode(id));
        for part in rest {
            path.push('/');
            path.push_str(&encode(part));
        }
        path
    }

    /// `path?k=v&...`, values percent-encoded.
    pub fn with_query(path: String, pairs: &[(&str, String)]) -> String {
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect();
        if query.is_empty() {
            path
        } else {
            format!("{path}?{}", query.join("&"))
        }
    }

    /// Percent-encodes everything but unreserved characters (RFC 3986).
    pub fn encode(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    }

    /// Undoes `encode` (and `+` is a plus); `None` for broken escapes or bytes that
    /// are not UTF-8.
    pub fn decode(text: &str) -> Option<String> {
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn queries_round_trip_through_encoding() {
            for v in ["2026-01-01T00:00:00+01:00", "10m 30s", "a&b=c", "ü%"] {
                assert_eq!(decode(&encode(v)).as_deref(), Some(v));
            }
            assert_eq!(
                with_query(container("web", &["logs"]), &[("tail", "5".into())]),
                "/v1/containers/web/logs?tail=5"
            );
            assert_eq!(decode("%zz"), None);
        }
    }
}

/// `GET /v1/containers/{id}/stats`: a running container's resource use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub pids: u64,
}
