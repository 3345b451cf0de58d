//! Updates from a registry (docs/fleet-updates.md): containers whose containers.conf
//! entry has `follow` (a registry tag) are checked every `updates.interval` seconds
//! (plus a random jitter) with one HEAD request; a new package the tag names is
//! installed through the normal install — signature, compatibility, probation and
//! rollback included — unless the package's staged rollout holds this device back.
//! What the checks found lives in `<working_path>/updates.json` (`file`): the digests
//! refused (a bad signature, an incompatible package, a rollback) are never tried
//! again unless the operator asks. Registry errors back off without holding up the
//! other containers' checks: each check runs on a thread of its own (`watch`).

pub mod file;
pub mod schedule;
pub mod watch;

#[cfg(feature = "registry")]
pub mod check;

use crate::daemon::Daemon;
use crate::error::OpError;
use crate::home::now_rfc3339;
use berth_api::{Refused, Update};
use file::{FollowState, UpdatesFile};
use std::sync::Mutex;

/// The daemon's part of updates: the file's lock and the check schedule.
#[derive(Default)]
pub struct Updates {
    file_lock: Mutex<()>,
    pub schedule: Mutex<schedule::Schedule>,
}

impl Daemon {
    fn updates_path(&self) -> std::path::PathBuf {
        self.home.working_path().join("updates.json")
    }

    /// Read-modify-write of `id`'s follow state, under the file's lock. A file that
    /// cannot be written is reported: what it would have said is found again by the
    /// next check, except refusals, which the log names.
    pub fn update_follow<T>(&self, id: &str, change: impl FnOnce(&mut FollowState) -> T) -> T {
        self.update_updates_file(|file| change(file.containers.entry(id.to_string()).or_default()))
    }

    /// Read-modify-write of updates.json, under its lock.
    fn update_updates_file<T>(&self, change: impl FnOnce(&mut UpdatesFile) -> T) -> T {
        let _lock = self.updates_lock();
        let path = self.updates_path();
        let mut file = UpdatesFile::load(&path);
        let out = change(&mut file);
        if let Err(e) = file.save(&path) {
            crate::daemon_log::warn(format!("{}: cannot write: {e}", path.display()));
        }
        out
    }

    fn updates_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.updates
            .file_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// `id`'s follow state as updates.json has it.
    pub fn follow_state(&self, id: &str) -> FollowState {
        let _lock = self.updates_lock();
        UpdatesFile::load(&self.updates_path())
            .containers
            .remove(id)
            .unwrap_or_default()
    }

    /// Forgets what the checks of `id` found (uninstalled, or no longer following).
    pub fn forget_updates(&self, id: &str) {
        if self.follow_state(id) != FollowState::default() {
            self.update_updates_file(|file| file.containers.remove(id));
        }
        self.updates
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(id);
    }

    /// A rollback of `id` from `from`: when that version came from its followed tag,
    /// its package is refused, so no later check installs it again.
    pub fn updates_rolled_back(&self, id: &str, from: &str, reason: &str) {
        let refused = self.update_follow(id, |s| {
            let taken = s.taken.take_if(|t| t.version == from)?;
            s.result = Some(format!("rolled back {from}: {reason}; not tried again"));
            s.refuse(&taken.digest, from, reason);
            Some(taken.digest)
        });
        if let Some(digest) = refused {
            crate::daemon_log::warn(format!(
                "{id}: {from} ({digest}) from the followed tag is refused from now on"
            ));
        }
    }

    /// `GET /v1/updates`: every container that follows a tag.
    pub fn updates(&self) -> Result<Vec<Update>, OpError> {
        let conf = self.home.containers()?;
        let file = {
            let _lock = self.updates_lock();
            UpdatesFile::load(&self.updates_path())
        };
        let schedule = self
            .updates
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(conf
            .containers
            .iter()
            .filter_map(|e| {
                let follow = e.follow.clone()?;
                let state = file
                    .containers
                    .get(&e.id)
                    .filter(|s| s.follow.as_deref() == Some(follow.as_str()))
                    .cloned()
                    .unwrap_or_default();
                Some(Update {
                    id: e.id.clone(),
                    follow,
                    version: e.version.clone(),
                    last_check: state.last_check,
                    next_check: schedule.next_text(&e.id),
                    result: state.result,
                    seen: state.seen,
                    failures: state.failures,
                    refused: state
                        .refused
                        .into_iter()
                        .map(|r| Refused {
                            digest: r.digest,
                            version: r.version,
                            reason: r.reason,
                            at: r.at,
                        })
                        .collect(),
                })
            })
            .collect())
    }

    /// `berthctl updates --retry ID`: the refused packages of `id` may be tried
    /// again, and its tag is checked now.
    pub fn retry_updates(&self, id: &str) -> Result<Update, OpError> {
        let entry = self.entry(id)?;
        if entry.follow.is_none() {
            return Err(OpError::BadRequest(format!(
                "{id} follows no tag (berthctl follow {id} docker://HOST/REPO:TAG)"
            )));
        }
        self.update_follow(id, |s| {
            s.refused.clear();
            s.seen = None;
            s.result = Some(format!("retry asked at {}", now_rfc3339()));
        });
        self.updates
            .schedule
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .due_now(id);
        self.updates()?
            .into_iter()
            .find(|u| u.id == id)
            .ok_or_else(|| OpError::NoSuchContainer(id.into()))
    }
}
