//! `berth image unpack REF DIR`.

use super::{failure, parse_ref, Bars, ExpansionArgs, RegistryArgs};
use crate::exit::{print, print_json, Failure};
use berth_image::unpack::{unpack, UnpackOptions};
use berth_image::Platform;

/// Unpack an image into a runtime bundle: DIR/rootfs and DIR/config.json.
///
/// Lays out what `umoci unpack` does: the layers applied in order (whiteouts, opaque
/// directories, hard links, symlinks, modes, ownership, xattrs, device nodes when
/// root), and a runtime spec made from the image config with umoci's defaults. Every
/// entry of every layer is resolved inside DIR/rootfs: no name, link or earlier
/// symlink can make it write, link or remove anything outside. DIR must not exist
/// (or be empty); it appears only once complete.
#[derive(clap::Args)]
pub struct UnpackArgs {
    #[arg(value_name = "REF")]
    reference: String,
    #[arg(value_name = "DIR")]
    dir: std::path::PathBuf,
    /// Unpack as an unprivileged user would (files owned by the caller, no device
    /// nodes, umoci's rootless runtime spec). Implied when not run as root.
    #[arg(long)]
    rootless: bool,
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    /// Print a JSON report.
    #[arg(long)]
    json: bool,
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    expansion: ExpansionArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: UnpackArgs) -> Result<(), Failure> {
    let reference = parse_ref(&args.reference)?;
    let source = berth_registry::source(&reference, &args.registry.options()).map_err(failure)?;
    let options = UnpackOptions {
        platform: args.platform.clone(),
        rootless: args.rootless,
        limits: args.expansion.limits(),
    };
    let bars = Bars::new(args.quiet || args.json);
    let report = unpack(&*source, &args.dir, &options, &bars).map_err(failure)?;
    if args.json {
        return print_json(&report);
    }
    print(&format!(
        "unpacked {} ({}) into {}: {} layers, {} entries{}\n",
        args.reference,
        report.digest,
        args.dir.display(),
        report.layers,
        report.entries,
        if report.rootless { ", rootless" } else { "" }
    ))
}
