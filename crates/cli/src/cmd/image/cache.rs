//! `berth image cache prune`.

use super::failure;
use crate::exit::{print, print_json, Failure};
use berth_image::build::cache::{default_dir, Cache};
use std::path::PathBuf;

/// The layer cache of `berth image build`.
#[derive(clap::Subcommand)]
pub enum CacheCommand {
    Prune(PruneArgs),
}

/// Remove least recently used layers until the cache holds at most --max-size bytes
/// (default 0: everything).
#[derive(clap::Args)]
pub struct PruneArgs {
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    #[arg(long, value_name = "BYTES", default_value_t = 0)]
    max_size: u64,
    #[arg(long)]
    json: bool,
}

pub fn run(command: CacheCommand) -> Result<(), Failure> {
    let CacheCommand::Prune(args) = command;
    let dir = args.cache_dir.unwrap_or_else(default_dir);
    let cache = Cache::open(&dir, args.max_size).map_err(failure)?;
    let report = cache.prune(args.max_size).map_err(failure)?;
    if args.json {
        return print_json(&report);
    }
    print(&format!(
        "{}: removed {} layers ({} bytes); {} kept ({} bytes)\n",
        dir.display(),
        report.removed,
        report.freed,
        report.kept,
        report.bytes
    ))
}
