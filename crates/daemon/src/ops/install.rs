//! install (and upgrade): what every runtime shares. The package streams through
//! the reader, which checks checksums, manifest and signature before the payload;
//! when the payload begins the install is planned (lock, registration, create
//! arguments, free disk) and the payload streams into the runtime's driver on a
//! thread of its own while the reader hashes it. Only a payload whose digest
//! matched is committed; anything else is discarded.

use crate::daemon::{Daemon, IdGuard};
use crate::driver::{Driver, Plan, Staged};
use crate::error::{io, runtime, OpError};
use crate::store::ContainerEntry;
use berth_api::Installed;
use berth_format::stream::{channel, ChannelReader, Chunk};
use berth_package::delta::{Base, DeltaBase};
use berth_package::{read_package_into, Manifest, PayloadSink, ReadError, ReadOptions, SinkError};
use berth_runtime::RuntimeError;
use serde_json::Value;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;

type StageResult = Result<Box<dyn Staged>, RuntimeError>;

impl Daemon {
    /// Installs a package read from `body`: see docs/api.md. `force` replaces the
    /// same version.
    pub fn install(
        &self,
        body: impl Read + Send + 'static,
        force: bool,
    ) -> Result<Installed, OpError> {
        self.install_signed(body, force, Vec::new(), None)
    }

    /// `install`, with a signature that came beside the package (a registry's
    /// signature referrer), used when the package holds none; registered to follow
    /// `follow` (a registry tag) when given, else following what the version it
    /// replaces followed.
    pub fn install_signed(
        &self,
        body: impl Read + Send + 'static,
        force: bool,
        detached_signatures: Vec<Vec<u8>>,
        follow: Option<String>,
    ) -> Result<Installed, OpError> {
        self.install_fetching(body, force, detached_signatures, follow, None)
    }

    /// `install_signed` of a package's head (a registry's parts), whose left-out
    /// parts come from the installed version or, failing that, from `fetch`.
    pub(crate) fn install_fetching(
        &self,
        body: impl Read + Send + 'static,
        force: bool,
        detached_signatures: Vec<Vec<u8>>,
        follow: Option<String>,
        fetch: Option<Box<dyn Fetch>>,
    ) -> Result<Installed, OpError> {
        let result = self.install_stream(body, force, detached_signatures, follow, fetch);
        // The install's buffers are freed; their pages go back to the device.
        crate::memory::release_free_memory();
        result
    }

    fn install_stream(
        &self,
        body: impl Read + Send + 'static,
        force: bool,
        detached_signatures: Vec<Vec<u8>>,
        follow: Option<String>,
        fetch: Option<Box<dyn Fetch>>,
    ) -> Result<Installed, OpError> {
        let staging_root = self.home.staging_root();
        std::fs::create_dir_all(&staging_root)
            .map_err(io(format!("creating {}", staging_root.display())))?;
        let staging = tempfile::Builder::new()
            .prefix("install-")
            .tempdir_in(&staging_root)
            .map_err(io(format!(
                "creating a directory in {}",
                staging_root.display()
            )))?;
        let mut sink = InstallSink {
            daemon: self,
            force,
            follow,
            staging: staging.path().to_path_buf(),
            planned: None,
            driver: None,
            fetch,
            loader: None,
        };
        let opts = ReadOptions {
            trusted_keys: self.trusted_keys.clone(),
            allow_unsigned: !self.config().trust.require_signature,
            detached_signatures,
            ..Default::default()
        };
        let read = read_package_into(body, &opts, Some(&mut sink));
        let staged = sink.loader.take().map(|l| {
            l.join().unwrap_or_else(|_| {
                Err(RuntimeError::Output {
                    runtime: "berthd",
                    what: "staging the payload".into(),
                    why: "the loader thread panicked".into(),
                })
            })
        });
        let planned = sink.planned.take();
        match (read, staged) {
            (Err(e), staged) => {
                if let Some(Ok(staged)) = staged {
                    staged.discard();
                }
                Err(match e {
                    ReadError::Invalid(p) => OpError::Package(p.to_string()),
                    ReadError::Io(source) => OpError::Io {
                        context: "reading the package".into(),
                        source,
                    },
                    ReadError::Refused(why) => match why.downcast::<OpError>() {
                        Ok(refusal) => *refusal,
                        Err(other) => OpError::Package(other.to_string()),
                    },
                })
            }
            (Ok(_), None) => Err(OpError::Package("the package has no payload".into())),
            (Ok(_), Some(Err(e))) => Err(match e {
                RuntimeError::Archive(why) => OpError::Package(format!("payload: {why}")),
                e => runtime("loading the payload")(e),
            }),
            (Ok(report), Some(Ok(staged))) => {
                let (plan, _guard) = planned.expect("a payload was opened");
                // The old container's exit during an upgrade is not a crash.
                self.manual(&plan.entry.id, false);
                let mut result = staged.commit(&self.home, &plan, &report.payload.digest);
                if let Ok(done) = &mut result {
                    self.manual(&done.id, done.started);
                    if done.started {
                        self.seen_running(&done.id);
                    }
                    if plan.old.is_some() {
                        self.container_replaced(&done.id);
                        if done.started && plan.probation > 0 {
                            self.begin_probation(&done.id, plan.probation);
                            done.probation_until = self
                                .home
                                .record(&done.id)
                                .as_ref()
                                .and_then(crate::ops::probation::until_text);
                        } else if !self.config().updates.keep_previous {
                            self.drop_previous(&done.id);
                        }
                    }
                }
                result
            }
        }
    }

