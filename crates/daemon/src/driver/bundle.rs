//! The bundle driver: a payload that is a bundle .tar.gz — LXC's (`config` +
//! `rootfs/`, `lxc.rs`) or an OCI runtime bundle (`config.json` + its root, `runc.rs`)
//! — unpacked into staging, its config rewritten for this device, and moved into the
//! runtime's directory of bundles (`<working_path>/lxc/<id>`, `<working_path>/oci/<id>`).
//!
//! An upgrade moves the old bundle to `<working_path>/<dir>-previous/<id>` (outside
//! the runtime's directory, so it does not list it; same filesystem, so renames), the
//! new one into place, starts it, and only then commits. Each bundle holds its
//! package version in `berth-version`, so recovery can tell which one is in place.

use super::disk;
use super::{Driver, Plan, Registered, Staged};
use crate::error::{io, runtime, OpError};
use crate::home::Home;
use berth_api::Installed;
use berth_package::{Manifest, RuntimeKind};
use berth_runtime::{Runtime, RuntimeError};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The file in an installed bundle holding the package version it came from.
pub const VERSION_FILE: &str = "berth-version";

const STOP_GRACE: Duration = Duration::from_secs(10);

/// What differs between bundle kinds: how one is unpacked and configured.
pub trait BundleFormat: Send + Sync {
    fn kind(&self) -> RuntimeKind;
    /// The runtime in messages: "LXC".
    fn runtime_name(&self) -> &'static str;
    /// The bundle kind in messages: "LXC bundle".
    fn what(&self) -> &'static str;
    /// The directory of bundles under the working path (`lxc`), whose `-previous`
    /// sibling holds the bundles upgrades replace.
    fn dir_name(&self) -> &'static str;
    /// Unpacks the .tar.gz from `input` under `dest`; returns the bundle's directory.
    fn unpack(&self, input: &mut dyn Read, dest: &Path) -> Result<PathBuf, RuntimeError>;
    /// Rewrites the unpacked `bundle`'s config for its final directory `place`.
    fn configure(&self, bundle: &Path, place: &Path, home: &Home, id: &str) -> Result<(), OpError>;
}

/// Whether `relative` names a directory inside `bundle` once every symlink is
/// resolved: a root filesystem that is a link to the host's `/` must not run.
pub fn is_directory_inside(bundle: &Path, relative: &str) -> bool {
    match (bundle.canonicalize(), bundle.join(relative).canonicalize()) {
        (Ok(base), Ok(target)) => target.starts_with(&base) && target != base && target.is_dir(),
        _ => false,
    }
}

pub struct BundleDriver {
    format: Arc<dyn BundleFormat>,
    engine: Arc<dyn Runtime>,
    /// The runtime's directory of bundles.
    pub(super) path: PathBuf,
    /// Where an upgrade keeps the bundle it replaces: until the commit, and after
    /// it while the record keeps it for a rollback.
    pub(super) previous: PathBuf,
}

impl BundleDriver {
    /// `engine` must find its bundles in `<working_path>/<format.dir_name()>`.
    pub fn new(
        format: Arc<dyn BundleFormat>,
        engine: Arc<dyn Runtime>,
        working_path: &Path,
    ) -> Self {
        BundleDriver {
            path: working_path.join(format.dir_name()),
            previous: working_path.join(format!("{}-previous", format.dir_name())),
            format,
            engine,
        }
    }
}

impl Driver for BundleDriver {
    fn kind(&self) -> RuntimeKind {
        self.format.kind()
    }

    fn runtime(&self) -> &dyn Runtime {
        self.engine.as_ref()
    }

    /// A bundle's config is its create arguments (the manifest has none).
    fn create_args(&self, _manifest: &Manifest) -> Result<Vec<String>, OpError> {
        Ok(Vec::new())
    }

    /// Space for the unpacked bundle, which the .tar.gz's size only bounds loosely:
    /// 4x the compressed size (busybox-like root filesystems compress ~3x).
    fn check_disk(&self, home: &Home, id: &str, payload_size: u64) -> Result<(), OpError> {
        let wp = home.working_path().to_path_buf();
        let what = format!("{} of {} MiB", self.format.what(), payload_size >> 20);
        disk::check(&[(wp, disk::need_with_margin(payload_size, 4))], id, &what)
    }

