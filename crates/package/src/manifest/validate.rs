//! Validation of both manifest generations: every broken rule is reported, each
//! naming its field.

use super::checker::{as_object, not_json};
use super::*;
use serde_json::{Map, Value};

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

        let firmware_versions = match c.string(&obj, "firmware_versions", false) {
            None => FirmwareRange::Any,
            Some(text) => FirmwareRange::parse(&text).unwrap_or_else(|rule| {
                c.fail("firmware_versions", rule);
                FirmwareRange::Any
            }),
        };
        for key in ["build_id", "description"] {
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
        let mut payload_tar_digest = None;
        if stage == Stage::Packaged {
            digest = check_digest(&mut c, &obj, "digest", true);
            payload_tar_digest = check_digest(&mut c, &obj, "payload_tar_digest", false);
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
            firmware_versions,
            digest,
            payload_tar_digest,
            size_bytes,
            created_at,
            compression,
            unknown_keys,
            json: obj,
        })
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
    let probation = if rd.contains_key("probation") {
        c.integer(rd, P, "probation", 0)
    } else {
        Some(super::model::DEFAULT_PROBATION)
    };
    let health = c
        .object(rd, "registration_defaults.health", "health", false)
        .map(|h| check_health(c, h, "registration_defaults.health"));
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
        health: match health {
            None => None,
            Some(h) => Some(h?),
        },
        probation: probation?,
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

fn check_digest(
    c: &mut Checker,
    obj: &Map<String, Value>,
    field: &str,
    required: bool,
) -> Option<String> {
    let digest = c.string(obj, field, required)?;
    let ok = digest.parse::<berth_format::Digest>().is_ok();
    if ok {
        Some(digest)
    } else {
        c.fail(
            field,
            format!(
                "must be \"sha256:\" and 64 lowercase hex digits, got {}",
                describe(&Value::String(digest))
            ),
        );
        None
    }
}
