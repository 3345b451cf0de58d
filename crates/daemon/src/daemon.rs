//! The daemon's shared state: its home (working path and files), one driver per
//! runtime, the trusted keys, a lock per container id, and the supervision records.
//! Operations on it live in `ops/`, one per file; supervision in `supervise/`.

use crate::config::{Config, ImageEngine};
use crate::driver::bundle::BundleDriver;
use crate::driver::image::ImageDriver;
use crate::driver::lxc::{lxc_path, LxcFormat};
use crate::driver::runc::{self as runc_driver, RuncFormat};
use crate::driver::Driver;
use crate::error::OpError;
use crate::home::Home;
use crate::policy::{Clock, Supervision, SystemClock};
use crate::store::ContainerEntry;
use berth_package::RuntimeKind;
use berth_runtime::{CommandRunner, Docker, ImageRuntime, Lxc, Podman, Runc, SystemRunner};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

pub struct Daemon {
    pub home: Home,
    drivers: BTreeMap<RuntimeKind, Arc<dyn Driver>>,
    /// Why a runtime berthd knows has no driver here (its program is missing).
    unavailable: BTreeMap<RuntimeKind, String>,
    pub trusted_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// Ids with an operation under way.
    busy: Mutex<HashSet<String>>,
    released: Condvar,
    supervision: Mutex<HashMap<String, Supervision>>,
    pub clock: Arc<dyn Clock>,
    /// Ids whose container was replaced (an upgrade, a rollback) while the one
    /// before it still exists: an engine's own log file is looked up again.
    replaced: Mutex<HashSet<String>>,
    /// Ids whose rollback has committed and is removing the rolled-back version
    /// (ops/rollback.rs): status shows the rollback once that is done.
    pub(crate) finishing_rollbacks: Mutex<HashSet<String>>,
    /// Followed tags: the check schedule and updates.json's lock.
    pub updates: crate::updates::Updates,
}

/// Holds a container's lock until dropped.
pub struct IdGuard<'d> {
    daemon: &'d Daemon,
    id: String,
}

impl Drop for IdGuard<'_> {
    fn drop(&mut self) {
        let mut busy = self.daemon.busy.lock().unwrap_or_else(|p| p.into_inner());
        busy.remove(&self.id);
        self.daemon.released.notify_all();
    }
}

/// The runtimes of this device: a driver for each whose program is installed, and
/// why each other one is not available.
pub struct SystemDrivers {
    pub drivers: Vec<Arc<dyn Driver>>,
    pub unavailable: Vec<(RuntimeKind, String)>,
}

/// Whether `program` (a name looked up in PATH, or a path) is an executable file.
fn installed(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}

/// The drivers of every runtime berthd runs, over `runner`: podman (or Docker Engine,
/// as the config says) for `podman` packages, Docker Engine, LXC and runc (or crun).
pub fn system_drivers(config: &Config, runner: Arc<dyn CommandRunner>) -> SystemDrivers {
    let timeout = Duration::from_secs(config.service.command_timeout.into());
    let load_timeout = Duration::from_secs(config.service.podman_load_timeout.into());
    let wp = &config.service.working_path;
    let mut out = SystemDrivers {
        drivers: Vec::new(),
        unavailable: Vec::new(),
    };
    let mut add = |kind: RuntimeKind, program: &str, driver: &dyn Fn() -> Arc<dyn Driver>| {
        if installed(program) {
            out.drivers.push(driver());
        } else {
            out.unavailable
                .push((kind, format!("{program} is not installed")));
        }
    };
    let docker: Arc<dyn ImageRuntime> =
        Arc::new(Docker::new(Arc::clone(&runner), timeout, load_timeout));
    let (engine, program): (Arc<dyn ImageRuntime>, &str) = match config.runtimes.image_engine {
        ImageEngine::Podman => (
            Arc::new(Podman::new(Arc::clone(&runner), timeout, load_timeout)),
            "podman",
        ),
        ImageEngine::Docker => (Arc::clone(&docker), "docker"),
    };
    add(RuntimeKind::Podman, program, &|| {
        Arc::new(ImageDriver::new(RuntimeKind::Podman, Arc::clone(&engine)))
    });
    add(RuntimeKind::Docker, "docker", &|| {
        Arc::new(ImageDriver::new(RuntimeKind::Docker, Arc::clone(&docker)))
    });
    add(RuntimeKind::Lxc, "lxc-start", &|| {
        let lxc = Lxc::new(Arc::clone(&runner), lxc_path(wp), timeout);
        Arc::new(BundleDriver::new(Arc::new(LxcFormat), Arc::new(lxc), wp))
    });
    let oci = &config.runtimes.oci_runtime;
    let mounts = berth_runtime::cgroup::Mounts::of_host();
    match berth_runtime::runc::crun_unavailable(oci, &mounts) {
        Some(why) => out.unavailable.push((RuntimeKind::Runc, why)),
        None => add(RuntimeKind::Runc, oci, &|| {
            let runc = Runc::new(
                Arc::clone(&runner),
                oci,
                runc_driver::state_path(wp),
                runc_driver::bundle_path(wp),
                crate::container_log::console_dir(wp),
                timeout,
            );
            Arc::new(BundleDriver::new(Arc::new(RuncFormat), Arc::new(runc), wp))
        }),
    }
    out
}

