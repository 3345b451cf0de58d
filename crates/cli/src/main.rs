//! `berth`: the build-host tool. Argument parsing and output only; the work is in
//! the library crates.

mod cmd;

use berth_exit as exit;

use clap::{Parser, Subcommand};

/// Build, pack, inspect, verify and sign container packages for embedded devices.
///
/// Packages are DCP-compatible gzip tarballs (checksums/, manifest.json, metadata/,
/// payload/) that Digi's tools and berth both read.
#[derive(Parser)]
#[command(
    name = "berth",
    version,
    propagate_version = true,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Pack(cmd::pack::PackArgs),
    Inspect(cmd::check::InspectArgs),
    Verify(cmd::check::VerifyArgs),
    Keygen(cmd::keygen::KeygenArgs),
    #[command(subcommand)]
    Image(cmd::image::ImageCommand),
    Push(cmd::push::PushArgs),
    Pull(cmd::pull::PullArgs),
    Rollout(cmd::rollout::RolloutArgs),
    #[command(subcommand)]
    Bundle(cmd::bundle::BundleCommand),
    #[command(subcommand)]
    Rootfs(cmd::rootfs::RootfsCommand),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pack(args) => cmd::pack::run(args),
        Command::Inspect(args) => cmd::check::inspect(args),
        Command::Verify(args) => cmd::check::verify(args),
        Command::Keygen(args) => cmd::keygen::run(args),
        Command::Image(command) => cmd::image::run(command),
        Command::Push(args) => cmd::push::run(args),
        Command::Pull(args) => cmd::pull::run(args),
        Command::Rollout(args) => cmd::rollout::run(args),
        Command::Bundle(command) => cmd::bundle::run(command),
        Command::Rootfs(command) => cmd::rootfs::run(command),
    };
    exit::finish("berth", result)
}
