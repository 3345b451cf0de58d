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
    Podman,
    Lxc,
}

impl RuntimeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeKind::Podman => "podman",
            RuntimeKind::Lxc => "lxc",
        }
    }

    /// The `artifact_type` the writer records for this runtime.
    pub fn artifact_type(self) -> &'static str {
        match self {
            RuntimeKind::Podman => "podman-image-tar",
            RuntimeKind::Lxc => "lxc-bundle",
        }
    }
}

impl std::str::FromStr for RuntimeKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "podman" => Ok(RuntimeKind::Podman),
            "lxc" => Ok(RuntimeKind::Lxc),
            other => Err(format!(
                "{other:?} is not a runtime berth knows (podman, lxc)"
            )),
        }
    }
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

/// Collects broken rules while walking a JSON document; shared with the device's
/// files (containers.conf, berthd's config), whose rules are the manifest's.
#[derive(Default)]
pub struct Checker {
    pub issues: Vec<FieldIssue>,
}

impl Checker {
    pub fn fail(&mut self, field: &str, rule: impl Into<String>) {
        self.issues.push(FieldIssue {
            field: field.to_string(),
            rule: rule.into(),
        });
    }

    pub fn string(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        required: bool,
    ) -> Option<String> {
        match obj.get(field) {
            None | Some(Value::Null) if !required => None,
            None => {
                self.fail(field, "is required");
                None
            }
            Some(Value::String(s)) if s.trim().is_empty() && required => {
                self.fail(field, "must be a non-empty string, got \"\"");
                None
            }
            Some(Value::String(s)) if s.chars().any(char::is_control) && field != "description" => {
                self.fail(
                    field,
                    format!(
                        "must not contain control characters, got {}",
                        describe(&Value::String(s.clone()))
                    ),
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.fail(field, format!("must be a string, got {}", describe(other)));
                None
            }
        }
    }

    /// A string used in file names and container ids.
    pub fn identifier(
        &mut self,
        obj: &Map<String, Value>,
        field: &str,
        required: bool,
    ) -> Option<String> {
        let value = self.string(obj, field, required)?;
        if let Err(rule) = check_identifier(&value) {
            self.fail(
                field,
                format!("{rule}, got {}", describe(&Value::String(value))),
            );
            return None;
        }
        Some(value)
    }

    pub fn boolean(&mut self, obj: &Map<String, Value>, path: &str, key: &str) -> Option<bool> {
        let field = format!("{path}.{key}");
        match obj.get(key) {
            Some(Value::Bool(b)) => Some(*b),
            None => {
                self.fail(&field, "is required (a boolean)");
                None
            }
            Some(other) => {
                self.fail(
                    &field,
                    format!("must be a boolean, got {}", describe(other)),
                );
                None
            }
        }
    }

    pub fn integer(
        &mut self,
        obj: &Map<String, Value>,
        path: &str,
        key: &str,
        min: u32,
    ) -> Option<u32> {
        let field = format!("{path}.{key}");
        let rule = format!("must be an integer >= {min}");
        match obj.get(key) {
            Some(Value::Number(n)) => match n.as_u64() {
                Some(v) if v >= u64::from(min) && v <= u64::from(u32::MAX) => Some(v as u32),
                Some(v) if v > u64::from(u32::MAX) => {
                    self.fail(
                        &field,
                        format!("must be an integer from {min} to {}, got {v}", u32::MAX),
                    );
                    None
                }
                _ => {
                    self.fail(&field, format!("{rule}, got {n}"));
                    None
                }
            },
            None => {
                self.fail(&field, format!("is required ({})", &rule[8..]));
                None
            }
            Some(other) => {
                self.fail(&field, format!("{rule}, got {}", describe(other)));
                None
            }
        }
    }

    pub fn object<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        field: &str,
        key: &str,
        required: bool,
    ) -> Option<&'a Map<String, Value>> {
        match obj.get(key) {
            Some(Value::Object(o)) => Some(o),
            None if !required => None,
            None => {
                self.fail(field, "is required (an object)");
                None
            }
            Some(other) => {
                self.fail(field, format!("must be an object, got {}", describe(other)));
                None
            }
        }
    }
}

fn not_json(e: serde_json::Error) -> FieldIssue {
    FieldIssue {
        field: String::new(),
        rule: format!("is not valid JSON: {e}"),
    }
}

fn as_object(value: Value) -> Result<Map<String, Value>, FieldIssue> {
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(FieldIssue {
            field: String::new(),
            rule: format!("must be a JSON object, got {}", describe(&other)),
        }),
    }
}

/// Parses a JSON document whose top level must be an object (manifests, the
/// device's configuration files).
pub fn json_object(bytes: &[u8]) -> Result<Map<String, Value>, FieldIssue> {
    as_object(serde_json::from_slice(bytes).map_err(not_json)?)
}

/// The rule for names that become file names, container ids and directory names.
pub fn check_identifier(value: &str) -> Result<(), &'static str> {
    let ok_len = !value.is_empty() && value.len() <= 128;
    let mut chars = value.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if ok_len && ok_first && ok_rest {
        Ok(())
    } else {
        Err("must be 1-128 characters of A-Z a-z 0-9 . _ - + starting with a letter or digit")
    }
}

