//! `berthctl`: the operator's command line for berthd. One file per subcommand;
//! `client.rs` talks to berthd's API with the api crate's types.

mod client;
mod config;
mod follow;
mod info;
mod install;
mod lifecycle;
mod list;
mod logs;
mod output;
mod rollback;
mod stats;
mod status;
mod uninstall;
mod updates;

use berth_exit::{self as exit, Failure};
use clap::{Parser, Subcommand};
use client::Client;
use std::path::PathBuf;
use std::process::ExitCode;

/// Control berthd, the berth device daemon.
///
/// Exit codes: 0 ok, 1 the operation failed, 2 bad input, 3 berthd unreachable.
#[derive(Parser)]
#[command(name = "berthctl", version, max_term_width = 100)]
struct Args {
    /// berthd's API socket.
    #[arg(
        long,
        global = true,
        env = "BERTH_SOCKET",
        default_value = "/run/berth/berthd.sock"
    )]
    socket: PathBuf,
    /// Print data as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Install(install::InstallArgs),
    Uninstall(uninstall::UninstallArgs),
    Start(lifecycle::StartArgs),
    Stop(lifecycle::StopArgs),
    Restart(lifecycle::StopArgs),
    Logs(logs::LogsArgs),
    Stats(stats::StatsArgs),
    /// Daemon version, runtimes found, working path, free disk.
    Info,
    /// The managed containers.
    List,
    Status(status::StatusArgs),
    Rollback(rollback::RollbackArgs),
    Follow(follow::FollowArgs),
    Updates(updates::UpdatesArgs),
    /// A container's registered settings (autostart, monitor, restart.*).
    #[command(subcommand)]
    Config(config::ConfigCommand),
}

/// What every subcommand gets.
pub struct Ctx {
    pub client: Client,
    pub json: bool,
}

/// Container ids travel in URL paths: only the characters an id may have.
pub fn checked_id(id: &str) -> Result<&str, Failure> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'));
    if ok {
        Ok(id)
    } else {
        Err(Failure::bad_input(format!(
            "{id:?} is not a container id (1-128 of A-Z a-z 0-9 . _ - +)"
        )))
    }
}

/// `value` as indented JSON and a newline.
pub fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}

fn run(args: Args) -> Result<(), Failure> {
    let ctx = Ctx {
        client: Client::new(args.socket),
        json: args.json,
    };
    let text = match args.command {
        Command::Install(a) => install::run(&ctx, a),
        Command::Uninstall(a) => uninstall::run(&ctx, a),
        Command::Start(a) => lifecycle::start(&ctx, a),
        Command::Stop(a) => lifecycle::stop(&ctx, a, "stop"),
        Command::Restart(a) => lifecycle::stop(&ctx, a, "restart"),
        Command::Logs(a) => logs::run(&ctx, a),
        Command::Stats(a) => stats::run(&ctx, a),
        Command::Info => info::run(&ctx),
        Command::List => list::run(&ctx),
        Command::Status(a) => status::run(&ctx, a),
        Command::Rollback(a) => rollback::run(&ctx, a),
        Command::Follow(a) => follow::run(&ctx, a),
        Command::Updates(a) => updates::run(&ctx, a),
        Command::Config(c) => config::run(&ctx, c),
    }?;
    exit::print(&text)
}

fn main() -> ExitCode {
    exit::finish("berthctl", run(Args::parse()))
}
