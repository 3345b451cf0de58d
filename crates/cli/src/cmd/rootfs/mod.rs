//! `berth rootfs …`: containers in a device root filesystem at build time.

pub mod install;
pub mod loader;
pub mod populate;
pub mod units;

use crate::exit::{chain, Failure};
use berth_rootfs::RootfsError;

/// Containers in a device root filesystem, ready at first boot.
///
/// install: packages berthd installs at its first start (meta-virtualization's
/// BUNDLED_CONTAINERS, for berthd). units: systemd units for devices without berthd,
/// as meta-virtualization writes them. populate: an image into the engine's storage,
/// for devices without berthd. loader: Isar's container loader. Every path is
/// resolved inside the rootfs: its symlinks never lead to the build host's files.
#[derive(clap::Subcommand)]
pub enum RootfsCommand {
    Install(install::InstallArgs),
    Units(units::UnitsArgs),
    Loader(loader::LoaderArgs),
    Populate(populate::PopulateArgs),
}

pub fn run(command: RootfsCommand) -> Result<(), Failure> {
    match command {
        RootfsCommand::Install(a) => install::run(a),
        RootfsCommand::Units(a) => units::run(a),
        RootfsCommand::Loader(a) => loader::run(a),
        RootfsCommand::Populate(a) => populate::run(a),
    }
}

/// Exit 2 for input that breaks a rule, 1 for the rest.
pub fn failure(e: impl Into<RootfsError>) -> Failure {
    match e.into() {
        RootfsError::Image(e) => super::image::failure(e),
        e if e.is_invalid() => Failure::bad_input(chain(&e)),
        e => Failure::failed(chain(&e)),
    }
}
