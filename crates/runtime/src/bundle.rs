//! Unpacking a bundle (.tar.gz) that arrives as a stream, without a copy of the
//! archive: LXC's (`config` + `rootfs/`) and OCI runtime bundles (`config.json` + the
//! root filesystem it names), at the top of the archive or in one directory.

use crate::RuntimeError;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Unpacks the .tar.gz read from `input` under `dest`; returns the directory for
/// which `holds` is true (`dest`, or its one subdirectory). `what` names the bundle
/// kind in errors; when no directory holds the bundle, the error is
/// `Archive("")` for the caller to word.
pub fn unpack(
    input: &mut dyn Read,
    dest: &Path,
    what: &str,
    holds: impl Fn(&Path) -> bool,
) -> Result<PathBuf, RuntimeError> {
    std::fs::create_dir_all(dest).map_err(RuntimeError::Scratch)?;
    // Every member of the stream: berth writes bundles as many (berth-compress).
    let gz =
        berth_compress::ParallelGunzip::new(std::io::BufReader::with_capacity(256 * 1024, input));
    let mut archive = tar::Archive::new(gz);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_unpack_xattrs(false);
    let bad = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::Other || e.kind() == std::io::ErrorKind::InvalidData {
            RuntimeError::Archive(format!("{what}: {e}"))
        } else {
            RuntimeError::Input(e)
        }
    };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        // unpack_in refuses paths that leave `dest` (.., absolute, through symlinks).
        entry.unpack_in(dest).map_err(bad)?;
    }
    if holds(dest) {
        return Ok(dest.to_path_buf());
    }
    let dirs: Vec<PathBuf> = std::fs::read_dir(dest)
        .map_err(RuntimeError::Scratch)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match dirs.as_slice() {
        [one] if holds(one) => Ok(one.clone()),
        _ => Err(RuntimeError::Archive(String::new())),
    }
}
