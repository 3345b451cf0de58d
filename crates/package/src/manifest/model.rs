//! The validated manifest and the issues validation reports.

use super::RuntimeKind;
use serde_json::{Map, Value};
use std::fmt;

/// berth's restart policy defaults, as the manifest and containers.conf spell them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RestartPolicy {
    pub enabled: bool,
    pub max_retries: u32,
    pub window: u32,
    pub retry_delay: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RegistrationDefaults {
    pub autostart: bool,
    pub monitor: bool,
    pub restart: RestartPolicy,
    /// berth's extension: how berthd checks the container's health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<super::HealthCheck>,
    /// berth's extension: seconds an upgrade to this version is on probation (0:
    /// committed at once).
    pub probation: u32,
}

/// An upgrade's probation when the manifest names none, in seconds.
pub const DEFAULT_PROBATION: u32 = 30;

/// Which of the writer-added fields must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A manifest given to `berth pack`: generated fields are optional and replaced.
    Source,
    /// A manifest read from a package: generated fields are required.
    Packaged,
}

/// One broken rule: the field (dotted path) and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIssue {
    pub field: String,
    pub rule: String,
}

impl fmt::Display for FieldIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.rule)
        } else {
            write!(f, "{} {}", self.field, self.rule)
        }
    }
}

/// Every rule a manifest broke; displayed one issue per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestIssues(pub Vec<FieldIssue>);

impl fmt::Display for ManifestIssues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "manifest: {issue}")?;
        }
        Ok(())
    }
}

/// A validated manifest. `json` keeps the document itself (key order included), so
/// that unknown keys written by newer tools survive a round trip.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub package_id: Option<String>,
    pub name: Option<String>,
    pub version: String,
    pub runtime: RuntimeKind,
    pub create_args: Option<String>,
    pub registration_defaults: RegistrationDefaults,
    pub device_types: Vec<String>,
    /// `firmware_versions`, parsed (absent or empty: any firmware).
    pub firmware_versions: super::FirmwareRange,
    /// `sha256:<hex>` of the payload (packaged manifests).
    pub digest: Option<String>,
    /// berth's extension, bundles (lxc, runc): `sha256:<hex>` of the payload's tar
    /// uncompressed, which a delta package rebuilds (packaged manifests).
    pub payload_tar_digest: Option<String>,
    pub size_bytes: Option<u64>,
    pub created_at: Option<String>,
    /// `package_compression` as declared: `None` means gzip.
    pub compression: Option<String>,
    /// Keys this version of berth does not know (warned about, kept).
    pub unknown_keys: Vec<String>,
    pub json: Map<String, Value>,
}
