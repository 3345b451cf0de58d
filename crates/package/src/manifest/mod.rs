//! The package manifest: model, validation of both manifest generations, and the
//! JSON the writer puts into a package.
//!
//! Validation walks the JSON value by hand instead of deriving `Deserialize`, because
//! a user fixing a manifest wants every problem at once, each naming its field and
//! the rule, and serde stops at the first.

/// Largest manifest accepted, in bytes, from a file or inside a package.
pub const MAX_MANIFEST_BYTES: u64 = 1024 * 1024;

/// Metrics accepted in `registration_defaults.drm.stats_list_of_metrics` (Digi's set).
pub const DRM_METRICS: &[&str] = &[
    "uptime",
    "cpu",
    "mem",
    "net/rx",
    "net/tx",
    "disk/read",
    "disk/write",
];

mod base36;
mod checker;
mod created_at;
pub mod firmware;
pub mod health;
mod kind;
mod model;
mod validate;

pub use base36::base36;
pub use checker::{check_identifier, describe, json_object, Checker};
pub use created_at::{format_created_at, parse_created_at};
pub use firmware::FirmwareRange;
pub use health::{check_health, HealthCheck, Probe};
pub use kind::{known_runtimes, RuntimeKind};
pub use model::{
    FieldIssue, Manifest, ManifestIssues, RegistrationDefaults, RestartPolicy, Stage,
    DEFAULT_PROBATION,
};
pub use validate::check_restart;

/// Keys berth knows; anything else is kept but warned about.
const KNOWN_KEYS: &[&str] = &[
    "package_id",
    "name",
    "friendly_name",
    "version",
    "runtime",
    "artifact_type",
    "create_args",
    "registration_defaults",
    "created_at",
    "digest",
    "device_types",
    "firmware_versions",
    "size_bytes",
    "build_id",
    "description",
    "labels",
    "package_compression",
    "payload_tar_digest",
];

/// Fields the writer computes: a source manifest may carry them, but they are replaced.
pub const GENERATED_KEYS: &[&str] = &[
    "artifact_type",
    "created_at",
    "digest",
    "size_bytes",
    "payload_tar_digest",
];

impl Manifest {
    /// The package id: the declared one, or (newer generation) `<name>-<base36 ms>`.
    pub fn effective_package_id(&self, created_at_ms: u64) -> String {
        match (&self.package_id, &self.name) {
            (Some(id), _) => id.clone(),
            (None, Some(name)) => format!("{name}-{}", base36(created_at_ms)),
            (None, None) => unreachable!("validated: one of package_id and name is present"),
        }
    }

    /// The id a packaged manifest declares (validated present for `Stage::Packaged`).
    pub fn id(&self) -> &str {
        self.package_id.as_deref().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
