//! Unpacking a bundle (.tar.gz) that arrives as a stream, without a copy of the
//! archive: LXC's (`config` + `rootfs/`) and OCI runtime bundles (`config.json` + the
//! root filesystem it names), at the top of the archive or in one directory. The
//! archive is a stranger's: it is applied by the same root-confined applier as image
//! layers on the build host (berth-fs), every name and link kept inside `dest`,
//! within limits.

use crate::RuntimeError;
use berth_fs::layer::{self, LayerLimits, Whiteouts};
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
    // A bundle expands to at most the space left where it goes: refused with one
    // line naming the limit rather than filling the device's disk.
    let free = rustix::fs::statvfs(dest)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .map_err(|e| RuntimeError::Scratch(e.into()))?;
    let mut stream = RecordingReader {
        inner: input,
        error: None,
    };
    // Every member of the stream: berth writes bundles as many (berth-compress). A
    // bundle a delta package rebuilt comes uncompressed.
    let mut buffered = std::io::BufReader::with_capacity(256 * 1024, &mut stream);
    let gzipped = std::io::BufRead::fill_buf(&mut buffered)
        .map(|head| head.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(true);
    let gz: Box<dyn Read + '_> = if gzipped {
        Box::new(berth_compress::ParallelGunzip::new(buffered))
    } else {
        Box::new(buffered)
    };
    let options = layer::Options {
        privileged: rustix::process::geteuid().is_root(),
        whiteouts: Whiteouts::None,
        // As before berth-fs: a device's store need not support user xattrs.
        xattrs: false,
        limits: LayerLimits::expanding_to(free),
    };
    let applied = layer::apply(dest, gz, &options);
    if let Some(e) = stream.error.take() {
        // The package (or the connection) failed under the archive: its error, not
        // the tar reader's view of a stream cut short.
        return Err(RuntimeError::Input(e));
    }
    applied.map_err(|e| RuntimeError::Archive(format!("{what}: {}: {}", e.entry, e.why)))?;
    let top_dirs: Vec<PathBuf> = std::fs::read_dir(dest)
        .map_err(RuntimeError::Scratch)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    berth_format::archive::locate_bundle(top_dirs, |dir| holds(dir.map_or(dest, PathBuf::as_path)))
        .map(|dir| dir.unwrap_or_else(|| dest.to_path_buf()))
        .ok_or_else(|| RuntimeError::Archive(String::new()))
}

/// The input, keeping its first error: the reader above it sees only a message.
struct RecordingReader<'a> {
    inner: &'a mut dyn Read,
    error: Option<std::io::Error>,
}

impl Read for RecordingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::Interrupted {
                return e;
            }
            let copy = std::io::Error::new(e.kind(), e.to_string());
            self.error.get_or_insert(e);
            copy
        })
    }
}
