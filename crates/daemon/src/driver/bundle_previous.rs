//! The bundle driver's previous versions: an upgrade's replaced bundle stays in
//! `<dir>-previous/<id>` while the record keeps it; a rollback moves the current
//! bundle to `<dir>-rolledback/<id>` and the previous one into place, and removes
//! the rolled-back one once the rollback commits. Each bundle holds its version in
//! `berth-version`, so recovery can tell the steps apart.

use super::bundle::{BundleDriver, VERSION_FILE};
use crate::error::{io, OpError};
use crate::home::Home;
use std::path::Path;

fn version_in(bundle: &Path) -> Option<String> {
    std::fs::read_to_string(bundle.join(VERSION_FILE)).ok()
}

/// The bytes of the files under `dir` (symlinks not followed).
pub fn tree_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_bytes(&e.path()),
            Ok(_) => e.metadata().map(|m| m.len()).unwrap_or(0),
            Err(_) => 0,
        })
        .sum()
}

impl BundleDriver {
    pub(super) fn rolled_back_dir(&self) -> std::path::PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push("-rolledback");
        self.path.with_file_name(name)
    }

    /// Place ← previous, the current one aside; undone if the second move fails.
    pub(super) fn swap_bundles(&self, id: &str) -> Result<(), OpError> {
        let place = self.path.join(id);
        let kept = self.previous.join(id);
        if !kept.is_dir() {
            return Err(OpError::BadRequest(format!(
                "{id}: the previous version's bundle {} is gone: nothing to roll back to",
                kept.display()
            )));
        }
        let dir = self.rolled_back_dir();
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let aside = dir.join(id);
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::rename(&place, &aside).map_err(io(format!("moving {id} aside")))?;
        if let Err(e) = std::fs::rename(&kept, &place) {
            let _ = std::fs::rename(&aside, &place);
            return Err(io(format!("putting the previous version of {id} in place"))(e));
        }
        Ok(())
    }

    pub(super) fn remove_rolled_back(&self, id: &str) {
        let _ = std::fs::remove_dir_all(self.rolled_back_dir().join(id));
    }

    /// Recovery of rollbacks: a rolled-back bundle whose version is still the
    /// registered one goes back in place (the previous one back aside); else it goes.
    pub(super) fn recover_rollbacks(
        &self,
        registered: super::Registered<'_>,
        done: &mut Vec<String>,
    ) {
        let Ok(dirs) = std::fs::read_dir(self.rolled_back_dir()) else {
            return;
        };
        for d in dirs.flatten() {
            let id = d.file_name().to_string_lossy().into_owned();
            let place = self.path.join(&id);
            if registered(&id).is_some() && version_in(&d.path()) == registered(&id) {
                if place.exists() {
                    let _ = std::fs::create_dir_all(&self.previous);
                    let _ = std::fs::remove_dir_all(self.previous.join(&id));
                    let _ = std::fs::rename(&place, self.previous.join(&id));
                }
                match std::fs::rename(d.path(), &place) {
                    Ok(()) => done.push(format!("{id}: undid an interrupted rollback")),
                    Err(e) => done.push(format!("error: {id}: undoing a rollback: {e}")),
                }
            } else {
                let _ = std::fs::remove_dir_all(d.path());
                done.push(format!("{id}: finished an interrupted rollback"));
            }
        }
    }

    /// A record of this runtime that keeps a previous version whose bundle is not
    /// aside keeps nothing: a rollback to it could only fail. (Written by a berthd
    /// killed between removing the older kept bundle and moving the replaced one
    /// aside, before the upgrade let go of it first.)
    pub(super) fn forget_lost_previous(&self, home: &Home, done: &mut Vec<String>) {
        use super::Driver;
        let kind = self.kind();
        for (id, record) in home.state().containers {
            let Some(previous) = &record.previous else {
                continue;
            };
            let runtime = record.runtime.as_deref().and_then(|r| r.parse().ok());
            if runtime != Some(kind)
                || version_in(&self.previous.join(&id)).as_deref() == Some(&previous.version)
            {
                continue;
            }
            home.update_state(|st| {
                if let Some(r) = st.containers.get_mut(&id) {
                    r.previous = None;
                }
            });
            done.push(format!(
                "{id}: forgot previous version {} (its bundle is gone)",
                previous.version
            ));
        }
    }

    /// Whether the bundle aside for `id` is the previous version its record keeps
    /// (and the one in place the registered version).
    pub(super) fn is_kept(&self, home: &Home, id: &str, registered: Option<String>) -> bool {
        let kept = home.record(id).and_then(|r| r.previous).map(|p| p.version);
        let aside = version_in(&self.previous.join(id));
        let placed = version_in(&self.path.join(id));
        kept.is_some() && aside == kept && registered.is_some() && placed == registered
    }
}
