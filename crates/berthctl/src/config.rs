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
        /// restart.window or restart.retry_delay.
        key: Option<String>,
    },
    /// Change a setting without reinstalling: autostart, monitor or restart.<enabled|
    /// max_retries|window|retry_delay>. VALUE is true/false or a whole number.
    Set {
        /// The container's id.
        id: String,
        key: String,
        value: String,
    },
}

fn settings(c: &Container) -> Value {
    json!({"autostart": c.autostart, "monitor": c.monitor, "restart": c.restart})
}

pub fn run(ctx: &Ctx, command: ConfigCommand) -> Result<String, Failure> {
    match command {
        ConfigCommand::Set { id, key, value } => {
            let id = checked_id(&id)?;
            let parsed: Value = match value.as_str() {
                "true" => true.into(),
                "false" => false.into(),
                v => v.parse::<u64>().map(Into::into).map_err(|_| {
                    Failure::bad_input(format!(
                        "{key}: {value:?} is neither true/false nor a whole number"
                    ))
                })?,
            };
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
                                "{k:?} is not a setting: use one of restart, {}",
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