    /// The installed bundle's own files (docs/package-format.md, "Delta packages").
    fn delta_base(
        &self,
        _home: &Home,
        id: &str,
        _staging: &Path,
    ) -> Result<Box<dyn berth_package::delta::Base>, OpError> {
        let dir = self.path.join(id);
        let base = super::bundle_base::BundleBase::new(dir.clone()).map_err(io(format!(
            "reading the installed bundle {}",
            dir.display()
        )))?;
        Ok(Box::new(base))
    }

    fn stage(
        &self,
        input: &mut dyn Read,
        staging: &Path,
        _label: &str,
    ) -> Result<Box<dyn Staged>, RuntimeError> {
        let dir = self.format.unpack(input, &staging.join("bundle"))?;
        Ok(Box::new(StagedBundle {
            format: Arc::clone(&self.format),
            engine: Arc::clone(&self.engine),
            dir,
            path: self.path.clone(),
            previous: self.previous.clone(),
        }))
    }

    /// While `lxc-previous/<id>` exists the upgrade is committed only if the bundle
    /// in place has the registered version; otherwise the new one goes and the old
    /// one comes back. Then bundles nobody registered (installs that did not commit)
    /// are stopped and removed.
    fn recover(&self, home: &Home, registered: Registered<'_>) -> Vec<String> {
        let rt = self.engine.as_ref();
        let mut done = Vec::new();
        self.recover_rollbacks(registered, &mut done);
        if let Ok(dirs) = std::fs::read_dir(&self.previous) {
            for d in dirs.flatten() {
                let id = d.file_name().to_string_lossy().into_owned();
                if self.is_kept(home, &id, registered(&id)) {
                    continue; // the previous version, kept for a rollback
                }
                let place = self.path.join(&id);
                let placed = std::fs::read_to_string(place.join(VERSION_FILE)).ok();
                let version = registered(&id);
                if version.is_none() || (place.exists() && placed == version) {
                    // Committed (or since uninstalled): the old bundle is not needed.
                    let _ = std::fs::remove_dir_all(d.path());
                    done.push(format!(
                        "{id}: finished an interrupted {} upgrade",
                        self.format.runtime_name()
                    ));
                    continue;
                }
                if place.exists() {
                    let _ = rt.remove(&id); // stops the new one first
                }
                match std::fs::rename(d.path(), &place) {
                    Ok(()) => done.push(format!(
                        "{id}: undid an interrupted {} upgrade",
                        self.format.runtime_name()
                    )),
                    Err(e) => done.push(format!("error: {id}: putting the old bundle back: {e}")),
                }
            }
        }
        self.forget_lost_previous(home, &mut done);
        if let Ok(dirs) = std::fs::read_dir(&self.path) {
            for d in dirs.flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                if registered(&name).is_none() && rt.remove(&name).is_ok() {
                    done.push(format!(
                        "{name}: removed an unregistered {}",
                        self.format.what()
                    ));
                }
            }
        }
        done
    }

    fn remove_leftovers(&self, _home: &Home, id: &str) -> Result<(), OpError> {
        match self.engine.remove(id) {
            Ok(()) | Err(RuntimeError::NoSuchContainer(_)) => {}
            Err(e) => return Err(runtime(format!("removing container {id}"))(e)),
        }
        let _ = std::fs::remove_dir_all(self.previous.join(id));
        self.remove_rolled_back(id);
        Ok(())
    }

    fn swap_in_previous(&self, _home: &Home, id: &str) -> Result<(), OpError> {
        self.swap_bundles(id)
    }

    fn drop_rolled_back(&self, _home: &Home, id: &str) {
        self.remove_rolled_back(id)
    }

    fn drop_previous(&self, _home: &Home, id: &str, _previous: &crate::state::Previous) {
        let _ = std::fs::remove_dir_all(self.previous.join(id));
    }

    fn previous_bytes(&self, _home: &Home, id: &str, _previous: &crate::state::Previous) -> u64 {
        super::bundle_previous::tree_bytes(&self.previous.join(id))
    }
}

