use crate::exit::Failure;
use crate::output::human;
use crate::{checked_id, pretty, Ctx};
use berth_api::{paths, Stats};
use std::io::{IsTerminal, Write};

/// CPU, memory, network, block I/O and processes of a running container.
#[derive(clap::Args)]
pub struct StatsArgs {
    /// The container's id.
    id: String,
    /// Refresh every few seconds until interrupted (with --json: a line each time).
    #[arg(long, short = 'w')]
    watch: bool,
    /// Seconds between refreshes with --watch.
    #[arg(long, default_value_t = 2, value_name = "S")]
    interval: u64,
}

fn render(ctx: &Ctx, id: &str, s: &Stats, watch: bool) -> String {
    if ctx.json {
        return if watch {
            serde_json::to_string(s).unwrap_or_default() + "\n"
        } else {
            pretty(s)
        };
    }
    format!(
        "{id}: cpu {:.1}%, memory {} of {}, net rx {} tx {}, block read {} write {}, {} processes\n",
        s.cpu_percent,
        human(s.memory_bytes),
        human(s.memory_limit_bytes),
        human(s.net_rx_bytes),
        human(s.net_tx_bytes),
        human(s.block_read_bytes),
        human(s.block_write_bytes),
        s.pids
    )
}

pub fn run(ctx: &Ctx, args: StatsArgs) -> Result<String, Failure> {
    let id = checked_id(&args.id)?;
    let path = paths::container(id, &["stats"]);
    if !args.watch {
        let s: Stats = ctx.client.get(&path)?;
        return Ok(render(ctx, id, &s, false));
    }
    let tty = std::io::stdout().is_terminal() && !ctx.json;
    loop {
        let s: Stats = ctx.client.get(&path)?;
        let text = render(ctx, id, &s, true);
        let text = if tty {
            format!("\x1b[H\x1b[2J{text}")
        } else {
            text
        };
        let mut out = std::io::stdout().lock();
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(String::new());
        }
        drop(out);
        std::thread::sleep(std::time::Duration::from_secs(args.interval.max(1)));
    }
}
