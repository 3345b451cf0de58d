//! The package manifest: model, validation of both manifest generations, and the
//! JSON the writer puts into a package.
//!
//! Validation walks the JSON value by hand instead of deriving `Deserialize`, because
//! a user fixing a manifest wants every problem at once, each naming its field and
//! the rule, and serde stops at the first.

use serde_json::{Map, Value};
use std::fmt;

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

/// The runtime a package is made for (the manifest's `runtime`), which also names
/// its payload kind. Not to be confused with berth-runtime's `Runtime` trait, the
/// driver of one container engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuntimeKind {
    /// Digi's word for any OCI-type image: run by podman, or by Docker Engine where
    /// berthd's config says so.
    Podman,
    /// berth's extension: an image run by Docker Engine.
    Docker,
    Lxc,
    /// berth's extension: a plain OCI runtime bundle run by runc (or crun).
    Runc,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Podman => "podman",
            RuntimeKind::Docker => "docker",
            RuntimeKind::Lxc => "lxc",
            RuntimeKind::Runc => "runc",
        }
    }

    /// Every runtime, in the order messages list them.
    pub const ALL: [RuntimeKind; 4] = [
        RuntimeKind::Podman,
        RuntimeKind::Docker,
        RuntimeKind::Lxc,
        RuntimeKind::Runc,
    ];

    /// Whether the payload is an image archive (`payload/image.tar`) run with
    /// `create_args`; otherwise it is a bundle `.tar.gz` that is its own config.
    pub fn runs_an_image(self) -> bool {
        matches!(self, RuntimeKind::Podman | RuntimeKind::Docker)
    }

    /// The `artifact_type` the writer records for this runtime.
    pub fn artifact_type(self) -> &'static str {
        match self {
            RuntimeKind::Podman => "podman-image-tar",
            RuntimeKind::Docker => "docker-image-tar",
            RuntimeKind::Lxc => "lxc-bundle",
            RuntimeKind::Runc => "oci-bundle",
        }
    }
}

impl std::str::FromStr for RuntimeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        RuntimeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a runtime berth knows ({})", known_runtimes()))
    }
}

/// "podman, docker, lxc, runc"
pub fn known_runtimes() -> String {
    RuntimeKind::ALL.map(RuntimeKind::as_str).join(", ")
}

impl fmt::Display for RuntimeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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
}

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
    /// `sha256:<hex>` of the payload (packaged manifests).
    pub digest: Option<String>,
    pub size_bytes: Option<u64>,
    pub created_at: Option<String>,
    /// `package_compression` as declared: `None` means gzip.
    pub compression: Option<String>,
    /// Keys this version of berth does not know (warned about, kept).
    pub unknown_keys: Vec<String>,
    pub json: Map<String, Value>,
}

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
];

/// Fields the writer computes: a source manifest may carry them, but they are replaced.
pub const GENERATED_KEYS: &[&str] = &["artifact_type", "created_at", "digest", "size_bytes"];

mod checker;
use checker::{as_object, not_json};
pub use checker::{check_identifier, describe, json_object, Checker};

