use crate::exit::Failure;
use crate::output::status_line;
use crate::{checked_id, pretty, Ctx};
use berth_api::{paths, Status};

/// What the runtime says of a container now (`missing` when it is gone).
#[derive(clap::Args)]
pub struct StatusArgs {
    /// The container's id.
    id: String,
}

pub fn run(ctx: &Ctx, args: StatusArgs) -> Result<String, Failure> {
    let id = checked_id(&args.id)?;
    let st: Status = ctx.client.get(&paths::container(id, &["status"]))?;
    Ok(if ctx.json {
        pretty(&st)
    } else {
        status_line(&st)
    })
}