/// A bundle unpacked in the install's staging directory (which recovery empties).
struct StagedBundle {
    format: Arc<dyn BundleFormat>,
    engine: Arc<dyn Runtime>,
    dir: PathBuf,
    path: PathBuf,
    previous: PathBuf,
}

impl Staged for StagedBundle {
    /// The staging directory goes with the install's.
    fn discard(self: Box<Self>) {}

    /// Fresh, the bundle is renamed from staging into the runtime's directory with
    /// its config rewritten, registered, started; an upgrade moves the old bundle
    /// aside, the new one in, starts it, and only then commits — a failure puts the
    /// old one back and starts it again.
    fn commit(
        self: Box<Self>,
        home: &Home,
        plan: &Plan,
        digest: &str,
    ) -> Result<Installed, OpError> {
        let rt = self.engine.as_ref();
        let id = &plan.entry.id;
        let wp = home.working_path();
        let bundle = &self.dir;
        std::fs::create_dir_all(&self.path)
            .map_err(io(format!("creating {}", self.path.display())))?;
        std::fs::create_dir_all(crate::container_log::console_dir(wp))
            .map_err(io("creating the log directory"))?;
        let place = self.path.join(id);
        self.format.configure(bundle, &place, home, id)?;
        // The version in the bundle tells recovery whether the bundle in place is the
        // registered one or an upgrade that did not commit.
        let marker = bundle.join(VERSION_FILE);
        crate::atomic::write_atomic(&marker, plan.entry.version.as_bytes())
            .map_err(io(format!("writing {}", marker.display())))?;
        let was_running = plan.old.is_some() && rt.state(id).map(|s| s.running).unwrap_or(false);
        let start_new = was_running || plan.entry.autostart;
        let aside = self.previous.join(id);
        if plan.old.is_some() && place.exists() {
            if was_running {
                rt.stop(id, STOP_GRACE)
                    .map_err(runtime(format!("stopping the old {id}")))?;
            }
            std::fs::create_dir_all(&self.previous)
                .map_err(io(format!("creating {}", self.previous.display())))?;
            if aside.exists() {
                // Recovery resolved any interrupted upgrade before the API opened.
                // The record lets go of the kept version first: killed between the
                // two, it keeps nothing rather than a bundle that is gone.
                home.update_state(|st| {
                    if let Some(r) = st.containers.get_mut(id.as_str()) {
                        r.previous = None;
                    }
                });
                let _ = std::fs::remove_dir_all(&aside);
            }
            std::fs::rename(&place, &aside).map_err(io(format!("moving the old {id} aside")))?;
        } else if place.exists() {
            let _ = std::fs::remove_dir_all(&place); // unregistered leftover
        }
        let put_back = |why: OpError| {
            let _ = std::fs::remove_dir_all(&place);
            if aside.exists() {
                let _ = std::fs::rename(&aside, &place);
                if was_running {
                    let _ = rt.start(id);
                }
            }
            why
        };
        std::fs::rename(bundle, &place)
            .map_err(|e| put_back(io(format!("moving {id} into place"))(e)))?;
        if start_new {
            rt.start(id)
                .map_err(|e| put_back(runtime(format!("starting {id}"))(e)))?;
        }
        let old_record = home.record(id);
        let kept = aside
            .exists()
            .then(|| plan.previous(old_record.as_ref(), Vec::new()))
            .flatten();
        let keep = kept.is_some();
        let previous_record = home.put_record(
            id,
            plan.record(digest, if start_new { "running" } else { "stopped" }, kept),
        );
        home.register(&plan.entry).map_err(|e| {
            home.restore_record(id, previous_record);
            let _ = rt.stop(id, Duration::from_secs(1));
            put_back(e)
        })?;
        if !keep {
            let _ = std::fs::remove_dir_all(&aside);
        }
        Ok(plan.installed(Vec::new(), start_new))
    }
}
