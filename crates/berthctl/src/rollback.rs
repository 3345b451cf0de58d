use crate::exit::Failure;
use crate::{checked_id, pretty, Ctx};
use berth_api::paths;
use serde_json::Value;

/// Put back the version the last upgrade replaced (berthd keeps it until the next
/// upgrade: `status` shows it as previous_version). The current version is stopped
/// and removed, the previous one started if the current one ran.
#[derive(clap::Args)]
pub struct RollbackArgs {
    /// The container's id.
    id: String,
}

pub fn run(ctx: &Ctx, args: RollbackArgs) -> Result<String, Failure> {
    let id = checked_id(&args.id)?;
    let done: Value = ctx
        .client
        .call("POST", &paths::container(id, &["rollback"]), None)?;
    Ok(if ctx.json {
        pretty(&done)
    } else {
        format!(
            "rolled {id} back from {} to {}{}\n",
            done["from"].as_str().unwrap_or("?"),
            done["to"].as_str().unwrap_or("?"),
            if done["started"] == true {
                ", running"
            } else {
                ""
            }
        )
    })
}