impl Daemon {
    pub fn new(config: Config, drivers: Vec<Arc<dyn Driver>>) -> Self {
        Daemon {
            home: Home::new(config),
            drivers: drivers.into_iter().map(|d| (d.kind(), d)).collect(),
            unavailable: BTreeMap::new(),
            trusted_keys: Vec::new(),
            busy: Mutex::new(HashSet::new()),
            released: Condvar::new(),
            supervision: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
            replaced: Mutex::new(HashSet::new()),
            finishing_rollbacks: Mutex::new(HashSet::new()),
            updates: Default::default(),
        }
    }

    /// berthd as it runs on a device: the runtimes' own command-line tools.
    pub fn with_system_runtimes(config: Config) -> Self {
        let system = system_drivers(&config, Arc::new(SystemRunner));
        let mut daemon = Daemon::new(config, system.drivers);
        daemon.unavailable = system.unavailable.into_iter().collect();
        daemon
    }

    /// Every runtime berthd knows: whether it runs here, on which engine, or why not.
    pub fn runtimes(&self) -> Vec<berth_api::RuntimeInfo> {
        RuntimeKind::ALL
            .into_iter()
            .map(|kind| {
                let driver = self.drivers.get(&kind);
                berth_api::RuntimeInfo {
                    name: kind.to_string(),
                    found: driver.is_some(),
                    engine: driver
                        .map(|d| d.engine_name())
                        .filter(|engine| engine != kind.as_str()),
                    unavailable: driver.is_none().then(|| self.not_available(kind)),
                }
            })
            .collect()
    }

    fn not_available(&self, kind: RuntimeKind) -> String {
        match self.unavailable.get(&kind) {
            Some(why) => format!("the {kind} runtime is not available on this device: {why}"),
            None => format!("the {kind} runtime is not available on this device"),
        }
    }

    pub fn config(&self) -> &Config {
        &self.home.config
    }

    pub fn drivers(&self) -> impl Iterator<Item = &Arc<dyn Driver>> {
        self.drivers.values()
    }

    /// The driver of a manifest's runtime; none is an error, never a fallback.
    pub fn driver(&self, kind: RuntimeKind) -> Result<&Arc<dyn Driver>, OpError> {
        self.drivers
            .get(&kind)
            .ok_or_else(|| OpError::Unsupported(self.not_available(kind)))
    }

    /// The driver of a registered container, by its `runtime` in containers.conf.
    pub fn driver_for(&self, entry: &ContainerEntry) -> Result<&Arc<dyn Driver>, OpError> {
        self.driver_named(&entry.runtime)
            .map_err(|why| OpError::Unsupported(format!("{}: {why}", entry.id)))
    }

    /// The driver by a runtime's name as files record it.
    pub fn driver_named(&self, name: &str) -> Result<&Arc<dyn Driver>, String> {
        let kind: RuntimeKind = name.parse()?;
        self.drivers
            .get(&kind)
            .ok_or_else(|| self.not_available(kind))
    }

    /// Serialises operations on container `id`.
    pub fn lock(&self, id: &str) -> IdGuard<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while busy.contains(id) {
            busy = self.released.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        busy.insert(id.to_string());
        IdGuard {
            daemon: self,
            id: id.to_string(),
        }
    }

    /// The registered container `id`.
    pub fn entry(&self, id: &str) -> Result<ContainerEntry, OpError> {
        self.home.entry(id)
    }

    /// `id`'s container is another one now (an upgrade, a rollback).
    pub fn container_replaced(&self, id: &str) {
        self.replaced
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string());
    }

    /// The ids whose container was replaced since the last call.
    pub fn take_replaced(&self) -> HashSet<String> {
        std::mem::take(&mut *self.replaced.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The supervision records (one lock for all: held only for bookkeeping).
    pub fn supervision(&self) -> MutexGuard<'_, HashMap<String, Supervision>> {
        self.supervision.lock().unwrap_or_else(|p| p.into_inner())
    }
}
