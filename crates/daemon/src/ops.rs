//! What berthd does to containers: install (and upgrade), uninstall, start, stop,
//! restart, config set. Blocking code, run off the async threads. Operations on one
//! container are serialised by a lock per id; containers.conf's read-modify-write by
//! a lock of its own. Every operation undoes its earlier steps when a later one fails.

use crate::config::Config;
use crate::policy::{Clock, SystemClock};
use crate::state::{ContainerRecord, Sample, StateFile};
use crate::store::{ContainerEntry, ContainersConf, StoreError};
use crate::supervise::Supervision;
use berth_package::manifest::{check_restart, Checker, RestartPolicy};
use berth_package::pipe::{channel, ChannelReader, Chunk};
use berth_package::{
    read_package_into, Manifest, PayloadSink, ReadError, ReadOptions, Runtime as PkgRuntime,
};
use berth_runtime::{split_create_args, ImageRuntime, LoadedImage, Runtime, RuntimeError};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Starts `id` at berthd's start, trying twice more a second apart: right after a
/// crash podman may still be cleaning up half-written storage, and fail a start that
/// works a moment later.
fn start_retrying(rt: &dyn Runtime, id: &str) -> Result<(), RuntimeError> {
    let mut attempt = 0;
    loop {
        match rt.start(id) {
            Err(e) if attempt < 2 && !matches!(e, RuntimeError::NoSuchContainer(_)) => {
                crate::log::warn(format!("{id}: autostart failed ({e}); trying again"));
                attempt += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}

/// Labels on every container berthd creates: which registered id and version it is.
pub const LABEL_ID: &str = "berth.id";
pub const LABEL_VERSION: &str = "berth.version";
/// The file in an installed LXC bundle holding the package version it came from.
pub const LXC_VERSION_FILE: &str = "berth-version";
/// Which berthd (by working path) created it: recovery touches only its own.
pub const LABEL_HOME: &str = "berth.home";
/// The name of an upgrade's new container until it replaces the old one.
pub const UPGRADE_SUFFIX: &str = ".berth-new";

/// How long a container gets to stop before it is killed, unless told otherwise.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

/// Why an operation failed; each maps to one stable API code.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The package is invalid (every problem, one per line).
    #[error("{0}")]
    Package(String),
    #[error("no container {0}")]
    NoSuchContainer(String),
    #[error("{id} {version} is already installed (install with --force to replace it)")]
    AlreadyInstalled { id: String, version: String },
    #[error("not enough disk space: {0}")]
    NoSpace(String),
    /// A request that breaks a rule (config set of an unknown key, a bad value...).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{context}: {source}")]
    Runtime {
        context: String,
        #[source]
        source: RuntimeError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn runtime(context: impl Into<String>) -> impl FnOnce(RuntimeError) -> OpError {
    let context = context.into();
    move |source| OpError::Runtime { context, source }
}

/// The daemon's shared state.
pub struct Daemon {
    pub config: Config,
    pub podman: Arc<dyn ImageRuntime>,
    pub lxc: Arc<dyn Runtime>,
    pub trusted_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// Ids with an operation under way.
    busy: Mutex<HashSet<String>>,
    released: Condvar,
    conf_lock: Mutex<()>,
    state_lock: Mutex<()>,
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

/// What an install did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Installed {
    pub id: String,
    pub version: String,
    /// The version replaced, for an upgrade.
    pub replaced: Option<String>,
    pub images: Vec<String>,
    pub started: bool,
}

impl Daemon {
    pub fn new(config: Config, podman: Arc<dyn ImageRuntime>, lxc: Arc<dyn Runtime>) -> Self {
        Daemon {
            config,
            podman,
            lxc,
            trusted_keys: Vec::new(),
            busy: Mutex::new(HashSet::new()),
            released: Condvar::new(),
            conf_lock: Mutex::new(()),
            state_lock: Mutex::new(()),
            supervision: Mutex::new(HashMap::new()),
            clock: Arc::new(SystemClock),
        }
    }

    /// A short tag of this daemon's working path, in the transient image names of
    /// its installs: another berthd on the same podman (tests, or two working
    /// paths) never takes them for its own.
    pub fn home_tag(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(
            self.config
                .service
                .working_path
                .as_os_str()
                .as_encoded_bytes(),
        );
        hex::encode(&digest[..4])
    }

    pub fn containers_path(&self) -> PathBuf {
        self.config.service.working_path.join("containers.conf")
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

    pub fn containers(&self) -> Result<ContainersConf, StoreError> {
        ContainersConf::load(&self.containers_path())
    }

    /// The registered container `id`.
    pub fn entry(&self, id: &str) -> Result<ContainerEntry, OpError> {
        self.containers()?
            .containers
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| OpError::NoSuchContainer(id.into()))
    }

    /// Read-modify-write of containers.conf, atomically and one at a time.
    fn update_conf<T>(
        &self,
        change: impl FnOnce(&mut ContainersConf) -> Result<T, OpError>,
    ) -> Result<T, OpError> {
        let _conf = self.conf_lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.containers_path();
        let mut conf = ContainersConf::load(&path)?;
        let out = change(&mut conf)?;
        conf.save(&path)?;
        Ok(out)
    }

    /// The supervision records (one lock for all: held only for bookkeeping).
    pub fn supervision(&self, _id: &str) -> MutexGuard<'_, HashMap<String, Supervision>> {
        self.supervision.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A manual action on `id`: a pending automatic restart is void; `wanted_running`
    /// says whether an exit from now on is a crash; a start clears the history.
    fn manual(&self, id: &str, wanted_running: bool) {
        let mut sup = self.supervision(id);
        let s = sup.entry(id.to_string()).or_default();
        s.generation += 1;
        s.pending = false;
        s.stop_requested = !wanted_running;
        if wanted_running {
            s.history.clear();
            s.failed = None;
            s.restart_count = 0;
            drop(sup);
            self.persist_supervision(id);
        }
    }

    /// Writes `id`'s restart history, count and failure into state.json, so a
    /// berthd restarted (or killed) keeps the budget it had.
    pub fn persist_supervision(&self, id: &str) {
        let Some((attempts, count, failed)) = self.supervision(id).get(id).map(|s| {
            let attempts: Vec<f64> = s.history.attempts.iter().copied().collect();
            (attempts, s.restart_count, s.failed.clone())
        }) else {
            return;
        };
        self.update_state(|st| {
            let r = st.containers.entry(id.to_string()).or_default();
            r.restart_attempts = attempts;
            r.restart_count = count;
            r.failed_reason = failed;
        });
    }

    /// At start, after recovery: the restart histories state.json kept.
    pub fn restore_supervision(&self) {
        let state = StateFile::load(&self.state_path());
        let mut sup = self.supervision("");
        for (id, r) in state.containers {
            let s = sup.entry(id).or_default();
            s.history.attempts = r.restart_attempts.into();
            s.restart_count = r.restart_count;
            s.failed = r.failed_reason;
        }
    }

    /// A container berthd gave up on whose restart budget is still spent (attempts
    /// within the window): it stays failed, even across a restart of berthd.
    fn budget_spent(&self, entry: &ContainerEntry) -> Option<String> {
        let now = self.clock.now();
        let sup = self.supervision(&entry.id);
        let s = sup.get(&entry.id)?;
        let window = f64::from(entry.restart.window);
        let recent = s
            .history
            .attempts
            .iter()
            .filter(|t| now - **t < window)
            .count();
        s.failed
            .clone()
            .filter(|_| recent >= entry.restart.max_retries as usize)
    }

    /// berthd's word for a container's state: the runtime's, except `failed` when
    /// berthd gave up restarting it, and `missing` when the runtime lost it.
    pub fn status_word(&self, id: &str, state: Option<&berth_runtime::ContainerState>) -> String {
        match state {
            None => "missing".into(),
            Some(s) if s.running => s.status.clone(),
            Some(s) => match self.supervision(id).get(id).and_then(|x| x.failed.clone()) {
                Some(_) => "failed".into(),
                None => s.status.clone(),
            },
        }
    }

    /// Restart count and the reason berthd gave up, if it did.
    pub fn supervision_summary(&self, id: &str) -> (u32, Option<String>) {
        self.supervision(id)
            .get(id)
            .map(|s| (s.restart_count, s.failed.clone()))
            .unwrap_or_default()
    }

    /// The monitor tick's samples into state.json.
    pub fn record_samples(&self, samples: Vec<(String, Sample)>) {
        let summaries: Vec<(u32, Option<String>)> = samples
            .iter()
            .map(|(id, _)| self.supervision_summary(id))
            .collect();
        self.update_state(|s| {
            for ((id, sample), (restarts, reason)) in samples.into_iter().zip(summaries) {
                let r = s.containers.entry(id).or_default();
                r.last_status = Some(sample.status.clone());
                r.restart_count = restarts;
                r.failed_reason = reason;
                r.sample = Some(sample);
            }
        });
    }

    pub fn state_path(&self) -> PathBuf {
        self.config.service.working_path.join("state.json")
    }

    /// Read-modify-write of state.json. It is a record berthd can rebuild, so a
    /// failure to write it is reported, not fatal to the operation.
    fn update_state(&self, change: impl FnOnce(&mut StateFile)) {
        let _lock = self.state_lock.lock().unwrap_or_else(|p| p.into_inner());
        let path = self.state_path();
        let mut state = StateFile::load(&path);
        change(&mut state);
        if let Err(e) = state.save(&path) {
            crate::log::warn(format!("{}: cannot write: {e}", path.display()));
        }
    }

    /// Where berthd keeps LXC bundles: its own lxcpath.
    pub fn lxc_path(&self) -> PathBuf {
        self.config.service.working_path.join("lxc")
    }

    /// Where an LXC upgrade keeps the bundle it replaces until the commit: outside
    /// the LXC path (lxc-ls would list it), on the same filesystem (renames).
    pub fn lxc_previous_path(&self) -> PathBuf {
        self.config.service.working_path.join("lxc-previous")
    }

    /// The runtime by its name in containers.conf.
    pub fn runtime_named(&self, name: &str) -> Option<&dyn Runtime> {
        match name {
            "podman" => Some(self.podman.as_ref()),
            "lxc" => Some(self.lxc.as_ref()),
            _ => None,
        }
    }

    pub fn runtime_for(&self, entry: &ContainerEntry) -> Result<&dyn Runtime, OpError> {
        match self.runtime_named(&entry.runtime) {
            Some(rt) => Ok(rt),
            None => Err(OpError::Unsupported(format!(
                "{}: the {} runtime is not supported",
                entry.id, entry.runtime
            ))),
        }
    }

    /// At start-up: starts every registered container whose autostart is true and
    /// is not running, and reports containers the runtime no longer has (they stay
    /// registered: uninstall removes them). Returns one line per thing done or found.
    pub fn reconcile(&self) -> Vec<String> {
        let conf = match self.containers() {
            Ok(c) => c,
            Err(e) => return vec![format!("error: {e}")],
        };
        let mut lines = Vec::new();
        let mut seen: Vec<(String, String)> = Vec::new();
        for entry in &conf.containers {
            let _g = self.lock(&entry.id);
            let rt = match self.runtime_for(entry) {
                Ok(rt) => rt,
                Err(e) => {
                    lines.push(format!("warning: {e}"));
                    continue;
                }
            };
            let state = rt.state(&entry.id);
            if let Ok(st) = &state {
                seen.push((entry.id.clone(), st.status.clone()));
            } else if let Err(RuntimeError::NoSuchContainer(_)) = &state {
                seen.push((entry.id.clone(), "missing".into()));
            }
            match state {
                Err(RuntimeError::NoSuchContainer(_)) => lines.push(format!(
                    "warning: {}: registered, but {} has no such container (removed behind berthd's back; `berthctl uninstall {}` unregisters it)",
                    entry.id, entry.runtime, entry.id
                )),
                Err(e) => lines.push(format!("error: {}: {e}", entry.id)),
                Ok(s) if s.running => lines.push(format!("{}: running, adopted", entry.id)),
                Ok(_) if entry.autostart => match self.budget_spent(entry) {
                    Some(reason) => lines.push(format!(
                        "{}: failed, not started: its restart budget is spent ({reason}); `berthctl start {}` starts it",
                        entry.id, entry.id
                    )),
                    None => match start_retrying(rt, &entry.id) {
                    Ok(()) => {
                        seen.pop();
                        seen.push((entry.id.clone(), "running".into()));
                        lines.push(format!("{}: started (autostart)", entry.id))
                    }
                    Err(e) => lines.push(format!("error: {}: autostart failed: {e}", entry.id)),
                    },
                },
                Ok(s) => lines.push(format!("{}: {} (autostart off)", entry.id, s.status)),
            }
        }
        self.update_state(|s| {
            // Records of containers no longer registered are dropped.
            s.containers
                .retain(|id, _| conf.containers.iter().any(|e| e.id == *id));
            for (id, status) in seen {
                s.containers.entry(id).or_default().last_status = Some(status);
            }
        });
        lines
    }

    pub fn start(&self, id: &str) -> Result<(), OpError> {
        let _g = self.lock(id);
        let entry = self.entry(id)?;
        self.manual(id, true);
        self.runtime_for(&entry)?
            .start(id)
            .map_err(runtime(format!("starting {id}")))
    }

    pub fn stop(&self, id: &str, grace: Duration) -> Result<(), OpError> {
        let _g = self.lock(id);
        let entry = self.entry(id)?;
        self.manual(id, false);
        self.runtime_for(&entry)?
            .stop(id, grace)
            .map_err(runtime(format!("stopping {id}")))
    }

    pub fn restart(&self, id: &str, grace: Duration) -> Result<(), OpError> {
        let _g = self.lock(id);
        let entry = self.entry(id)?;
        let rt = self.runtime_for(&entry)?;
        self.manual(id, false);
        rt.stop(id, grace)
            .map_err(runtime(format!("stopping {id}")))?;
        self.manual(id, true);
        rt.start(id).map_err(runtime(format!("starting {id}")))
    }

    /// Stops and removes the container, its entry and (if nothing else uses it) its
    /// image. A container already gone from the runtime is still unregistered.
    pub fn uninstall(&self, id: &str) -> Result<(), OpError> {
        let _g = self.lock(id);
        let entry = self.entry(id)?;
        self.runtime_for(&entry)?;
        self.manual(id, false);
        // Unregistered first: should berthd die halfway, what is left is an orphan
        // that `recover` removes, never a registered container without its parts.
        self.update_conf(|conf| {
            conf.containers.retain(|e| e.id != id);
            Ok(())
        })?;
        self.remove_unregistered(id, &entry.runtime)
    }

    /// Removes what an unregistered `id` left: its container, its images (those its
    /// install recorded, and the one it runs, unless shared), its logs and records.
    fn remove_unregistered(&self, id: &str, runtime_name: &str) -> Result<(), OpError> {
        let rt = self
            .runtime_named(runtime_name)
            .unwrap_or(self.podman.as_ref());
        let mut images = match rt.state(id) {
            Ok(s) => s.image.into_iter().collect::<Vec<_>>(),
            Err(RuntimeError::NoSuchContainer(_)) => Vec::new(),
            Err(e) => return Err(runtime(format!("uninstalling {id}"))(e)),
        };
        if let Some(r) = StateFile::load(&self.state_path()).containers.remove(id) {
            for image in r.images.into_iter().chain(r.replaced_images) {
                if !images.contains(&image) {
                    images.push(image);
                }
            }
        }
        match rt.remove(id) {
            Ok(()) | Err(RuntimeError::NoSuchContainer(_)) => {}
            Err(e) => return Err(runtime(format!("removing container {id}"))(e)),
        }
        for image in images {
            // Refused while another container uses it: then it stays, rightly.
            let _ = self.podman.remove_image(&image);
        }
        self.update_state(|s| {
            s.containers.remove(id);
        });
        self.supervision(id).remove(id);
        crate::logs::remove(&self.config.service.working_path, id);
        Ok(())
    }

    /// After a crash, before anything else: finishes or undoes what was under way
    /// (docs/recovery.md). Returns one line per thing done.
    pub fn recover(&self) -> Vec<String> {
        let mut done = Vec::new();
        crate::supervise::end_orphaned_commands(self);
        crate::supervise::lead_process_group(self);
        crate::supervise::end_stale_event_stream(self, "podman");
        crate::supervise::end_stale_event_stream(self, "lxc");
        let wp = &self.config.service.working_path;
        // Scratch space of interrupted installs.
        if let Ok(entries) = std::fs::read_dir(wp.join("staging")) {
            for e in entries.flatten() {
                if std::fs::remove_dir_all(e.path()).is_ok() {
                    done.push(format!(
                        "removed the scratch files of an interrupted install ({})",
                        e.path().display()
                    ));
                }
            }
        }
        let conf = match self.containers() {
            Ok(c) => c,
            Err(e) => return vec![format!("error: {e}")],
        };
        let version_of = |id: &str| {
            conf.containers
                .iter()
                .find(|e| e.id == id)
                .map(|e| e.version.clone())
        };
        let rt = self.podman.as_ref();
        let Ok(all) = rt.list() else {
            done.push("error: cannot list podman's containers; recovery skipped".into());
            return done;
        };
        let home = self.config.service.working_path.display().to_string();
        for c in &all {
            if c.labels.get(LABEL_HOME) != Some(&home) {
                continue; // another berthd's, or not berthd's at all
            }
            let Some(owner) = c.labels.get(LABEL_ID) else {
                continue;
            };
            let version = c.labels.get(LABEL_VERSION);
            if c.id == *owner {
                if version_of(owner).is_none() {
                    // Created by an install that never committed, or left by an
                    // uninstall that did.
                    match self.remove_unregistered(owner, "podman") {
                        Ok(()) => done.push(format!("{owner}: removed, not registered (an interrupted install or uninstall)")),
                        Err(e) => done.push(format!("error: {owner}: {e}")),
                    }
                }
            } else if c.id == format!("{owner}{UPGRADE_SUFFIX}") {
                if version_of(owner).as_ref() == version {
                    self.finish_install(owner, std::iter::empty());
                    done.push(format!(
                        "{owner}: finished the upgrade to {}",
                        version.map_or("?", |v| v)
                    ));
                } else {
                    let _ = rt.remove(&c.id);
                    done.push(format!("{owner}: undid an interrupted upgrade"));
                }
            }
        }
        self.recover_lxc(&version_of, &mut done);
        for (id, record) in StateFile::load(&self.state_path()).containers {
            if version_of(&id).is_none() {
                // An uninstall that unregistered it, or an install that recorded it
                // but never committed: remove what the record says it brought.
                let runtime_name = record.runtime.clone().unwrap_or_else(|| "podman".into());
                match self.remove_unregistered(&id, &runtime_name) {
                    Ok(()) => done.push(format!(
                        "{id}: removed what was left of it (not registered)"
                    )),
                    Err(e) => done.push(format!("error: {id}: {e}")),
                }
            } else if !record.replaced_images.is_empty() && version_of(&id) == record.version {
                // An upgrade committed but not finished: replaced images to remove.
                self.finish_install(&id, std::iter::empty());
            }
        }
        // Images still under a transient name: committed if a registered container
        // runs them (then the name goes), else an install that did not finish.
        let used: HashSet<String> = rt
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| {
                c.labels
                    .get(LABEL_ID)
                    .is_some_and(|o| version_of(o).is_some())
            })
            .filter_map(|c| c.image)
            .collect();
        // podman's listing can fail while another process removes an image: retry.
        let images = (0..3)
            .find_map(|attempt| {
                if attempt > 0 {
                    std::thread::sleep(Duration::from_millis(300));
                }
                rt.images().ok()
            })
            .unwrap_or_default();
        let ours = format!("/berth-load/{}-", self.home_tag());
        let is_ours =
            |n: &String| berth_runtime::stream_load::is_transient_name(n) && n.contains(&ours);
        // A `podman create` killed half-way leaves a container in storage only: not
        // listed, not labelled, but holding its name and its image. Ours when its
        // image has one of our transient names or its name is one of our ids'.
        let recorded = StateFile::load(&self.state_path()).containers;
        let our_name = |name: &str| {
            let id = name.strip_suffix(UPGRADE_SUFFIX).unwrap_or(name);
            version_of(id).is_some() || recorded.contains_key(id)
        };
        let transient_images: HashSet<&String> = images
            .iter()
            .filter(|(_, names)| names.iter().any(is_ours))
            .map(|(image, _)| image)
            .collect();
        for c in rt.storage_only().unwrap_or_default() {
            let by_image = c
                .image
                .as_ref()
                .is_some_and(|i| transient_images.contains(i));
            if (by_image || our_name(&c.id)) && rt.remove(&c.id).is_ok() {
                done.push(format!(
                    "{}: removed a container a killed create left in storage",
                    c.id
                ));
            }
        }
        for (image, names) in &images {
            let transient: Vec<&String> = names.iter().filter(|n| is_ours(n)).collect();
            if transient.is_empty() {
                continue;
            }
            if used.contains(image) {
                for n in transient {
                    let _ = rt.untag(image, n);
                }
            } else if rt.discard_image(names).is_ok() {
                done.push(format!(
                    "removed image {} of an interrupted install",
                    &image[..12.min(image.len())]
                ));
            }
        }
        done
    }

    /// LXC's part of recovery. An upgrade moves the old bundle to `lxc-previous/<id>`,
    /// the new one into place, then commits: while `lxc-previous/<id>` exists the
    /// upgrade is committed only if the bundle in place has the registered version;
    /// otherwise the new one goes and the old one comes back. Then bundles nobody
    /// registered (installs that did not commit) are stopped and removed.
    fn recover_lxc(&self, version_of: &dyn Fn(&str) -> Option<String>, done: &mut Vec<String>) {
        let rt = self.lxc.as_ref();
        if let Ok(dirs) = std::fs::read_dir(self.lxc_previous_path()) {
            for d in dirs.flatten() {
                let id = d.file_name().to_string_lossy().into_owned();
                let place = self.lxc_path().join(&id);
                let placed = std::fs::read_to_string(place.join(LXC_VERSION_FILE)).ok();
                let registered = version_of(&id);
                if registered.is_none() || (place.exists() && placed == registered) {
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
        if let Ok(dirs) = std::fs::read_dir(self.lxc_path()) {
            for d in dirs.flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                if version_of(&name).is_none() && rt.remove(&name).is_ok() {
                    done.push(format!("{name}: removed an unregistered LXC bundle"));
                }
            }
        }
    }

    /// Sets one registered setting (autostart, monitor, restart.*), checked by the
    /// manifest's rules; returns the entry as saved.
    pub fn config_set(
        &self,
        id: &str,
        key: &str,
        value: &Value,
    ) -> Result<ContainerEntry, OpError> {
        let _g = self.lock(id);
        self.update_conf(|conf| {
            let entry = conf
                .containers
                .iter_mut()
                .find(|e| e.id == id)
                .ok_or_else(|| OpError::NoSuchContainer(id.into()))?;
            apply_setting(entry, key, value)?;
            Ok(entry.clone())
        })
    }

    /// Installs a package read from `body`: see docs/api.md. `force` replaces the
    /// same version.
    pub fn install(
        &self,
        body: impl Read + Send + 'static,
        force: bool,
    ) -> Result<Installed, OpError> {
        let staging_root = self.config.service.working_path.join("staging");
        std::fs::create_dir_all(&staging_root).map_err(|source| OpError::Io {
            context: format!("creating {}", staging_root.display()),
            source,
        })?;
        let staging = tempfile::Builder::new()
            .prefix("install-")
            .tempdir_in(&staging_root)
            .map_err(|source| OpError::Io {
                context: format!("creating a directory in {}", staging_root.display()),
                source,
            })?;
        let mut sink = InstallSink {
            daemon: self,
            force,
            staging: staging.path().to_path_buf(),
            plan: None,
            loader: None,
            refusal: None,
        };
        let opts = ReadOptions {
            trusted_keys: self.trusted_keys.clone(),
            allow_unsigned: !self.config.trust.require_signature,
            ..Default::default()
        };
        let read = read_package_into(body, &opts, Some(&mut sink));
        let loaded = sink.loader.take().map(|l| {
            l.join().unwrap_or_else(|_| {
                Err(RuntimeError::Output {
                    runtime: "podman",
                    what: "load".into(),
                    why: "the loader thread panicked".into(),
                })
            })
        });
        let refusal = sink.refusal.take();
        let plan = sink.plan.take();
        let undo_images = |images: &[LoadedImage]| {
            for image in images.iter().filter(|i| i.new) {
                let _ = self.podman.discard_image(&image.all_names());
            }
        };
        match (read, loaded) {
            (Err(e), loaded) => {
                if let Some(Ok(Loaded::Images(images))) = &loaded {
                    undo_images(images);
                }
                // The sink's own refusal (no space, already installed) says more
                // than the reader's echo of it.
                Err(refusal.unwrap_or_else(|| match e {
                    ReadError::Invalid(p) => OpError::Package(p.to_string()),
                    ReadError::Io(source) => OpError::Io {
                        context: "reading the package".into(),
                        source,
                    },
                }))
            }
            (Ok(_), None) => Err(OpError::Package("the package has no payload".into())),
            (Ok(_), Some(Err(e))) => Err(match e {
                RuntimeError::Archive(why) => OpError::Package(format!("payload: {why}")),
                e => runtime("loading the image")(e),
            }),
            (Ok(report), Some(Ok(Loaded::Bundle(bundle)))) => {
                let plan = plan.expect("a payload was opened");
                self.manual(&plan.entry.id, false);
                let result = self.register_lxc(&plan, &bundle, &report.payload.digest);
                if let Ok(done) = &result {
                    self.manual(&done.id, done.started);
                }
                result
            }
            (Ok(report), Some(Ok(Loaded::Images(images)))) => {
                let plan = plan.expect("a payload was opened");
                // The old container's exit during an upgrade is not a crash.
                self.manual(&plan.entry.id, false);
                let result = self.register(&plan, &images, &report.payload.digest);
                match &result {
                    Ok(done) => self.manual(&done.id, done.started),
                    Err(_) => undo_images(&images),
                }
                result
            }
        }
    }

    /// After the image is in: create the container, record it, start it; for an
    /// upgrade, swap it with the old one only once the new one is created (and,
    /// if the old one ran, started).
    ///
    /// Crash ordering (docs/recovery.md): the container carries `berth.id` and
    /// `berth.version` labels; state.json gets the install's record (with the images
    /// an upgrade replaces) before containers.conf commits to the new version; the
    /// new images lose their transient names only after that commit. So whatever
    /// kills berthd, `recover` can tell a finished install from an unfinished one.
    fn register(
        &self,
        plan: &Plan<'_>,
        images: &[LoadedImage],
        digest: &str,
    ) -> Result<Installed, OpError> {
        let rt = self.podman.as_ref();
        let id = &plan.entry.id;
        let image_names: Vec<String> = images
            .iter()
            .map(|i| {
                i.references
                    .first()
                    .cloned()
                    .unwrap_or_else(|| i.id.clone())
            })
            .collect();
        let wp = &self.config.service.working_path;
        let _ = std::fs::create_dir_all(crate::logs::dir(wp));
        let mut args = vec![
            "--label".to_string(),
            format!("{LABEL_HOME}={}", wp.display()),
            "--label".to_string(),
            format!("{LABEL_ID}={id}"),
            "--label".into(),
            format!("{LABEL_VERSION}={}", plan.entry.version),
        ];
        args.extend(crate::logs::create_args(wp, id));
        args.extend(plan.args.iter().cloned());
        let old_state = match &plan.old {
            Some(_) => rt.state(id).ok(),
            None => None,
        };
        let was_running = old_state.as_ref().is_some_and(|s| s.running);
        let start_new = was_running || plan.entry.autostart;
        let new_name = if plan.old.is_some() {
            format!("{id}{UPGRADE_SUFFIX}")
        } else {
            id.clone()
        };
        if plan.old.is_some() {
            let _ = rt.remove(&new_name); // a leftover of an interrupted upgrade
        }
        rt.create(&new_name, &with_name(&args, &new_name))
            .map_err(runtime(format!("creating {id}")))?;
        let undo = |why: OpError| {
            let _ = rt.remove(&new_name);
            if was_running {
                let _ = rt.start(id);
            }
            why
        };
        if old_state.is_some() {
            rt.stop(id, DEFAULT_STOP_GRACE)
                .map_err(|e| undo(runtime(format!("stopping the old {id}"))(e)))?;
        }
        if start_new {
            rt.start(&new_name)
                .map_err(|e| undo(runtime(format!("starting {id}"))(e)))?;
        }
        let replaced_images: Vec<String> = old_state
            .as_ref()
            .and_then(|s| s.image.clone())
            .filter(|old| !images.iter().any(|i| i.id == *old))
            .into_iter()
            .collect();
        let previous_record = StateFile::load(&self.state_path()).containers.remove(id);
        self.update_state(|s| {
            s.containers.insert(
                id.clone(),
                ContainerRecord {
                    version: Some(plan.entry.version.clone()),
                    images: images.iter().map(|i| i.id.clone()).collect(),
                    replaced_images: replaced_images.clone(),
                    package_digest: Some(digest.to_string()),
                    installed_at: Some(
                        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
                    ),
                    last_status: Some(if start_new { "running" } else { "created" }.into()),
                    ..Default::default()
                },
            );
        });
        if let Err(e) = self.update_conf(|conf| {
            conf.containers.retain(|e| e.id != *id);
            conf.containers.push(plan.entry.clone());
            Ok(())
        }) {
            self.update_state(|s| match previous_record {
                Some(r) => {
                    s.containers.insert(id.clone(), r);
                }
                None => {
                    s.containers.remove(id);
                }
            });
            return Err(undo(e));
        }
        // Committed: the new version is registered (and running if it should be).
        self.finish_install(
            id,
            images
                .iter()
                .filter_map(|i| i.transient_name.as_ref().map(|n| (i.id.clone(), n.clone()))),
        );
        Ok(Installed {
            id: id.clone(),
            version: plan.entry.version.clone(),
            replaced: plan.old.as_ref().map(|o| o.version.clone()),
            images: image_names,
            started: start_new,
        })
    }

    /// An LXC bundle into place: fresh, it is renamed from staging into the lxcpath
    /// with its config rewritten, registered, started; an upgrade moves the old
    /// bundle aside, the new one in, starts it, and only then commits — a failure
    /// puts the old one back and starts it again.
    fn register_lxc(
        &self,
        plan: &Plan<'_>,
        bundle: &Path,
        digest: &str,
    ) -> Result<Installed, OpError> {
        let rt = self.lxc.as_ref();
        let id = &plan.entry.id;
        let wp = &self.config.service.working_path;
        let lxc_path = self.lxc_path();
        let io = |context: String| move |source: io::Error| OpError::Io { context, source };
        std::fs::create_dir_all(&lxc_path)
            .map_err(io(format!("creating {}", lxc_path.display())))?;
        std::fs::create_dir_all(crate::logs::console_dir(wp))
            .map_err(io("creating the log directory".into()))?;
        let place = lxc_path.join(id);
        let config_path = bundle.join("config");
        let text = std::fs::read_to_string(&config_path).map_err(|_| {
            OpError::Package("payload: the LXC bundle's config is not readable text".into())
        })?;
        let config = berth_runtime::lxc::rewrite_config(
            &text,
            &place.join("rootfs"),
            &crate::logs::console_path(wp, id),
            |name| Path::new("/sys/class/net").join(name).exists(),
        )
        .map_err(|e| OpError::Package(format!("payload: LXC bundle {e}")))?;
        crate::atomic::write_atomic(&config_path, config.as_bytes())
            .map_err(io(format!("writing {}", config_path.display())))?;
        // The version in the bundle tells recovery whether the bundle in place is the
        // registered one or an upgrade that did not commit.
        let marker = bundle.join(LXC_VERSION_FILE);
        crate::atomic::write_atomic(&marker, plan.entry.version.as_bytes())
            .map_err(io(format!("writing {}", marker.display())))?;
        let was_running = plan.old.is_some() && rt.state(id).map(|s| s.running).unwrap_or(false);
        let start_new = was_running || plan.entry.autostart;
        let previous = self.lxc_previous_path();
        let aside = previous.join(id);
        if plan.old.is_some() && place.exists() {
            if was_running {
                rt.stop(id, DEFAULT_STOP_GRACE)
                    .map_err(runtime(format!("stopping the old {id}")))?;
            }
            std::fs::create_dir_all(&previous)
                .map_err(io(format!("creating {}", previous.display())))?;
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
        self.update_state(|s| {
            s.containers.insert(
                id.clone(),
                ContainerRecord {
                    version: Some(plan.entry.version.clone()),
                    runtime: Some("lxc".into()),
                    package_digest: Some(digest.to_string()),
                    installed_at: Some(
                        humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
                    ),
                    last_status: Some(if start_new { "running" } else { "stopped" }.into()),
                    ..Default::default()
                },
            );
        });
        self.update_conf(|conf| {
            conf.containers.retain(|e| e.id != *id);
            conf.containers.push(plan.entry.clone());
            Ok(())
        })
        .map_err(|e| {
            let _ = rt.stop(id, Duration::from_secs(1));
            put_back(e)
        })?;
        let _ = std::fs::remove_dir_all(&aside);
        Ok(Installed {
            id: id.clone(),
            version: plan.entry.version.clone(),
            replaced: plan.old.as_ref().map(|o| o.version.clone()),
            images: Vec::new(),
            started: start_new,
        })
    }

    /// The steps after an install's commit, also run by `recover` after a crash: the
    /// upgraded container into place, the replaced images and the transient names
    /// gone.
    fn finish_install(&self, id: &str, transient: impl Iterator<Item = (String, String)>) {
        let rt = self.podman.as_ref();
        let new_name = format!("{id}{UPGRADE_SUFFIX}");
        if rt.state(&new_name).is_ok() {
            let _ = rt.remove(id);
            if let Err(e) = rt.rename(&new_name, id) {
                crate::log::error(format!(
                    "{id}: renaming the upgraded container into place: {e}"
                ));
            }
        }
        let replaced = StateFile::load(&self.state_path())
            .containers
            .get(id)
            .map(|r| r.replaced_images.clone())
            .unwrap_or_default();
        for image in &replaced {
            // Refused while another container uses it: then it stays, rightly.
            let _ = rt.remove_image(image);
        }
        for (image, name) in transient {
            let _ = rt.untag(&image, &name);
        }
        if !replaced.is_empty() {
            self.update_state(|s| {
                if let Some(r) = s.containers.get_mut(id) {
                    r.replaced_images.clear();
                }
            });
        }
    }

    /// Space needed for a load of `payload_size` bytes: podman's storage grows by
    /// about the image's size, and podman's temporary copy of the layer it is
    /// storing (at most the image's size) is in the staging directory.
    /// Space for an LXC bundle: the unpacked bundle, which the .tar.gz's size only
    /// bounds loosely; 4x the compressed size (busybox-like rootfs compress ~3x).
    fn check_disk_lxc(&self, id: &str, payload_size: u64) -> Result<(), OpError> {
        let wp = self.config.service.working_path.as_path();
        let need = 4 * payload_size + (16 << 20);
        let free = free_bytes(wp);
        if free < need {
            return Err(OpError::NoSpace(format!(
                "installing {id} (LXC bundle of {} MiB) needs about {} MiB free on the filesystem of {}, which has {} MiB",
                payload_size >> 20,
                need >> 20,
                wp.display(),
                free >> 20
            )));
        }
        Ok(())
    }

    fn check_disk(&self, id: &str, payload_size: u64) -> Result<(), OpError> {
        let staging = self.config.service.working_path.as_path();
        let storage = self
            .podman
            .storage_root()
            .map_err(runtime("asking podman where it stores images"))?;
        let storage = existing_ancestor(&storage);
        let margin = |n: u64| n + n / 20 + (16 << 20);
        let mut needs: Vec<(PathBuf, u64)> = Vec::new();
        if same_filesystem(staging, &storage) {
            needs.push((staging.to_path_buf(), margin(2 * payload_size)));
        } else {
            needs.push((staging.to_path_buf(), margin(payload_size)));
            needs.push((storage, margin(payload_size)));
        }
        for (path, need) in needs {
            let free = free_bytes(&path);
            if free < need {
                return Err(OpError::NoSpace(format!(
                    "installing {id} ({} MiB image) needs {} MiB free on the filesystem of {}, which has {} MiB",
                    payload_size >> 20,
                    need >> 20,
                    path.display(),
                    free >> 20
                )));
            }
        }
        Ok(())
    }
}

/// `args` with the container's name set to `name` (a `--name` in them was checked to be the id).
fn with_name(args: &[String], name: &str) -> Vec<String> {
    let mut out = vec!["--name".to_string(), name.to_string()];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--name" {
            it.next();
        } else if a.starts_with("--name=") {
        } else {
            out.push(a.clone());
        }
    }
    out
}

pub fn free_bytes(path: &Path) -> u64 {
    rustix::fs::statvfs(path)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(0)
}

fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// Sets `key` of a registered container to `value`, by the manifest's rules.
pub fn apply_setting(entry: &mut ContainerEntry, key: &str, value: &Value) -> Result<(), OpError> {
    let bad = |rule: String| OpError::BadRequest(format!("{key} {rule}"));
    match key {
        "autostart" | "monitor" => {
            let b = value
                .as_bool()
                .ok_or_else(|| bad(format!("must be true or false, got {value}")))?;
            if key == "autostart" {
                entry.autostart = b;
            } else {
                entry.monitor = b;
            }
            Ok(())
        }
        k if k.starts_with("restart.") => {
            let field = &k["restart.".len()..];
            let mut r = serde_json::json!({
                "enabled": entry.restart.enabled,
                "max_retries": entry.restart.max_retries,
                "window": entry.restart.window,
                "retry_delay": entry.restart.retry_delay,
            });
            if r.get(field).is_none() {
                return Err(bad(
                    "is not a setting: use autostart, monitor or restart.<enabled|max_retries|window|retry_delay>".into(),
                ));
            }
            r[field] = value.clone();
            let mut c = Checker::default();
            let policy: Option<RestartPolicy> =
                check_restart(&mut c, r.as_object().expect("object"), "restart");
            match (policy, c.issues.first()) {
                (Some(p), None) => {
                    entry.restart = p;
                    Ok(())
                }
                (_, Some(issue)) => Err(OpError::BadRequest(issue.to_string())),
                (None, None) => Err(bad("is invalid".into())),
            }
        }
        _ => Err(bad(
            "is not a setting: use autostart, monitor or restart.<enabled|max_retries|window|retry_delay>".into(),
        )),
    }
}

/// What an install will do, decided when the payload starts.
struct Plan<'d> {
    entry: ContainerEntry,
    args: Vec<String>,
    /// The registered version this one replaces.
    old: Option<ContainerEntry>,
    _guard: IdGuard<'d>,
}

/// What the payload became: images in podman, or an LXC bundle unpacked in staging.
enum Loaded {
    Images(Vec<LoadedImage>),
    Bundle(PathBuf),
}

type LoadResult = Result<Loaded, RuntimeError>;

/// Receives the payload: checks what can be checked before a byte is written, then
/// streams it into podman on a thread of its own.
struct InstallSink<'d> {
    daemon: &'d Daemon,
    force: bool,
    staging: PathBuf,
    plan: Option<Plan<'d>>,
    loader: Option<JoinHandle<LoadResult>>,
    refusal: Option<OpError>,
}

impl<'d> InstallSink<'d> {
    fn prepare(&mut self, manifest: &Manifest, size: u64) -> Result<(), OpError> {
        let id = manifest.id().to_string();
        let guard = self.daemon.lock(&id);
        let old = self
            .daemon
            .containers()?
            .containers
            .into_iter()
            .find(|e| e.id == id);
        if let Some(old) = &old {
            if old.version == manifest.version && !self.force {
                return Err(OpError::AlreadyInstalled {
                    id,
                    version: old.version.clone(),
                });
            }
        }
        let args = match manifest.runtime {
            // An LXC bundle's config is its create_args (the manifest may not have any).
            PkgRuntime::Lxc => Vec::new(),
            PkgRuntime::Podman => {
                split_create_args(&manifest.create_args.clone().unwrap_or_default())
                    .map_err(|e| OpError::Package(format!("manifest.json: {e}")))?
            }
        };
        if let Some(name) = berth_runtime::name_arg(&args).filter(|n| *n != id) {
            return Err(OpError::Package(format!(
                "manifest.json: create_args: --name {name} differs from the package id {id} (berthd names the container by its id)"
            )));
        }
        if manifest.runtime == PkgRuntime::Podman {
            self.daemon.check_disk(&id, size)?;
        } else {
            self.daemon.check_disk_lxc(&id, size)?;
        }
        let defaults = &manifest.registration_defaults;
        let friendly_name = manifest
            .json
            .get("friendly_name")
            .and_then(Value::as_str)
            .or(manifest.name.as_deref())
            .unwrap_or(&id)
            .to_string();
        self.plan = Some(Plan {
            entry: ContainerEntry {
                id,
                friendly_name,
                version: manifest.version.clone(),
                runtime: manifest.runtime.to_string(),
                create_args: manifest.create_args.clone(),
                autostart: defaults.autostart,
                monitor: defaults.monitor,
                restart: defaults.restart.clone(),
            },
            args,
            old,
            _guard: guard,
        });
        Ok(())
    }
}

impl<'d> PayloadSink for InstallSink<'d> {
    fn open(
        &mut self,
        manifest: &Manifest,
        _name: &str,
        size: u64,
    ) -> Result<Box<dyn Write>, String> {
        if let Err(e) = self.prepare(manifest, size) {
            let line = e.to_string();
            self.refusal = Some(e);
            return Err(line);
        }
        let (tx, mut rx) = channel(16);
        let podman = Arc::clone(&self.daemon.podman);
        let staging = self.staging.clone();
        let label = format!("{}-{}", self.daemon.home_tag(), manifest.id());
        let lxc = manifest.runtime == PkgRuntime::Lxc;
        self.loader = Some(std::thread::spawn(move || {
            let result = if lxc {
                berth_runtime::lxc::unpack_bundle(&mut rx, &staging.join("bundle"))
                    .map(Loaded::Bundle)
            } else {
                podman
                    .load_stream(&mut rx, &staging, &label)
                    .map(Loaded::Images)
            };
            // Whatever the loader left unread (the archive's padding, or everything
            // after a failure) is drained, so the package reader never blocks.
            drain(&mut rx);
            result
        }));
        Ok(Box::new(ChannelWriter(tx)))
    }
}

fn drain(rx: &mut ChannelReader) {
    let _ = io::copy(rx, &mut io::sink());
}

/// The writing end of a `pipe::channel`.
struct ChannelWriter(SyncSender<Chunk>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .send(Ok(buf.to_vec()))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the loader stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
