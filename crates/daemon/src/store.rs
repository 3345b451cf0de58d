//! `<working_path>/containers.conf`: the containers berthd manages, in the
//! cc-containers.conf schema (Digi's own `cc-containers.conf` is read and kept where
//! it is, see `Home::containers_path`). Written atomically; a hand-edited file with an
//! error is reported by key and never overwritten.

use crate::atomic::write_atomic;
use crate::FileIssues;
use berth_package::manifest::{
    check_health, check_identifier, check_restart, describe, json_object, Checker, HealthCheck,
    RestartPolicy,
};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ContainerEntry {
    pub id: String,
    pub friendly_name: String,
    pub version: String,
    /// `version` as the file wrote it when that was a number (Digi's documented
    /// example has `"version": 1`): saved back as that number, not as a string.
    #[serde(skip)]
    pub version_number: Option<serde_json::Number>,
    pub runtime: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_args: Option<String>,
    pub autostart: bool,
    pub monitor: bool,
    pub restart: RestartPolicy,
    /// berth's extension: the container's health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthCheck>,
    /// berth's extension: the registry tag berthd follows for updates
    /// (`docker://HOST/REPO:TAG`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
}

/// A followed reference's rule: `docker://HOST/REPO[:TAG]`, not a digest (a digest
/// never moves), printable.
pub fn check_follow(reference: &str) -> Result<(), String> {
    let rest = reference.strip_prefix("docker://").unwrap_or("");
    if rest.is_empty() || !rest.contains('/') {
        return Err(format!("must be docker://HOST/REPO:TAG, got {reference:?}"));
    }
    if rest.contains('@') {
        return Err(format!(
            "names a digest, which never changes: follow a tag, got {reference:?}"
        ));
    }
    if rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("has a space or control character: {reference:?}"));
    }
    Ok(())
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ContainersConf {
    pub containers: Vec<ContainerEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot read")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot write")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file breaks the schema (a hand edit gone wrong): it is left as it is.
    #[error("{0}")]
    Invalid(FileIssues),
}

fn str_field(
    c: &mut Checker,
    obj: &Map<String, Value>,
    path: &str,
    key: &str,
    required: bool,
) -> Option<String> {
    let field = format!("{path}.{key}");
    match obj.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        None if !required => None,
        None => {
            c.fail(&field, "is required (a string)");
            None
        }
        Some(other) => {
            c.fail(&field, format!("must be a string, got {}", describe(other)));
            None
        }
    }
}

/// An entry as containers.conf writes it (a version read as a number stays one).
pub fn entry_json(entry: &ContainerEntry) -> Value {
    let mut v = serde_json::to_value(entry).expect("serialisable");
    if let Some(n) = &entry.version_number {
        v["version"] = Value::Number(n.clone());
    }
    v
}

/// An entry read back from `entry_json`'s value, by containers.conf's rules.
pub fn entry_from_json(value: &Value) -> Result<ContainerEntry, String> {
    let bytes = serde_json::to_vec(&serde_json::json!({"containers": [value]})).expect("json");
    ContainersConf::parse(&bytes)
        .map_err(|issues| {
            issues
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })?
        .containers
        .pop()
        .ok_or_else(|| "no entry".to_string())
}

/// `<working_path>/containers.conf`; or Digi's `cc-containers.conf` when only that one
/// exists, so berthd given cc-containerd's working path manages its containers where
/// they are (and writes them back to that file).
pub fn containers_path(working_path: &Path) -> PathBuf {
    let ours = working_path.join("containers.conf");
    let digis = working_path.join("cc-containers.conf");
    if !ours.exists() && digis.exists() {
        digis
    } else {
        ours
    }
}

/// `version`: a string, or a number as Digi's documented example writes it (then
/// its decimal text is the version, and the number is kept to be written back).
fn version_field(
    c: &mut Checker,
    obj: &Map<String, Value>,
    path: &str,
) -> (Option<String>, Option<serde_json::Number>) {
    match obj.get("version") {
        Some(Value::Number(n)) => (Some(n.to_string()), Some(n.clone())),
        Some(Value::String(s)) => (Some(s.clone()), None),
        None => {
            c.fail(
                &format!("{path}.version"),
                "is required (a string or a number)",
            );
            (None, None)
        }
        Some(other) => {
            c.fail(
                &format!("{path}.version"),
                format!("must be a string or a number, got {}", describe(other)),
            );
            (None, None)
        }
    }
}

