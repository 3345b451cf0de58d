//! rollback: the version an upgrade replaced back in place of the current one —
//! by hand (`berthctl rollback`), or when the upgrade's probation fails. The steps,
//! each undone or finished by recovery after a crash (docs/recovery.md): the current
//! version stopped; the driver's swap (current aside, previous in place);
//! containers.conf registers the previous version (the commit); started if the
//! current one ran (or has autostart); its record in state.json; the rolled-back
//! version removed.

use crate::daemon::Daemon;
use crate::error::{runtime, OpError};
use crate::state::{ContainerRecord, Previous, RolledBack};
use berth_runtime::RuntimeError;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::MutexGuard;

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolledBackTo {
    pub id: String,
    /// The version rolled back from.
    pub from: String,
    /// The version now registered.
    pub to: String,
    pub started: bool,
}

/// The record of a version put back: the previous version's, with why. The images
/// only the version put aside used are listed as replaced, so that a kill between
/// removing its container and removing them leaves recovery their names.
pub fn record_of_previous(
    current: &ContainerRecord,
    previous: &Previous,
    rolled_back: Option<RolledBack>,
) -> ContainerRecord {
    let mut replaced_images: Vec<String> = current
        .images
        .iter()
        .chain(&current.replaced_images)
        .filter(|i| !previous.images.contains(i))
        .cloned()
        .collect();
    replaced_images.dedup();
    ContainerRecord {
        version: Some(previous.version.clone()),
        runtime: current.runtime.clone(),
        images: previous.images.clone(),
        replaced_images,
        package_digest: previous.package_digest.clone(),
        installed_at: previous.installed_at.clone(),
        rolled_back,
        ..Default::default()
    }
}

/// `id` marked as finishing its rollback until dropped (also when the rollback
/// panics: the mark never outlives the step).
struct FinishingRollback<'d> {
    daemon: &'d Daemon,
    id: String,
}

impl<'d> FinishingRollback<'d> {
    fn new(daemon: &'d Daemon, id: &str) -> Self {
        daemon.finishing_ids().insert(id.to_string());
        FinishingRollback {
            daemon,
            id: id.to_string(),
        }
    }
}

impl Drop for FinishingRollback<'_> {
    fn drop(&mut self) {
        self.daemon.finishing_ids().remove(&self.id);
    }
}

impl Daemon {
    fn finishing_ids(&self) -> MutexGuard<'_, HashSet<String>> {
        let ids = &self.finishing_rollbacks;
        ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `id`'s rollback has committed and is still removing the rolled-back
    /// version.
    pub(crate) fn rollback_finishing(&self, id: &str) -> bool {
        self.finishing_ids().contains(id)
    }

    /// `berthctl rollback ID`.
    pub fn rollback(&self, id: &str, reason: &str) -> Result<RolledBackTo, OpError> {
        let _g = self.lock(id);
        self.rollback_locked(id, reason)
    }

    /// A rollback, `id`'s lock held by the caller.
    pub fn rollback_locked(&self, id: &str, reason: &str) -> Result<RolledBackTo, OpError> {
        let entry = self.entry(id)?;
        let record = self.home.record(id).unwrap_or_default();
        let previous = record.previous.clone().ok_or_else(|| {
            OpError::BadRequest(format!(
                "{id}: no previous version is kept (berthd keeps the version an upgrade replaced until the next upgrade; updates.keep_previous)"
            ))
        })?;
        let mut previous_entry = crate::store::entry_from_json(&previous.entry).map_err(|why| {
            OpError::BadRequest(format!(
                "{id}: the kept previous version's registration is unusable: {why}"
            ))
        })?;
        // The tag followed now is still followed (the version rolled back to may
        // have been installed before the container followed one).
        previous_entry.follow = entry.follow.clone();
        let driver = self.driver_for(&entry)?;
        let rt = driver.runtime();
        let was_running = match rt.state(id) {
            Ok(s) => s.running,
            Err(RuntimeError::NoSuchContainer(_)) => false,
            Err(e) => return Err(runtime(format!("asking about {id}"))(e)),
        };
        let start = was_running || previous_entry.autostart;
        // Its exit is not a crash.
        self.manual(id, false);
        match rt.stop(id, super::DEFAULT_STOP_GRACE) {
            Ok(()) | Err(RuntimeError::NoSuchContainer(_)) => {}
            Err(e) => return Err(runtime(format!("stopping {id}"))(e)),
        }
        driver.swap_in_previous(&self.home, id)?;
        self.container_replaced(id);
        // The commit.
        self.home.register(&previous_entry)?;
        crate::daemon_log::warn(format!(
            "{id}: rolled back from {} to {}: {reason}",
            entry.version, previous.version
        ));
        let mut started = false;
        if start {
            self.manual(id, true);
            match rt.start(id) {
                Ok(()) => {
                    self.seen_running(id);
                    started = true;
                }
                Err(e) => crate::daemon_log::error(format!(
                    "{id}: starting {} after the rollback: {e}",
                    previous.version
                )),
            }
        }
        // The followed package refused before the record: who sees the rollback
        // sees the refusal, and a kill from here on cannot lose it.
        self.updates_rolled_back(id, &entry.version, reason);
        // The record last: who sees it sees the previous version started. It is
        // written before the rolled-back version is removed, so that a kill in
        // between leaves recovery the images to remove; status shows it once that
        // removal is done (after a kill, recovery finishes it before the API
        // answers), so who sees the rollback finds the rolled-back version gone.
        let finishing = FinishingRollback::new(self, id);
        let rolled_back = RolledBack {
            from: entry.version.clone(),
            reason: reason.to_string(),
            at: crate::home::now_rfc3339(),
        };
        self.home.put_record(
            id,
            record_of_previous(&record, &previous, Some(rolled_back)),
        );
        driver.drop_rolled_back(&self.home, id);
        drop(finishing);
        Ok(RolledBackTo {
            id: id.to_string(),
            from: entry.version,
            to: previous.version,
            started,
        })
    }
}
