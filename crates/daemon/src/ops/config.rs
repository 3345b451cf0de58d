//! `config set`: one registered setting changed, checked by the manifest's rules.

use crate::daemon::Daemon;
use crate::error::OpError;
use crate::store::ContainerEntry;
use berth_package::manifest::{check_health, check_restart, Checker, RestartPolicy};
use serde_json::Value;

impl Daemon {
    /// Sets one registered setting (autostart, monitor, restart.*), checked by the
    /// manifest's rules; returns the entry as saved.
    pub fn config_set(
        &self,
        id: &str,
        key: &str,
        value: &Value,
    ) -> Result<ContainerEntry, OpError> {
        let _g = self.lock(id);
        self.home.update_conf(|conf| {
            let entry = conf
                .containers
                .iter_mut()
                .find(|e| e.id == id)
                .ok_or_else(|| OpError::NoSuchContainer(id.into()))?;
            apply_setting(entry, key, value)?;
            Ok(entry.clone())
        })
    }
}

/// Sets `key` of a registered container to `value`, by the manifest's rules.
pub fn apply_setting(entry: &mut ContainerEntry, key: &str, value: &Value) -> Result<(), OpError> {
    let bad = |rule: String| OpError::BadRequest(format!("{key} {rule}"));
    match key {
        "autostart" | "monitor" => {
            let b = value
                .as_bool()
                .ok_or_else(|| bad(format!("must be true or false, got {value}")))?;
            if key == "autostart" {
                entry.autostart = b;
            } else {
                entry.monitor = b;
            }
            Ok(())
        }
        k if k.starts_with("restart.") => {
            let field = &k["restart.".len()..];
            let mut r = serde_json::json!({
                "enabled": entry.restart.enabled,
                "max_retries": entry.restart.max_retries,
                "window": entry.restart.window,
                "retry_delay": entry.restart.retry_delay,
            });
            if r.get(field).is_none() {
                return Err(bad(format!(
                    "is not a setting: use one of {}",
                    berth_api::SETTINGS
                )));
            }
            r[field] = value.clone();
            let mut c = Checker::default();
            let policy: Option<RestartPolicy> =
                check_restart(&mut c, r.as_object().expect("object"), "restart");
            match (policy, c.issues.first()) {
                (Some(p), None) => {
                    entry.restart = p;
                    Ok(())
                }
                (_, Some(issue)) => Err(OpError::BadRequest(issue.to_string())),
                (None, None) => Err(bad("is invalid".into())),
            }
        }
        "health"
        | "health.cmd"
        | "health.http"
        | "health.tcp"
        | "health.interval"
        | "health.timeout"
        | "health.retries"
        | "health.start_period" => set_health(entry, key, value),
        _ => Err(bad(format!(
            "is not a setting: use one of {}",
            berth_api::SETTINGS
        ))),
    }
}

/// `health` (a whole check, or null to remove it), a probe (`health.cmd`, `.http`,
/// `.tcp`, replacing the one there) or a timing key, checked by the manifest's rules.
fn set_health(entry: &mut ContainerEntry, key: &str, value: &Value) -> Result<(), OpError> {
    let mut check = match (key, value) {
        ("health", Value::Null) => {
            entry.health = None;
            return Ok(());
        }
        ("health", v) => v.clone(),
        (_, _) => {
            let current = match &entry.health {
                Some(h) => serde_json::to_value(h).expect("serialisable"),
                None if matches!(key, "health.cmd" | "health.http" | "health.tcp") => {
                    serde_json::json!({})
                }
                None => {
                    return Err(OpError::BadRequest(format!(
                        "{key}: {} has no health check (set health.cmd, health.http or health.tcp first)",
                        entry.id
                    )))
                }
            };
            let mut check = current;
            let field = &key["health.".len()..];
            if matches!(field, "cmd" | "http" | "tcp") {
                for probe in ["cmd", "http", "tcp"] {
                    check.as_object_mut().expect("object").remove(probe);
                }
            }
            check[field] = value.clone();
            check
        }
    };
    let Some(obj) = check.as_object_mut() else {
        return Err(OpError::BadRequest(format!(
            "health must be an object like {{\"cmd\": [...], \"interval\": 30}}, got {value}"
        )));
    };
    let mut c = Checker::default();
    match (check_health(&mut c, obj, "health"), c.issues.first()) {
        (Some(h), None) => {
            entry.health = Some(h);
            Ok(())
        }
        (_, Some(issue)) => Err(OpError::BadRequest(issue.to_string())),
        (None, None) => Err(OpError::BadRequest(format!("{key} is invalid"))),
    }
}