impl Manifest {
    /// Parses and validates manifest bytes. Every broken rule is reported.
    pub fn parse(bytes: &[u8], stage: Stage) -> Result<Manifest, ManifestIssues> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestIssues(vec![not_json(e)]))?;
        Self::from_value(value, stage)
    }

    pub fn from_value(value: Value, stage: Stage) -> Result<Manifest, ManifestIssues> {
        let obj = as_object(value).map_err(|issue| ManifestIssues(vec![issue]))?;
        let mut c = Checker::default();

        let package_id = c.identifier(&obj, "package_id", false);
        let name = c.identifier(&obj, "name", false);
        if !obj.contains_key("package_id") && !obj.contains_key("name") {
            c.fail(
                "package_id",
                "is required (or name, from which package_id is derived)",
            );
        }
        if stage == Stage::Packaged && !obj.contains_key("package_id") {
            c.fail("package_id", "is required in a packaged manifest");
        }
        c.string(&obj, "friendly_name", false);
        let version = c.string(&obj, "version", true);
        let runtime = match obj.get("runtime") {
            Some(Value::String(s)) if s.parse::<RuntimeKind>().is_ok() => {
                s.parse::<RuntimeKind>().ok()
            }
            None => {
                c.fail(
                    "runtime",
                    format!("is required (one of {})", known_runtimes()),
                );
                None
            }
            Some(other) => {
                c.fail(
                    "runtime",
                    format!(
                        "must be one of {}, got {}",
                        known_runtimes(),
                        describe(other)
                    ),
                );
                None
            }
        };

        let create_args = match (runtime, obj.get("create_args")) {
            (Some(rt), _) if rt.runs_an_image() => c.string(&obj, "create_args", true),
            (Some(rt), Some(_)) => {
                c.fail(
                    "create_args",
                    format!("is not allowed for runtime {rt} (the bundle's config is its own)"),
                );
                None
            }
            _ => None,
        };

        let registration_defaults = c
            .object(&obj, "registration_defaults", "registration_defaults", true)
            .and_then(|rd| check_registration_defaults(&mut c, rd));

        let device_types = match obj.get("device_types") {
            Some(Value::Array(items)) if items.is_empty() => {
                c.fail(
                    "device_types",
                    "must be a non-empty list of device type names, got []",
                );
                None
            }
            Some(Value::Array(items)) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let field = format!("device_types[{i}]");
                    match item {
                        Value::String(s) => match check_identifier(s) {
                            Ok(()) => out.push(s.clone()),
                            Err(rule) => c.fail(&field, format!("{rule}, got {}", describe(item))),
                        },
                        other => {
                            c.fail(&field, format!("must be a string, got {}", describe(other)))
                        }
                    }
                }
                Some(out)
            }
            None => {
                c.fail("device_types", "is required (a non-empty list of strings)");
                None
            }
            Some(other) => {
                c.fail(
                    "device_types",
                    format!(
                        "must be a non-empty list of strings, got {}",
                        describe(other)
                    ),
                );
                None
            }
        };

        for key in ["firmware_versions", "build_id", "description"] {
            c.string(&obj, key, false);
        }
        if let Some(v) = obj.get("labels") {
            if !v.is_object() && !v.is_null() {
                c.fail("labels", format!("must be an object, got {}", describe(v)));
            }
        }

        let compression = match obj.get("package_compression") {
            None => None,
            Some(Value::String(s)) if s == "gzip" || s == "zstd" => Some(s.clone()),
            Some(other) => {
                c.fail(
                    "package_compression",
                    format!("must be \"gzip\" or \"zstd\", got {}", describe(other)),
                );
                None
            }
        };

        let (mut digest, mut size_bytes, mut created_at) = (None, None, None);
        if stage == Stage::Packaged {
            digest = check_digest(&mut c, &obj);
            size_bytes = match obj.get("size_bytes") {
                Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
                None => {
                    c.fail("size_bytes", "is required in a packaged manifest");
                    None
                }
                Some(other) => {
                    c.fail(
                        "size_bytes",
                        format!("must be an integer >= 0, got {}", describe(other)),
                    );
                    None
                }
            };
            created_at = c.string(&obj, "created_at", true);
            if let Some(ts) = &created_at {
                if parse_created_at(ts).is_none() {
                    c.fail(
                        "created_at",
                        format!(
                            "must be a UTC time like 2026-01-31T12:00:00.000Z, got {}",
                            describe(&Value::String(ts.clone()))
                        ),
                    );
                }
            }
            match (obj.get("artifact_type"), runtime) {
                (Some(Value::String(t)), Some(rt)) if t == rt.artifact_type() => {}
                (None, _) => c.fail("artifact_type", "is required in a packaged manifest"),
                (Some(other), Some(rt)) => c.fail(
                    "artifact_type",
                    format!(
                        "must be \"{}\" for runtime {rt}, got {}",
                        rt.artifact_type(),
                        describe(other)
                    ),
                ),
                (Some(_), None) => {}
            }
        }

        let unknown_keys: Vec<String> = obj
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();

        if !c.issues.is_empty() {
            return Err(ManifestIssues(c.issues));
        }
        Ok(Manifest {
            package_id,
            name,
            version: version.expect("checked"),
            runtime: runtime.expect("checked"),
            create_args,
            registration_defaults: registration_defaults.expect("checked"),
            device_types: device_types.expect("checked"),
            digest,
            size_bytes,
            created_at,
            compression,
            unknown_keys,
            json: obj,
        })
    }

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