    /// Decides what an install of `manifest` will do, before a byte of the payload
    /// is written: its lock taken, the version checked against the registered one,
    /// the create arguments checked, free disk checked.
    fn plan(
        &self,
        manifest: &Manifest,
        size: u64,
        force: bool,
        follow: Option<String>,
    ) -> Result<(Plan, IdGuard<'_>, Arc<dyn Driver>), OpError> {
        let id = manifest.id().to_string();
        crate::compat::check(&self.config().device, manifest).map_err(OpError::Incompatible)?;
        let driver = Arc::clone(self.driver(manifest.runtime)?);
        let guard = self.lock(&id);
        let old = self
            .home
            .containers()?
            .containers
            .into_iter()
            .find(|e| e.id == id);
        if let Some(old) = &old {
            if old.version == manifest.version && !force {
                return Err(OpError::AlreadyInstalled {
                    id,
                    version: old.version.clone(),
                });
            }
        }
        let args = driver.create_args(manifest)?;
        if let Some(name) = berth_runtime::name_arg(&args).filter(|n| *n != id) {
            return Err(OpError::Package(format!(
                "manifest.json: create_args: --name {name} differs from the package id {id} (berthd names the container by its id)"
            )));
        }
        driver.check_disk(&self.home, &id, size)?;
        let defaults = &manifest.registration_defaults;
        let friendly_name = manifest
            .json
            .get("friendly_name")
            .and_then(Value::as_str)
            .or(manifest.name.as_deref())
            .unwrap_or(&id)
            .to_string();
        let plan = Plan {
            entry: ContainerEntry {
                id,
                friendly_name,
                version: manifest.version.clone(),
                version_number: None,
                runtime: manifest.runtime.to_string(),
                create_args: manifest.create_args.clone(),
                autostart: defaults.autostart,
                monitor: defaults.monitor,
                restart: defaults.restart.clone(),
                health: defaults.health.clone(),
                follow: follow.or_else(|| old.as_ref().and_then(|o| o.follow.clone())),
            },
            args,
            // An upgrade that starts keeps the old version for its probation.
            keep_previous: old.is_some()
                && (defaults.probation > 0 || self.config().updates.keep_previous),
            probation: defaults.probation,
            old,
        };
        Ok((plan, guard, driver))
    }
}

/// Receives the payload: plans the install when it begins, then streams it into
/// the driver on a thread of its own.
struct InstallSink<'d> {
    daemon: &'d Daemon,
    force: bool,
    follow: Option<String>,
    staging: PathBuf,
    planned: Option<(Plan, IdGuard<'d>)>,
    driver: Option<Arc<dyn Driver>>,
    fetch: Option<Box<dyn Fetch>>,
    loader: Option<JoinHandle<StageResult>>,
}

impl PayloadSink for InstallSink<'_> {
    fn open(
        &mut self,
        manifest: &Manifest,
        _name: &str,
        size: u64,
        _listed_digest: Option<&str>,
    ) -> Result<Box<dyn Write>, SinkError> {
        let (plan, guard, driver) =
            self.daemon
                .plan(manifest, size, self.force, self.follow.take())?;
        self.planned = Some((plan, guard));
        self.driver = Some(Arc::clone(&driver));
        let (tx, mut rx) = channel(16);
        let staging = self.staging.clone();
        let label = format!("{}-{}", self.daemon.home.tag(), manifest.id());
        self.loader = Some(std::thread::spawn(move || {
            let result = driver.stage(&mut rx, &staging, &label);
            // Whatever the driver left unread (the archive's padding, or everything
            // after a failure) is drained, so the package reader never blocks.
            drain(&mut rx);
            result
        }));
        Ok(Box::new(ChannelWriter(tx)))
    }

    fn delta_base(
        &mut self,
        manifest: &Manifest,
        base: &DeltaBase,
    ) -> Result<Box<dyn Base>, SinkError> {
        Ok(self.base_for(manifest, base)?)
    }
}