/// A short description of a JSON value for error messages: its type and, for
/// scalars, the value itself (truncated).
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let mut shown: String = s.chars().take(40).collect();
            if shown.len() < s.len() {
                shown.push('…');
            }
            format!("string {}", Value::String(shown))
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

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
            Some(Value::String(s)) if s == "podman" => Some(RuntimeKind::Podman),
            Some(Value::String(s)) if s == "lxc" => Some(RuntimeKind::Lxc),
            None => {
                c.fail("runtime", "is required (\"podman\" or \"lxc\")");
                None
            }
            Some(other) => {
                c.fail(
                    "runtime",
                    format!("must be \"podman\" or \"lxc\", got {}", describe(other)),
                );
                None
            }
        };

        let create_args = match (runtime, obj.get("create_args")) {
            (Some(RuntimeKind::Lxc), Some(_)) => {
                c.fail("create_args", "is not allowed for runtime lxc");
                None
            }
            (Some(RuntimeKind::Podman), _) => c.string(&obj, "create_args", true),
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
    let ok = digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
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
mod tests {
    use super::*;
    use serde_json::json;

    fn podman() -> Value {
        json!({
            "package_id": "demo",
            "version": "1.0.0",
            "runtime": "podman",
            "create_args": "--name demo localhost/demo:1",
            "registration_defaults": {
                "autostart": true, "monitor": true,
                "restart": {"enabled": true, "max_retries": 3, "window": 60, "retry_delay": 1}
            },
            "device_types": ["ccmp25-dvk"]
        })
    }

    fn issues(v: Value, stage: Stage) -> Vec<String> {
        match Manifest::from_value(v, stage) {
            Ok(_) => vec![],
            Err(e) => e.to_string().lines().map(String::from).collect(),
        }
    }

    #[test]
    fn accepts_old_generation_with_package_id() {
        let m = Manifest::from_value(podman(), Stage::Source).unwrap();
        assert_eq!(m.effective_package_id(1), "demo");
        assert_eq!(m.runtime, RuntimeKind::Podman);
        assert_eq!(m.registration_defaults.restart.window, 60);
    }

    #[test]
    fn derives_package_id_from_name_in_new_generation() {
        let mut v = podman();
        v.as_object_mut().unwrap().remove("package_id");
        v["name"] = json!("flutter-demo");
        let m = Manifest::from_value(v, Stage::Source).unwrap();
        assert_eq!(
            m.effective_package_id(1_700_000_000_000),
            format!("flutter-demo-{}", base36(1_700_000_000_000))
        );
        assert_eq!(base36(1_700_000_000_000), "loyw3v28");
    }

    #[test]
    fn window_zero_is_named_with_its_rule() {
        let mut v = podman();
        v["registration_defaults"]["restart"]["window"] = json!(0);
        assert_eq!(
            issues(v, Stage::Source),
            ["manifest: registration_defaults.restart.window must be an integer >= 1, got 0"]
        );
    }

    #[test]
    fn booleans_are_not_integers_and_integers_are_not_booleans() {
        let mut v = podman();
        v["registration_defaults"]["restart"]["max_retries"] = json!(true);
        v["registration_defaults"]["autostart"] = json!(1);
        let got = issues(v, Stage::Source);
        assert_eq!(
            got,
            [
                "manifest: registration_defaults.autostart must be a boolean, got number 1",
                "manifest: registration_defaults.restart.max_retries must be an integer >= 0, got boolean true",
            ]
        );
    }

    #[test]
    fn reports_every_error_not_just_the_first() {
        let v = json!({"runtime": "docker", "device_types": [], "version": 3});
        let got = issues(v, Stage::Source);
        assert!(got.len() >= 4, "{got:?}");
        assert!(got
            .iter()
            .any(|l| l.contains("runtime must be \"podman\" or \"lxc\", got string \"docker\"")));
        assert!(got
            .iter()
            .any(|l| l.contains("device_types must be a non-empty list")));
        assert!(got
            .iter()
            .any(|l| l.contains("version must be a string, got number 3")));
        assert!(got
            .iter()
            .any(|l| l.contains("registration_defaults is required")));
    }

    #[test]
    fn create_args_is_refused_for_lxc_and_required_for_podman() {
        let mut v = podman();
        v["runtime"] = json!("lxc");
        assert_eq!(
            issues(v, Stage::Source),
            ["manifest: create_args is not allowed for runtime lxc"]
        );
        let mut v = podman();
        v.as_object_mut().unwrap().remove("create_args");
        assert_eq!(
            issues(v, Stage::Source),
            ["manifest: create_args is required"]
        );
    }

    #[test]
    fn path_like_ids_are_refused() {
        for bad in ["../etc", "/abs", "a/b", ".hidden", ""] {
            let mut v = podman();
            v["package_id"] = json!(bad);
            assert_eq!(issues(v, Stage::Source).len(), 1, "{bad}");
            let mut v = podman();
            v["device_types"] = json!([bad]);
            assert_eq!(issues(v, Stage::Source).len(), 1, "{bad}");
        }
    }

    #[test]
    fn packaged_manifests_need_generated_fields() {
        let got = issues(podman(), Stage::Packaged);
        for field in ["digest", "size_bytes", "created_at", "artifact_type"] {
            assert!(got.iter().any(|l| l.contains(field)), "{field} in {got:?}");
        }
    }

    #[test]
    fn created_at_round_trips() {
        let s = format_created_at(1_700_000_000_123);
        assert_eq!(s, "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_created_at(&s), Some(1_700_000_000_123));
    }

    #[test]
    fn non_object_manifest_is_one_clear_line() {
        assert_eq!(
            issues(json!([1, 2]), Stage::Source),
            ["manifest: must be a JSON object, got an array"]
        );
    }
}