fn check_registration_defaults(
    c: &mut Checker,
    rd: &Map<String, Value>,
) -> Option<RegistrationDefaults> {
    const P: &str = "registration_defaults";
    let autostart = c.boolean(rd, P, "autostart");
    let monitor = c.boolean(rd, P, "monitor");
    let restart = c
        .object(rd, "registration_defaults.restart", "restart", true)
        .and_then(|r| check_restart(c, r, "registration_defaults.restart"));
    if let Some(drm) = c.object(rd, "registration_defaults.drm", "drm", false) {
        const D: &str = "registration_defaults.drm";
        c.boolean(drm, D, "enabled");
        c.integer(drm, D, "stats_sample_interval_s", 1);
        match drm.get("stats_list_of_metrics") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let ok = item
                        .as_str()
                        .is_some_and(|m| m == "all" || DRM_METRICS.contains(&m));
                    if !ok {
                        c.fail(
                            &format!("{D}.stats_list_of_metrics[{i}]"),
                            format!(
                                "must be \"all\" or one of {}, got {}",
                                DRM_METRICS.join(", "),
                                describe(item)
                            ),
                        );
                    }
                }
            }
            Some(other) => c.fail(
                &format!("{D}.stats_list_of_metrics"),
                format!("must be a list of metric names, got {}", describe(other)),
            ),
        }
    }
    Some(RegistrationDefaults {
        autostart: autostart?,
        monitor: monitor?,
        restart: restart?,
    })
}

/// The restart policy rules, for the object at `path`.
pub fn check_restart(c: &mut Checker, r: &Map<String, Value>, path: &str) -> Option<RestartPolicy> {
    let enabled = c.boolean(r, path, "enabled");
    let max_retries = c.integer(r, path, "max_retries", 0);
    let window = c.integer(r, path, "window", 1);
    let retry_delay = c.integer(r, path, "retry_delay", 0);
    Some(RestartPolicy {
        enabled: enabled?,
        max_retries: max_retries?,
        window: window?,
        retry_delay: retry_delay?,
    })
}

fn check_digest(c: &mut Checker, obj: &Map<String, Value>) -> Option<String> {
    let digest = c.string(obj, "digest", true)?;
    let ok = digest.parse::<berth_format::Digest>().is_ok();
    if ok {
        Some(digest)
    } else {
        c.fail(
            "digest",
            format!(
                "must be \"sha256:\" and 64 lowercase hex digits, got {}",
                describe(&Value::String(digest))
            ),
        );
        None
    }
}

/// `created_at` as written by the writer: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_created_at(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Milliseconds since the epoch of a `created_at` value.
pub fn parse_created_at(s: &str) -> Option<u64> {
    if !s.ends_with('Z') {
        return None;
    }
    let t = humantime::parse_rfc3339(s).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}

/// Lowercase base 36, as Digi's generator derives package ids.
pub fn base36(mut value: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if value == 0 {
        return "0".into();
    }
    let mut out = Vec::new();
    while value > 0 {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

#[cfg(test)]
mod tests;
