use crate::exit::Failure;
use crate::output::status_line;
use crate::{checked_id, pretty, Ctx};
use berth_api::{paths, Status, MAX_STOP_SECONDS};

/// Start a container.
#[derive(clap::Args)]
pub struct StartArgs {
    /// The container's id.
    id: String,
}

/// Stop a container (a stop through berthd is never a crash: it is not restarted),
/// or stop and start it again (restart).
#[derive(clap::Args)]
pub struct StopArgs {
    /// The container's id.
    id: String,
    /// Seconds to wait after SIGTERM before SIGKILL (at most a day).
    #[arg(long, short = 't', default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=MAX_STOP_SECONDS))]
    time: u64,
}

fn answer(ctx: &Ctx, path: String) -> Result<String, Failure> {
    let st: Status = ctx.client.call("POST", &path, None)?;
    Ok(if ctx.json {
        pretty(&st)
    } else {
        status_line(&st)
    })
}

pub fn start(ctx: &Ctx, args: StartArgs) -> Result<String, Failure> {
    let id = checked_id(&args.id)?;
    answer(ctx, paths::container(id, &["start"]))
}

/// `action`: stop or restart.
pub fn stop(ctx: &Ctx, args: StopArgs, action: &str) -> Result<String, Failure> {
    let id = checked_id(&args.id)?;
    let path = paths::with_query(
        paths::container(id, &[action]),
        &[("time", args.time.to_string())],
    );
    answer(ctx, path)
}
