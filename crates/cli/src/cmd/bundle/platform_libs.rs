//! `berth bundle platform-libs`: a device rootfs's `_libs.json`.

use crate::exit::{print, Failure};
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
    if !args.rootfs.is_dir() {
        return Err(Failure::bad_input(format!(
            "{}: not a directory",
            args.rootfs.display()
        )));
    }
    let listing =
        berth_bundle::libs::platform_libs::platform_libs(&args.rootfs).map_err(super::failure)?;
    for (lib, needed) in &listing.unresolved {
        eprintln!("berth: warning: {lib}: needs {needed}, which the rootfs does not have");
    }
    let mut text = berth_bundle::output::config_json(&listing.libs);
    text.push(b'\n');
    match &args.output {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut temp = tempfile::NamedTempFile::new_in(dir)
                .map_err(|e| Failure::failed(format!("{}: {e}", dir.display())))?;
            std::io::Write::write_all(&mut temp, &text)
                .map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
            temp.persist(path)
                .map_err(|e| Failure::failed(format!("{}: {}", path.display(), e.error)))?;
            Ok(())
        }
        None => print(&String::from_utf8_lossy(&text)),
    }
}
