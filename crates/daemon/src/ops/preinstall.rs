//! Packages a device image ships with (`berth rootfs install`): placed under
//! `<working_path>/preinstalled/` at build time, installed by berthd at start.
//!
//! A package there is installed when its container is not registered, or when it is
//! a package (id, version, payload digest) this device has not installed from there
//! before and the registered container is another version or build. So a rootfs
//! update that ships a new package installs it once, while a container updated since
//! (from a registry, by `berthctl install`) is not downgraded at the next start.
//! Each package is checked again as it installs; one that fails is reported and
//! kept for the next start, and does not stop the others.

use crate::atomic::write_atomic;
use crate::daemon::Daemon;
use crate::error::OpError;
use berth_package::preinstalled::{is_package_name, DELETE_AFTER_INSTALL, PREINSTALLED_DIR};
use berth_package::{read_head, PackageHead, ReadOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What berthd installed from the directory: file name → package.
pub const APPLIED_FILE: &str = ".applied.json";

/// One package as `APPLIED_FILE` records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    pub id: String,
    pub version: String,
    pub payload_digest: String,
}

impl Applied {
    fn of(head: &PackageHead) -> Self {
        Applied {
            id: head.manifest.id().to_string(),
            version: head.manifest.version.clone(),
            payload_digest: head.payload_digest.clone(),
        }
    }
}

impl Daemon {
    pub fn preinstalled_dir(&self) -> PathBuf {
        self.home.working_path().join(PREINSTALLED_DIR)
    }

    /// Installs what `preinstalled/` holds and this device lacks. One line per
    /// package installed, skipped for a reason worth saying, or failed (`error: `).
    pub fn install_preinstalled(&self) -> Vec<String> {
        let dir = self.preinstalled_dir();
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| is_package_name(n))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => return vec![format!("error: {}: cannot list: {e}", dir.display())],
        };
        names.sort();
        let applied_path = dir.join(APPLIED_FILE);
        let mut applied = load_applied(&applied_path);
        let mut lines = Vec::new();
        for name in names {
            let path = dir.join(&name);
            match self.preinstall_one(&path, applied.get(&name)) {
                Ok(Outcome::Installed(record, line)) => {
                    lines.push(line);
                    applied.insert(name.clone(), record);
                    if let Err(e) = save_applied(&applied_path, &applied) {
                        lines.push(format!(
                            "warning: {}: cannot write: {e}",
                            applied_path.display()
                        ));
                    }
                    delete_if_asked(&path, &mut lines);
                }
                Ok(Outcome::Current) => delete_if_asked(&path, &mut lines),
                Ok(Outcome::Superseded(line)) => lines.push(line),
                Err(e) => lines.push(format!(
                    "error: {}: {} (kept; tried again at the next start)",
                    path.display(),
                    crate::error_chain(&e)
                )),
            }
        }
        lines
    }

    fn preinstall_one(&self, path: &Path, before: Option<&Applied>) -> Result<Outcome, OpError> {
        let opts = ReadOptions {
            trusted_keys: self.trusted_keys.clone(),
            allow_unsigned: !self.config().trust.require_signature,
            ..Default::default()
        };
        let open = || {
            std::fs::File::open(path).map_err(|source| OpError::Io {
                context: format!("opening {}", path.display()),
                source,
            })
        };
        let head = read_head(open()?, &opts).map_err(|e| OpError::Package(e.to_string()))?;
        let package = Applied::of(&head);
        let id = &package.id;
        let registered = self
            .home
            .containers()?
            .containers
            .into_iter()
            .find(|e| &e.id == id);
        let Some(registered) = registered else {
            return self.install_file(path, package, false);
        };
        let installed_digest = self.home.record(id).and_then(|r| r.package_digest);
        if registered.version == package.version
            && installed_digest.as_deref() == Some(package.payload_digest.as_str())
        {
            return Ok(Outcome::Current);
        }
        if before == Some(&package) {
            return Ok(Outcome::Superseded(format!(
                "{}: {id} {} was installed from here before; {id} {} is registered now and stays",
                path.display(),
                package.version,
                registered.version
            )));
        }
        let same_version = registered.version == package.version;
        self.install_file(path, package, same_version)
    }

    fn install_file(&self, path: &Path, package: Applied, force: bool) -> Result<Outcome, OpError> {
        let file = std::fs::File::open(path).map_err(|source| OpError::Io {
            context: format!("opening {}", path.display()),
            source,
        })?;
        let done = self.install(file, force)?;
        let line = match &done.replaced {
            Some(old) => format!(
                "pre-installed {} {} from {} (replacing {old})",
                done.id,
                done.version,
                path.display()
            ),
            None => format!(
                "pre-installed {} {} from {}",
                done.id,
                done.version,
                path.display()
            ),
        };
        Ok(Outcome::Installed(package, line))
    }
}

enum Outcome {
    Installed(Applied, String),
    /// The very package is installed.
    Current,
    /// Installed from here once; the device has moved on since.
    Superseded(String),
}

fn load_applied(path: &Path) -> BTreeMap<String, Applied> {
    // A missing or damaged record only means "nothing applied yet": the packages
    // registered already are recognised by their digests.
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn save_applied(path: &Path, applied: &BTreeMap<String, Applied>) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(applied).expect("serialisable");
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

fn delete_if_asked(path: &Path, lines: &mut Vec<String>) {
    let mut marker = path.as_os_str().to_owned();
    marker.push(DELETE_AFTER_INSTALL);
    let marker = PathBuf::from(marker);
    if !marker.exists() {
        return;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {
            let _ = std::fs::remove_file(&marker);
            lines.push(format!("deleted {} (delete after install)", path.display()));
        }
        Err(e) => lines.push(format!("warning: {}: cannot delete: {e}", path.display())),
    }
}
