use crate::exit::Failure;
use crate::{checked_id, pretty, Ctx};
use berth_api::{paths, Container};
use serde_json::{json, Value};

#[derive(clap::Subcommand)]
pub enum ConfigCommand {
    /// Print all settings, or the one named by KEY (e.g. restart.window).
    Get {
        /// The container's id.
        id: String,
        /// autostart, monitor, restart, restart.enabled, restart.max_retries,
        /// restart.window, restart.retry_delay, health or health.<key>.
        key: Option<String>,
    },
    /// Change a setting without reinstalling: autostart, monitor, restart.<enabled|
    /// max_retries|window|retry_delay>, health.<interval|timeout|retries|start_period>,
    /// a probe (health.cmd '["/bin/check"]', health.http http://127.0.0.1:8080/healthz,
    /// health.tcp 127.0.0.1:6379) or the whole check (health '{"tcp": "…"}', or
    /// health null to remove it). VALUE is JSON (true, 30, ["a","b"], {...}) or, when
    /// it is not, a plain string.
    Set {
        /// The container's id.
        id: String,
        key: String,
        value: String,
    },
}

fn settings(c: &Container) -> Value {
    let mut all = json!({"autostart": c.autostart, "monitor": c.monitor, "restart": c.restart});
    if let Some(h) = &c.health_check {
        all["health"] = json!(h);
    }
    all
}

pub fn run(ctx: &Ctx, command: ConfigCommand) -> Result<String, Failure> {
    match command {
        ConfigCommand::Set { id, key, value } => {
            let id = checked_id(&id)?;
            // JSON when it parses as JSON; else the text itself (a URL, an address).
            let parsed: Value =
                serde_json::from_str(&value).unwrap_or_else(|_| Value::String(value.clone()));
            if !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
            {
                return Err(Failure::bad_input(format!(
                    "{key:?} is not a setting: use one of {}",
                    berth_api::SETTINGS
                )));
            }
            let saved: Container = ctx.client.call(
                "PUT",
                &paths::container(id, &["config", &key]),
                Some(&parsed),
            )?;
            Ok(if ctx.json {
                pretty(&saved)
            } else {
                format!("{id}: {key} = {parsed}\n")
            })
        }
        ConfigCommand::Get { id, key } => {
            let id = checked_id(&id)?;
            let c: Container = ctx.client.get(&paths::container(id, &[]))?;
            let all = settings(&c);
            let value = match key.as_deref() {
                None => all,
                Some(k) => {
                    let mut v = &all;
                    for part in k.split('.') {
                        v = v.get(part).ok_or_else(|| {
                            Failure::bad_input(format!(
                                "{k:?} is not a setting (or not set): use one of restart, {}",
                                berth_api::SETTINGS
                            ))
                        })?;
                    }
                    v.clone()
                }
            };
            Ok(match (&value, ctx.json) {
                (Value::Object(_), _) | (_, true) => pretty(&value),
                (scalar, false) => format!("{scalar}\n"),
            })
        }
    }
}
