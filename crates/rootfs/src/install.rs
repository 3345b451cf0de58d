//! `berth rootfs install`: packages placed under a device's berthd working path,
//! where berthd installs them at its start (`preinstalled/`, see berthd's
//! `ops/preinstall.rs` for when). Each package is copied into the rootfs and the
//! copy verified — checksums, manifest, payload digest, and the signature against
//! the keys the device trusts — before it takes its name there, so a package the
//! device would refuse never lands in the image.

use crate::error::RootfsError;
use berth_fs::{write_atomic, AtomicFile, Root};
use berth_package::preinstalled::{DELETE_AFTER_INSTALL, PREINSTALLED_DIR};
use berth_package::sign::SignatureStatus;
use berth_package::{read_package, Compression, ReadOptions};
use ed25519_dalek::VerifyingKey;
use std::path::{Path, PathBuf};

/// What the device's berthd is configured with, as far as placing packages goes.
#[derive(Debug, Clone)]
pub struct DeviceTrust {
    pub keys: Vec<VerifyingKey>,
    pub require_signature: bool,
}

#[derive(Debug, Clone)]
pub struct InstallOptions {
    /// berthd's working path on the device (`/var/lib/berth` by default).
    pub working_path: String,
    pub trust: DeviceTrust,
    /// Let berthd delete the package file once installed (no factory reset copy).
    pub delete_after_install: bool,
}

/// One package placed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Placed {
    pub source: PathBuf,
    pub id: String,
    pub version: String,
    pub runtime: String,
    pub payload_digest: String,
    /// Where it is on the device.
    pub device_path: String,
    pub signature: String,
    pub delete_after_install: bool,
}

/// Places `package` into `root` under the working path's `preinstalled/`, as
/// `<id>.tar.gz` (or `.tar.zst`): a later package of the same id replaces it.
pub fn place(root: &Root, opts: &InstallOptions, package: &Path) -> Result<Placed, RootfsError> {
    let dir_inside = format!(
        "{}/{PREINSTALLED_DIR}",
        opts.working_path.trim_end_matches('/')
    );
    let dir = root.create_dir_all(&dir_inside)?;
    let mut source =
        std::fs::File::open(package).map_err(RootfsError::io(package, "cannot open"))?;
    // Named by the package's id once it is read: see rename_to below.
    let mut staged = AtomicFile::create(&dir.join(".incoming"))?;
    std::io::copy(&mut source, staged.file())
        .and_then(|_| staged.file().sync_all())
        .map_err(RootfsError::io(package, "cannot copy into the rootfs"))?;
    // The copy is what the device gets: verify the copy.
    let copy = std::fs::File::open(staged.temp_path())
        .map_err(RootfsError::io(staged.temp_path(), "cannot read"))?;
    let read_opts = ReadOptions {
        trusted_keys: opts.trust.keys.clone(),
        allow_unsigned: !opts.trust.require_signature,
        compressed_len: copy.metadata().ok().map(|m| m.len()),
        ..Default::default()
    };
    let report = read_package(copy, &read_opts).map_err(|e| {
        RootfsError::invalid(
            package.display().to_string(),
            e.to_string().replace('\n', "; "),
        )
    })?;
    let id = report.package_id.clone();
    let (name, other) = match report.compression {
        Compression::Gzip => (format!("{id}.tar.gz"), format!("{id}.tar.zst")),
        Compression::Zstd => (format!("{id}.tar.zst"), format!("{id}.tar.gz")),
    };
    staged.rename_to(&name);
    // 0600: a package may hold what only the device's root should read.
    staged.commit(0o600)?;
    // The same id in the other compression would be a second package of one id.
    remove_if_present(&dir.join(&other))?;
    remove_if_present(&dir.join(format!("{other}{DELETE_AFTER_INSTALL}")))?;
    let marker = dir.join(format!("{name}{DELETE_AFTER_INSTALL}"));
    if opts.delete_after_install {
        write_atomic(&marker, |_| Ok(()), 0o644)?;
    } else {
        remove_if_present(&marker)?;
    }
    sync_dir(&dir)?;
    let signature = match &report.signature {
        SignatureStatus::Unsigned => "unsigned".to_string(),
        SignatureStatus::Valid { key_id, trusted } => match trusted {
            true => format!("signed by trusted key {key_id}"),
            false => format!("signed by key {key_id} (not among the device's keys)"),
        },
    };
    Ok(Placed {
        source: package.to_path_buf(),
        id,
        version: report.version,
        runtime: report.runtime,
        payload_digest: report.payload.digest,
        device_path: format!("{dir_inside}/{name}"),
        signature,
        delete_after_install: opts.delete_after_install,
    })
}

fn remove_if_present(path: &Path) -> Result<(), RootfsError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RootfsError::io(path, "cannot remove")(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), RootfsError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(RootfsError::io(dir, "cannot sync"))
}
