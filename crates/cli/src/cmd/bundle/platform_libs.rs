//! `berth bundle platform-libs`: a device rootfs's `_libs.json`.

use crate::exit::{chain, print, Failure};
use std::path::PathBuf;

/// Write the _libs.json of a device root filesystem (every shared library: name,
/// apiversions, deps), as RDK's build makes it with readelf, for any architecture.
#[derive(clap::Args)]
pub struct PlatformLibsArgs {
    /// The device's root filesystem.
    #[arg(value_name = "ROOTFS")]
    rootfs: PathBuf,
    /// Where to write it (default: standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(args: PlatformLibsArgs) -> Result<(), Failure> {
    match std::fs::metadata(&args.rootfs) {
        Err(e) => {
            return Err(Failure::failed(format!(
                "{}: cannot read: {e}",
                args.rootfs.display()
            )))
        }
        Ok(m) if !m.is_dir() => {
            return Err(Failure::bad_input(format!(
                "{}: not a directory",
                args.rootfs.display()
            )))
        }
        Ok(_) => {}
    }
    let listing =
        berth_bundle::libs::platform_libs::platform_libs(&args.rootfs).map_err(super::failure)?;
    for (lib, needed) in &listing.unresolved {
        eprintln!("berth: warning: {lib}: needs {needed}, which the rootfs does not have");
    }
    let mut text = berth_bundle::output::config_json(&listing.libs);
    text.push(b'\n');
    match &args.output {
        Some(path) => berth_fs::write_atomic(path, |f| std::io::Write::write_all(f, &text), 0o644)
            .map_err(|e| Failure::failed(chain(&e))),
        None => print(&String::from_utf8_lossy(&text)),
    }
}