impl ContainersConf {
    /// Reads the file; a missing file is an empty list.
    pub fn load(path: &Path) -> Result<ContainersConf, StoreError> {
        match std::fs::read(path) {
            Ok(bytes) => Self::parse(&bytes).map_err(|issues| {
                StoreError::Invalid(FileIssues {
                    path: path.to_path_buf(),
                    issues,
                })
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ContainersConf::default()),
            Err(source) => Err(StoreError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    pub fn parse(bytes: &[u8]) -> Result<ContainersConf, Vec<berth_package::manifest::FieldIssue>> {
        let value = json_object(bytes).map_err(|issue| vec![issue])?;
        let mut c = Checker::default();
        let items = match value.get("containers") {
            Some(Value::Array(items)) => items.clone(),
            _ => {
                c.fail("containers", "is required (a list)");
                return Err(c.issues);
            }
        };
        let mut out = ContainersConf::default();
        for (i, item) in items.iter().enumerate() {
            let path = format!("containers[{i}]");
            let Value::Object(obj) = item else {
                c.fail(&path, format!("must be an object, got {}", describe(item)));
                continue;
            };
            let id = str_field(&mut c, obj, &path, "id", true);
            if let Some(id) = &id {
                if let Err(rule) = check_identifier(id) {
                    c.fail(
                        &format!("{path}.id"),
                        format!("{rule}, got {}", describe(&Value::String(id.clone()))),
                    );
                } else if out.containers.iter().any(|e: &ContainerEntry| &e.id == id) {
                    c.fail(&format!("{path}.id"), format!("{id} is listed twice"));
                }
            }
            let friendly_name = str_field(&mut c, obj, &path, "friendly_name", false);
            let (version, version_number) = version_field(&mut c, obj, &path);
            let runtime = str_field(&mut c, obj, &path, "runtime", true);
            if let Some(rt) = &runtime {
                if rt.parse::<berth_package::RuntimeKind>().is_err() {
                    c.fail(
                        &format!("{path}.runtime"),
                        format!(
                            "must be one of {}, got {}",
                            berth_package::manifest::known_runtimes(),
                            describe(&Value::String(rt.clone()))
                        ),
                    );
                }
            }
            let create_args = str_field(&mut c, obj, &path, "create_args", false);
            let autostart = c.boolean(obj, &path, "autostart");
            let monitor = c.boolean(obj, &path, "monitor");
            let restart = c
                .object(obj, &format!("{path}.restart"), "restart", true)
                .and_then(|r| check_restart(&mut c, r, &format!("{path}.restart")));
            let follow = str_field(&mut c, obj, &path, "follow", false);
            if let Some(Err(rule)) = follow.as_deref().map(check_follow) {
                c.fail(&format!("{path}.follow"), rule);
            }
            let health_path = format!("{path}.health");
            let health = c
                .object(obj, &health_path, "health", false)
                .map(|h| check_health(&mut c, h, &health_path));
            if let (
                Some(id),
                Some(version),
                Some(runtime),
                Some(autostart),
                Some(monitor),
                Some(restart),
            ) = (id, version, runtime, autostart, monitor, restart)
            {
                out.containers.push(ContainerEntry {
                    friendly_name: friendly_name.unwrap_or_else(|| id.clone()),
                    id,
                    version,
                    version_number,
                    runtime,
                    create_args,
                    autostart,
                    monitor,
                    restart,
                    health: health.flatten(),
                    follow,
                });
            }
        }
        if c.issues.is_empty() {
            Ok(out)
        } else {
            Err(c.issues)
        }
    }

    /// Writes the file atomically, indented like the manifest; a version read as a
    /// number is written as that number.
    pub fn save(&self, path: &Path) -> Result<(), StoreError> {
        let value = serde_json::json!({
            "containers": self.containers.iter().map(entry_json).collect::<Vec<_>>()
        });
        let mut bytes = serde_json::to_vec_pretty(&value).expect("serialisable");
        bytes.push(b'\n');
        write_atomic(path, &bytes).map_err(|source| StoreError::Write {
            path: path.to_path_buf(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> ContainerEntry {
        ContainerEntry {
            id: id.into(),
            friendly_name: format!("{id} app"),
            version: "1.0.0".into(),
            version_number: None,
            runtime: "podman".into(),
            create_args: Some(format!("--name {id} localhost/{id}:1")),
            autostart: true,
            monitor: true,
            restart: RestartPolicy {
                enabled: true,
                max_retries: 3,
                window: 60,
                retry_delay: 1,
            },
            health: None,
            follow: Some(format!("docker://registry.example/fleet/{id}:stable")),
        }
    }

    #[test]
    fn a_followed_reference_must_be_a_tag_of_a_registry() {
        let conf = |follow: &str| {
            let mut v = serde_json::json!({"containers": [entry_json(&entry("web"))]});
            v["containers"][0]["follow"] = follow.into();
            ContainersConf::parse(v.to_string().as_bytes())
        };
        assert!(conf("docker://r:5000/a/b:stable").is_ok());
        for (bad, rule) in [
            ("r/a:1", "must be docker://HOST/REPO:TAG"),
            ("docker://", "must be docker://HOST/REPO:TAG"),
            ("docker://r/a@sha256:00", "names a digest"),
            ("docker://r/a:1 x", "space or control"),
        ] {
            let issues = conf(bad).unwrap_err();
            assert_eq!(issues[0].field, "containers[0].follow", "{bad}");
            assert!(issues[0].to_string().contains(rule), "{bad}: {}", issues[0]);
        }
    }

    #[test]
    fn missing_file_is_empty_and_saved_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("containers.conf");
        assert_eq!(
            ContainersConf::load(&path).unwrap(),
            ContainersConf::default()
        );
        let conf = ContainersConf {
            containers: vec![entry("web"), entry("db")],
        };
        conf.save(&path).unwrap();
        assert_eq!(ContainersConf::load(&path).unwrap(), conf);
    }

    #[test]
    fn hand_edit_errors_are_named_by_key_and_the_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("containers.conf");
        let text = r#"{"containers": [
            {"id": "web", "version": "1", "runtime": "podman", "autostart": "yes", "monitor": true,
             "restart": {"enabled": true, "max_retries": 3, "retry_delay": 1, "window": 0}},
            {"id": "web", "version": "1", "runtime": "rkt", "autostart": true, "monitor": true,
             "restart": {"enabled": true, "max_retries": 3, "retry_delay": 1, "window": 5}}
        ]}"#;
        std::fs::write(&path, text).unwrap();
        let err = ContainersConf::load(&path).unwrap_err().to_string();
        let p = path.display();
        assert_eq!(
            err.lines().collect::<Vec<_>>(),
            [
                format!("{p}: containers[0].autostart must be a boolean, got string \"yes\""),
                format!("{p}: containers[0].restart.window must be an integer >= 1, got 0"),
                format!("{p}: containers[1].runtime must be one of podman, docker, lxc, runc, got string \"rkt\""),
            ]
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }

    #[test]
    fn a_numeric_version_reads_as_its_text_and_is_written_back_as_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cc-containers.conf");
        std::fs::write(
            &path,
            r#"{"containers": [{"id": "web", "version": 1, "runtime": "podman",
                "autostart": true, "monitor": true,
                "restart": {"enabled": true, "max_retries": 3, "retry_delay": 1, "window": 60}}]}"#,
        )
        .unwrap();
        let conf = ContainersConf::load(&path).unwrap();
        assert_eq!(conf.containers[0].version, "1");
        conf.save(&path).unwrap();
        let saved: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["containers"][0]["version"], serde_json::json!(1));
        let bad = br#"{"containers": [{"id": "web", "version": true, "runtime": "podman",
            "autostart": true, "monitor": true,
            "restart": {"enabled": true, "max_retries": 3, "retry_delay": 1, "window": 60}}]}"#;
        assert_eq!(
            ContainersConf::parse(bad).unwrap_err()[0].to_string(),
            "containers[0].version must be a string or a number, got boolean true"
        );
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let conf = ContainersConf {
            containers: vec![entry("web"), entry("web")],
        };
        let bytes = serde_json::to_vec(&conf).unwrap();
        let issues = ContainersConf::parse(&bytes).unwrap_err();
        assert_eq!(
            issues[0].to_string(),
            "containers[1].id web is listed twice"
        );
    }
}
