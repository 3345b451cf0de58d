//! `berth bundle …`: device bundles as RDK's BundleGen makes them, and the
//! `_libs.json` of a device rootfs.

pub mod generate;
pub mod platform_libs;

use crate::exit::{chain, Failure};
use berth_bundle::BundleError;

/// Device bundles for RDK's Dobby (and plain OCI bundles), as BundleGen makes them.
#[derive(clap::Subcommand)]
pub enum BundleCommand {
    Generate(Box<generate::GenerateArgs>),
    PlatformLibs(platform_libs::PlatformLibsArgs),
}

pub fn run(command: BundleCommand) -> Result<(), Failure> {
    match command {
        BundleCommand::Generate(a) => generate::run(*a),
        BundleCommand::PlatformLibs(a) => platform_libs::run(a),
    }
}

/// BundleGen's exit codes: 2 when the app is incompatible with the platform, 1 for
/// every other error.
pub fn failure(e: BundleError) -> Failure {
    match e {
        BundleError::Incompatible { .. } => Failure::bad_input(chain(&e)),
        e => Failure::failed(chain(&e)),
    }
}
