use crate::exit::Failure;
use crate::{checked_id, pretty, Ctx};
use berth_api::{paths, Removed};

/// Stop and remove a container, its registration and its image.
#[derive(clap::Args)]
pub struct UninstallArgs {
    /// The container's id.
    id: String,
}

pub fn run(ctx: &Ctx, args: UninstallArgs) -> Result<String, Failure> {
    let id = checked_id(&args.id)?;
    let removed: Removed = ctx
        .client
        .call("DELETE", &paths::container(id, &[]), None)?;
    Ok(if ctx.json {
        pretty(&removed)
    } else {
        format!("uninstalled {}\n", removed.removed)
    })
}
