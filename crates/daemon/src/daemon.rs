//! The daemon's shared state: its home (working path and files), one driver per
//! runtime, the trusted keys, a lock per container id, and the supervision records.
//! Operations on it live in `ops/`, one per file; supervision in `supervise/`.

use crate::config::Config;
use crate::driver::image::ImageDriver;
use crate::driver::lxc::{lxc_path, LxcDriver};
use crate::driver::Driver;
use crate::error::OpError;
use crate::home::Home;
use crate::policy::{Clock, Supervision, SystemClock};
use crate::store::ContainerEntry;
use berth_package::RuntimeKind;
use berth_runtime::{CommandRunner, Lxc, Podman, SystemRunner};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

pub struct Daemon {
    pub home: Home,
    drivers: BTreeMap<RuntimeKind, Arc<dyn Driver>>,
    pub trusted_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// Ids with an operation under way.
    busy: Mutex<HashSet<String>>,
    released: Condvar,
    supervision: Mutex<HashMap<String, Supervision>>,
    pub clock: Arc<dyn Clock>,
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

/// The drivers of every runtime berthd runs, over `runner`: podman and LXC.
pub fn system_drivers(config: &Config, runner: Arc<dyn CommandRunner>) -> Vec<Arc<dyn Driver>> {
    let timeout = Duration::from_secs(config.service.command_timeout.into());
    let wp = &config.service.working_path;
    let podman = Podman::new(
        Arc::clone(&runner),
        timeout,
        Duration::from_secs(config.service.podman_load_timeout.into()),
    );
    let lxc = Lxc::new(runner, lxc_path(wp), timeout);
    vec![
        Arc::new(ImageDriver::new(RuntimeKind::Podman, Arc::new(podman))),
        Arc::new(LxcDriver::new(Arc::new(lxc), wp)),
    ]
}

impl Daemon {
    pub fn new(config: Config, drivers: Vec<Arc<dyn Driver>>) -> Self {
        Daemon {
            home: Home::new(config),
            drivers: drivers.into_iter().map(|d| (d.kind(), d)).collect(),
            trusted_keys: Vec::new(),
            busy: Mutex::new(HashSet::new()),
            released: Condvar::new(),
            supervision: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// berthd as it runs on a device: the runtimes' own command-line tools.
    pub fn with_system_runtimes(config: Config) -> Self {
        let drivers = system_drivers(&config, Arc::new(SystemRunner));
        Daemon::new(config, drivers)
    }

    pub fn config(&self) -> &Config {
        &self.home.config
    }

    pub fn drivers(&self) -> impl Iterator<Item = &Arc<dyn Driver>> {
        self.drivers.values()
    }

    /// The driver of a manifest's runtime; none is an error, never a fallback.
    pub fn driver(&self, kind: RuntimeKind) -> Result<&Arc<dyn Driver>, OpError> {
        self.drivers.get(&kind).ok_or_else(|| {
            OpError::Unsupported(format!(
                "the {kind} runtime is not available on this device"
            ))
        })
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
            .ok_or_else(|| format!("the {kind} runtime is not available on this device"))
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

    /// The supervision records (one lock for all: held only for bookkeeping).
    pub fn supervision(&self) -> MutexGuard<'_, HashMap<String, Supervision>> {
        self.supervision.lock().unwrap_or_else(|p| p.into_inner())
    }
}
