use crate::exit::Failure;
use crate::{checked_id, Ctx};
use berth_api::paths;
use std::io::{Read, Write};

/// A container's output.
#[derive(clap::Args)]
pub struct LogsArgs {
    /// The container's id.
    id: String,
    /// Keep printing new output until interrupted.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<u64>,
    /// Only output since this time: RFC 3339 (2026-11-23T09:00:00Z) or a duration
    /// ago (10m, 1h).
    #[arg(long, value_name = "T")]
    since: Option<String>,
}

pub fn run(ctx: &Ctx, args: LogsArgs) -> Result<String, Failure> {
    let id = checked_id(&args.id)?;
    let mut query = vec![("follow", args.follow.to_string())];
    query.extend(args.tail.map(|n| ("tail", n.to_string())));
    query.extend(args.since.map(|t| ("since", t)));
    let path = paths::with_query(paths::container(id, &["logs"]), &query);
    let mut body = ctx.client.request("GET", &path, None, None)?.streamed()?;
    // Printed as it arrives (bytes as the container wrote them): --follow runs until
    // interrupted; a closed stdout ends it quietly.
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = body
            .read(&mut buf)
            .map_err(|e| Failure::failed(format!("talking to berthd: {e}")))?;
        if n == 0 || out.write_all(&buf[..n]).and_then(|_| out.flush()).is_err() {
            return Ok(String::new());
        }
    }
}
