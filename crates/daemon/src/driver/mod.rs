//! One driver per runtime: how a package's payload becomes a container of that
//! runtime, is recovered after a crash, and is removed. What every install shares
//! (stream, verify, plan, lock, record, commit order, undo) is written once in
//! `ops/install.rs`; a driver implements what its payload kind needs: an image into
//! an image store (`image.rs`, podman and Docker), a bundle directory into the
//! runtime's path (`bundle.rs`, with `lxc.rs` and `runc.rs` for their formats).
//! Adding a runtime adds a driver and one line in `daemon::system_drivers`.

pub mod bundle;
mod bundle_base;
mod bundle_previous;
mod create_args;
pub mod disk;
pub mod image;
mod image_previous;
pub mod lxc;
pub mod runc;

use crate::error::OpError;
use crate::home::Home;
use crate::state::{ContainerRecord, Previous};
use crate::store::ContainerEntry;
use berth_api::Installed;
use berth_package::{Manifest, RuntimeKind};
use berth_runtime::{Runtime, RuntimeError};
use std::io::Read;
use std::path::Path;

/// The name of an upgrade's new container until it replaces the old one.
pub const UPGRADE_SUFFIX: &str = ".berth-new";
/// The name of the version an upgrade replaced, kept stopped for a rollback.
pub const PREVIOUS_SUFFIX: &str = ".berth-prev";
/// The name of the version a rollback replaces, until the rollback commits.
pub const ROLLED_BACK_SUFFIX: &str = ".berth-rolledback";

/// What an install will do, decided when the payload starts (before a byte of it is
/// written anywhere).
pub struct Plan {
    /// The registration it commits.
    pub entry: ContainerEntry,
    /// The engine options of `create_args`, split and checked (none for bundles).
    pub args: Vec<String>,
    /// The registered version this one replaces.
    pub old: Option<ContainerEntry>,
    /// Keep the version this one replaces, stopped and whole, for a rollback
    /// (its probation, or `updates.keep_previous`).
    pub keep_previous: bool,
    /// Seconds the upgrade is on probation once started.
    pub probation: u32,
}

impl Plan {
    /// The version this upgrade replaces, as the record keeps it (when it is kept):
    /// `old_record` is that version's record, `old_images` its images.
    pub fn previous(
        &self,
        old_record: Option<&ContainerRecord>,
        old_images: Vec<String>,
    ) -> Option<Previous> {
        let old = self.old.as_ref().filter(|_| self.keep_previous)?;
        Some(Previous {
            version: old.version.clone(),
            entry: crate::store::entry_json(old),
            images: old_images,
            package_digest: old_record.and_then(|r| r.package_digest.clone()),
            installed_at: old_record.and_then(|r| r.installed_at.clone()),
        })
    }

    /// The install's record in state.json, written just before the commit: the
    /// version, the package it came from, `status` (the runtime's word after the
    /// install's start, or not), and the version it replaces when that is kept.
    pub fn record(
        &self,
        digest: &str,
        status: &str,
        previous: Option<Previous>,
    ) -> ContainerRecord {
        ContainerRecord {
            version: Some(self.entry.version.clone()),
            runtime: Some(self.entry.runtime.clone()),
            package_digest: Some(digest.to_string()),
            installed_at: Some(crate::home::now_rfc3339()),
            last_status: Some(status.into()),
            previous,
            ..Default::default()
        }
    }

    /// What the committed install did.
    pub fn installed(&self, images: Vec<String>, started: bool) -> Installed {
        Installed {
            id: self.entry.id.clone(),
            version: self.entry.version.clone(),
            replaced: self.old.as_ref().map(|o| o.version.clone()),
            images,
            started,
            probation_until: None,
        }
    }
}

/// Which registered version an id has (recovery's view of containers.conf).
pub type Registered<'a> = &'a dyn Fn(&str) -> Option<String>;

pub trait Driver: Send + Sync {
    /// The manifest runtime this driver installs.
    fn kind(&self) -> RuntimeKind;

    /// The engine that runs its containers.
    fn runtime(&self) -> &dyn Runtime;

    /// The engine's program, for people: `podman`, `docker`, `runc`, `crun`.
    fn engine_name(&self) -> String {
        self.runtime().name().to_string()
    }

    /// The engine options of the manifest's `create_args`, split and checked.
    fn create_args(&self, manifest: &Manifest) -> Result<Vec<String>, OpError>;

    /// Whether the disk has room for a payload of `payload_size` bytes, with the
    /// figures in the error when not.
    fn check_disk(&self, home: &Home, id: &str, payload_size: u64) -> Result<(), OpError>;

    /// Streams the payload in, on the install's loader thread, with `staging` for
    /// scratch files that recovery empties. `label` names what it adds so recovery
    /// can tell this berthd's unfinished installs.
    fn stage(
        &self,
        input: &mut dyn Read,
        staging: &Path,
        label: &str,
    ) -> Result<Box<dyn Staged>, RuntimeError>;

    /// What the installed version `id` holds, found by content, for a delta
    /// package to be rebuilt from; scratch files go in `staging`.
    fn delta_base(
        &self,
        home: &Home,
        id: &str,
        staging: &Path,
    ) -> Result<Box<dyn berth_package::delta::Base>, OpError> {
        let _ = (home, staging);
        Err(OpError::Package(format!(
            "{id}: {} packages have no deltas; install the full package",
            self.kind()
        )))
    }

    /// After a crash, before the API opens: finishes or undoes this runtime's
    /// interrupted installs, upgrades and uninstalls. One line per thing done.
    fn recover(&self, home: &Home, registered: Registered<'_>) -> Vec<String>;

    /// Recovery's last step, after every unregistered id's leftovers are gone
    /// (images that only they used can go now).
    fn sweep(&self, _home: &Home, _registered: Registered<'_>) -> Vec<String> {
        Vec::new()
    }

    /// Removes what an unregistered `id` left in the runtime: its container and
    /// what its install brought (images unless shared, a bundle), and the previous
    /// version kept for it.
    fn remove_leftovers(&self, home: &Home, id: &str) -> Result<(), OpError>;

    /// A rollback's swap, both versions stopped: the current version of `id` aside
    /// as rolled back, the previous one into its place. Undoes itself on failure.
    fn swap_in_previous(&self, home: &Home, id: &str) -> Result<(), OpError>;

    /// After a rollback's commit: removes the version rolled back, and the images
    /// the record lists as replaced.
    fn drop_rolled_back(&self, home: &Home, id: &str);

    /// Removes the previous version kept for `id` (its record says which).
    fn drop_previous(&self, home: &Home, id: &str, previous: &Previous);

    /// The bytes the previous version kept for `id` holds on disk.
    fn previous_bytes(&self, home: &Home, id: &str, previous: &Previous) -> u64;
}

/// A payload streamed in, not yet a registered container.
pub trait Staged: Send {
    /// Creates (or swaps in, for an upgrade) the container, records it and commits
    /// the registration; on failure undoes its own steps, its payload included, and
    /// leaves the old version as it was.
    fn commit(
        self: Box<Self>,
        home: &Home,
        plan: &Plan,
        digest: &str,
    ) -> Result<Installed, OpError>;

    /// Removes what staging added (the install failed before the commit).
    fn discard(self: Box<Self>);
}

/// Drops what berthd keeps of an unregistered `id` besides the runtime's parts: its
/// record in state.json and its logs.
pub fn forget(home: &Home, id: &str) {
    home.update_state(|s| {
        s.containers.remove(id);
    });
    crate::container_log::remove(home.working_path(), id);
}
