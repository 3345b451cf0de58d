//! The LXC driver: a payload that is an LXC bundle (`config` + `rootfs/` in a
//! .tar.gz) unpacked into staging, its config rewritten for this device, and moved
//! into berthd's own lxcpath (`<working_path>/lxc/<id>`).
//!
//! An upgrade moves the old bundle to `<working_path>/lxc-previous/<id>` (outside
//! lxcpath, so lxc-ls does not list it; same filesystem, so renames), the new one
//! into place, starts it, and only then commits. Each bundle holds its package
//! version in `berth-version`, so recovery can tell which one is in place.

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

pub struct LxcDriver {
    engine: Arc<dyn Runtime>,
    /// berthd's lxcpath.
    path: PathBuf,
    /// Where an upgrade keeps the bundle it replaces until the commit.
    previous: PathBuf,
}

impl LxcDriver {
    /// `engine` must use `lxc_path(working_path)` as its lxcpath.
    pub fn new(engine: Arc<dyn Runtime>, working_path: &Path) -> Self {
        LxcDriver {
            engine,
            path: lxc_path(working_path),
            previous: working_path.join("lxc-previous"),
        }
    }
}

/// berthd's lxcpath under its working path.
pub fn lxc_path(working_path: &Path) -> PathBuf {
    working_path.join("lxc")
}

impl Driver for LxcDriver {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Lxc
    }

    fn runtime(&self) -> &dyn Runtime {
        self.engine.as_ref()
    }

    /// An LXC bundle's config is its create arguments (the manifest has none).
    fn create_args(&self, _manifest: &Manifest) -> Result<Vec<String>, OpError> {
        Ok(Vec::new())
    }

    /// Space for the unpacked bundle, which the .tar.gz's size only bounds loosely:
    /// 4x the compressed size (busybox-like root filesystems compress ~3x).
    fn check_disk(&self, home: &Home, id: &str, payload_size: u64) -> Result<(), OpError> {
        let wp = home.working_path().to_path_buf();
        let what = format!("LXC bundle of {} MiB", payload_size >> 20);
        disk::check(&[(wp, disk::need_with_margin(payload_size, 4))], id, &what)
    }

    fn stage(
        &self,
        input: &mut dyn Read,
        staging: &Path,
        _label: &str,
    ) -> Result<Box<dyn Staged>, RuntimeError> {
        let dir = berth_runtime::lxc::unpack_bundle(input, &staging.join("bundle"))?;
        Ok(Box::new(StagedBundle {
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
    fn recover(&self, _home: &Home, registered: Registered<'_>) -> Vec<String> {
        let rt = self.engine.as_ref();
        let mut done = Vec::new();
        if let Ok(dirs) = std::fs::read_dir(&self.previous) {
            for d in dirs.flatten() {
                let id = d.file_name().to_string_lossy().into_owned();
                let place = self.path.join(&id);
                let placed = std::fs::read_to_string(place.join(VERSION_FILE)).ok();
                let version = registered(&id);
                if version.is_none() || (place.exists() && placed == version) {
                    // Committed (or since uninstalled): the old bundle is not needed.
                    let _ = std::fs::remove_dir_all(d.path());
                    done.push(format!("{id}: finished an interrupted LXC upgrade"));
                    continue;
                }
                if place.exists() {
                    let _ = rt.remove(&id); // stops the new one first
                }
                match std::fs::rename(d.path(), &place) {
                    Ok(()) => done.push(format!("{id}: undid an interrupted LXC upgrade")),
                    Err(e) => done.push(format!("error: {id}: putting the old bundle back: {e}")),
                }
            }
        }
        if let Ok(dirs) = std::fs::read_dir(&self.path) {
            for d in dirs.flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                if registered(&name).is_none() && rt.remove(&name).is_ok() {
                    done.push(format!("{name}: removed an unregistered LXC bundle"));
                }
            }
        }
        done
    }

    fn remove_leftovers(&self, _home: &Home, id: &str) -> Result<(), OpError> {
        match self.engine.remove(id) {
            Ok(()) | Err(RuntimeError::NoSuchContainer(_)) => Ok(()),
            Err(e) => Err(runtime(format!("removing container {id}"))(e)),
        }
    }
}

/// A bundle unpacked in the install's staging directory (which recovery empties).
struct StagedBundle {
    engine: Arc<dyn Runtime>,
    dir: PathBuf,
    path: PathBuf,
    previous: PathBuf,
}

impl Staged for StagedBundle {
    /// The staging directory goes with the install's.
    fn discard(self: Box<Self>) {}

    /// Fresh, the bundle is renamed from staging into the lxcpath with its config
    /// rewritten, registered, started; an upgrade moves the old bundle aside, the new
    /// one in, starts it, and only then commits — a failure puts the old one back and
    /// starts it again.
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
        let config_path = bundle.join("config");
        let text = std::fs::read_to_string(&config_path).map_err(|_| {
            OpError::Package("payload: the LXC bundle's config is not readable text".into())
        })?;
        let config = berth_runtime::lxc::rewrite_config(
            &text,
            &place.join("rootfs"),
            &crate::container_log::console_path(wp, id),
            |name| Path::new("/sys/class/net").join(name).exists(),
        )
        .map_err(|e| OpError::Package(format!("payload: LXC bundle {e}")))?;
        crate::atomic::write_atomic(&config_path, config.as_bytes())
            .map_err(io(format!("writing {}", config_path.display())))?;
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
        let previous_record = home.put_record(
            id,
            plan.record(digest, if start_new { "running" } else { "stopped" }),
        );
        home.register(&plan.entry).map_err(|e| {
            home.restore_record(id, previous_record);
            let _ = rt.stop(id, Duration::from_secs(1));
            put_back(e)
        })?;
        let _ = std::fs::remove_dir_all(&aside);
        Ok(plan.installed(Vec::new(), start_new))
    }
}