/// Parts of a package a registry holds, by digest: what a parts install fetches.
pub trait Fetch: Send {
    /// `size` bytes whose SHA-256 is `digest` (the caller checks it).
    fn open(&self, digest: &str, size: u64) -> io::Result<Box<dyn Read>>;
}

/// The installed version's content first, the registry's for what it lacks.
struct FetchingBase {
    id: String,
    local: Option<Box<dyn Base>>,
    fetch: Box<dyn Fetch>,
    /// Bytes (and layers) taken from the installed version, and fetched.
    reused: (u64, u32),
    fetched: (u64, u32),
}

impl Base for FetchingBase {
    fn open(&mut self, digest: &str, size: u64, path: Option<&str>) -> io::Result<Box<dyn Read>> {
        if let Some(local) = self.local.as_mut() {
            // A file found by its path may have changed: only what still has its
            // digest is taken, the rest fetched.
            let holds = local.by_content() || local_digest(local.as_mut(), digest, size, path);
            if holds {
                match local.open(digest, size, path) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    found => {
                        self.reused = (self.reused.0 + size, self.reused.1 + 1);
                        return found;
                    }
                }
            }
        }
        self.fetched = (self.fetched.0 + size, self.fetched.1 + 1);
        self.fetch.open(digest, size)
    }
}

/// Whether `base` gives `size` bytes whose SHA-256 is `digest` for `path`.
fn local_digest(base: &mut dyn Base, digest: &str, size: u64, path: Option<&str>) -> bool {
    use sha2::Digest as _;
    let Ok(mut r) = base.open(digest, size, path) else {
        return false;
    };
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(_) => return false,
        }
    }
    format!("sha256:{}", hex::encode(hasher.finalize())) == digest
}

impl Drop for FetchingBase {
    /// What the parts saved, in the log (the fleet bench reads the registry's side).
    fn drop(&mut self) {
        crate::daemon_log::info(format!(
            "{}: from the registry's parts: fetched {} ({} bytes), reused {} ({} bytes) of the installed version",
            self.id, self.fetched.1, self.fetched.0, self.reused.1, self.reused.0
        ));
    }
}

impl InstallSink<'_> {
    fn base_for(
        &mut self,
        manifest: &Manifest,
        base: &DeltaBase,
    ) -> Result<Box<dyn Base>, OpError> {
        let (Some((plan, _)), Some(driver)) = (&self.planned, &self.driver) else {
            return Err(OpError::Package("a delta payload before its plan".into()));
        };
        if base.version.is_empty() {
            // A registry's parts head: any installed version helps.
            let Some(fetch) = self.fetch.take() else {
                return Err(OpError::Package(format!(
                    "{}: a package head (its image layers left out) comes only from a registry",
                    manifest.id()
                )));
            };
            let local = match &plan.old {
                Some(_) => match driver.delta_base(&self.daemon.home, manifest.id(), &self.staging)
                {
                    Ok(b) => Some(b),
                    Err(e) => {
                        crate::daemon_log::warn(format!(
                            "{}: fetching every layer: {}",
                            manifest.id(),
                            crate::error::error_chain(&e)
                        ));
                        None
                    }
                },
                None => None,
            };
            return Ok(Box::new(FetchingBase {
                id: manifest.id().to_string(),
                local,
                fetch,
                reused: (0, 0),
                fetched: (0, 0),
            }));
        }
        let installed = plan.old.as_ref().map(|o| o.version.as_str());
        if installed != Some(base.version.as_str()) {
            return Err(OpError::Package(format!(
                "{} {} is a delta from version {}, which this device {}; install the full package",
                manifest.id(),
                manifest.version,
                base.version,
                match installed {
                    Some(v) => format!("does not have (it has {v})"),
                    None => "does not have (nothing installed)".into(),
                }
            )));
        }
        driver.delta_base(&self.daemon.home, manifest.id(), &self.staging)
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
