//! The image driver: a payload that is an image archive (docker-archive or
//! oci-archive) streamed into an engine's image store, run as a container created
//! from it, by podman or Docker Engine.
//!
//! Crash ordering (docs/recovery.md): the container carries `berth.id`,
//! `berth.version` and `berth.home` labels; state.json gets the install's record
//! (with the images an upgrade replaces) before containers.conf commits to the new
//! version; the new images lose their transient names only after that commit. So
//! whatever kills berthd, `recover` can tell a finished install from an unfinished
//! one.

use super::create_args::{run_name, with_image, with_name};
use super::disk;
use super::image_previous;
use super::{
    Driver, Plan, Registered, Staged, PREVIOUS_SUFFIX, ROLLED_BACK_SUFFIX, UPGRADE_SUFFIX,
};
use crate::error::{error_chain, runtime, OpError};
use crate::home::{Home, LABEL_HOME, LABEL_ID, LABEL_VERSION};
use crate::state::{ContainerRecord, Previous};
use berth_api::Installed;
use berth_package::{Manifest, RuntimeKind};
use berth_runtime::{split_create_args, ImageRuntime, LoadedImage, Runtime, RuntimeError};
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a replaced container gets to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub struct ImageDriver {
    kind: RuntimeKind,
    engine: Arc<dyn ImageRuntime>,
}

impl ImageDriver {
    pub fn new(kind: RuntimeKind, engine: Arc<dyn ImageRuntime>) -> Self {
        ImageDriver { kind, engine }
    }
}

impl Driver for ImageDriver {
    fn kind(&self) -> RuntimeKind {
        self.kind
    }

    fn runtime(&self) -> &dyn Runtime {
        self.engine.as_ref()
    }

    /// The engine's export of the installed images: their layers come back as the
    /// uncompressed tars whose SHA-256 is their diff_id.
    fn delta_base(
        &self,
        home: &Home,
        id: &str,
        staging: &Path,
    ) -> Result<Box<dyn berth_package::delta::Base>, OpError> {
        let images = home.record(id).map(|r| r.images).unwrap_or_default();
        if images.is_empty() {
            return Err(OpError::Package(format!(
                "{id}: no record of its images, which a delta is rebuilt from; install the full package"
            )));
        }
        let path = staging.join("delta-base.tar");
        self.engine
            .save_images(&images, &path)
            .map_err(runtime(format!("exporting the images of {id}")))?;
        let io = |source| OpError::Io {
            context: format!("indexing {}", path.display()),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        // Unlinked at once: the open file is all the index needs, and a crash leaves
        // nothing behind.
        let _ = std::fs::remove_file(&path);
        let base = berth_package::delta::ArchiveBase::index(file).map_err(io)?;
        Ok(Box::new(base))
    }

    fn create_args(&self, manifest: &Manifest) -> Result<Vec<String>, OpError> {
        split_create_args(manifest.create_args.as_deref().unwrap_or_default())
            .map_err(|e| OpError::Package(format!("manifest.json: {e}")))
    }

    /// Space for a load of `payload_size` bytes: the engine's storage grows by about
    /// the image's size, and its temporary copy of the layer it is storing (at most
    /// the image's size) is in the staging directory.
    fn check_disk(&self, home: &Home, id: &str, payload_size: u64) -> Result<(), OpError> {
        let staging = home.working_path().to_path_buf();
        let storage = self.engine.storage_root().map_err(runtime(format!(
            "asking {} where it stores images",
            self.engine.name()
        )))?;
        let storage = disk::existing_ancestor(&storage);
        let needs = if disk::same_filesystem(&staging, &storage) {
            vec![(staging, disk::need_with_margin(payload_size, 2))]
        } else {
            vec![
                (staging, disk::need_with_margin(payload_size, 1)),
                (storage, disk::need_with_margin(payload_size, 1)),
            ]
        };
        let what = format!("{} MiB image", payload_size >> 20);
        disk::check(&needs, id, &what)
    }

    fn stage(
        &self,
        input: &mut dyn Read,
        staging: &Path,
        label: &str,
    ) -> Result<Box<dyn Staged>, RuntimeError> {
        let images = self.engine.load_stream(input, staging, label)?;
        Ok(Box::new(StagedImages {
            engine: Arc::clone(&self.engine),
            images,
        }))
    }

    fn recover(&self, home: &Home, registered: Registered<'_>) -> Vec<String> {
        self.recover_containers(home, registered)
    }

    fn sweep(&self, home: &Home, registered: Registered<'_>) -> Vec<String> {
        sweep_images(self.engine.as_ref(), home, registered)
    }

    fn swap_in_previous(&self, _home: &Home, id: &str) -> Result<(), OpError> {
        image_previous::swap_in_previous(self.engine.as_ref(), id)
    }

    fn drop_rolled_back(&self, home: &Home, id: &str) {
        image_previous::drop_rolled_back(self.engine.as_ref(), home, id)
    }

    fn drop_previous(&self, home: &Home, id: &str, _previous: &Previous) {
        image_previous::drop_previous(self.engine.as_ref(), home, id)
    }

    fn previous_bytes(&self, home: &Home, _id: &str, previous: &Previous) -> u64 {
        let current: Vec<String> = home
            .state()
            .containers
            .values()
            .flat_map(|r| r.images.clone())
            .collect();
        previous
            .images
            .iter()
            .filter(|i| !current.contains(i))
            .filter_map(|i| self.engine.image_size(i).ok())
            .sum()
    }

    fn remove_leftovers(&self, home: &Home, id: &str) -> Result<(), OpError> {
        let rt = self.engine.as_ref();
        let mut images = match rt.state(id) {
            Ok(s) => s.image.into_iter().collect::<Vec<_>>(),
            Err(RuntimeError::NoSuchContainer(_)) => Vec::new(),
            Err(e) => return Err(runtime(format!("uninstalling {id}"))(e)),
        };
        if let Some(r) = home.record(id) {
            let kept = r.previous.map(|p| p.images).unwrap_or_default();
            for image in r.images.into_iter().chain(r.replaced_images).chain(kept) {
                if !images.contains(&image) {
                    images.push(image);
                }
            }
        }
        for name in [
            format!("{id}{PREVIOUS_SUFFIX}"),
            format!("{id}{ROLLED_BACK_SUFFIX}"),
        ] {
            if let Ok(s) = rt.state(&name) {
                images.extend(s.image);
                let _ = rt.remove(&name);
            }
        }
        match rt.remove(id) {
            Ok(()) | Err(RuntimeError::NoSuchContainer(_)) => {}
            Err(e) => return Err(runtime(format!("removing container {id}"))(e)),
        }
        for image in images {
            // Refused while another container uses it: then it stays, rightly.
            let _ = self.engine.remove_image(&image);
        }
        Ok(())
    }
}

/// Images loaded for an install, still under their transient names.
struct StagedImages {
    engine: Arc<dyn ImageRuntime>,
    images: Vec<LoadedImage>,
}

impl Staged for StagedImages {
    fn discard(self: Box<Self>) {
        for image in self.images.iter().filter(|i| i.new) {
            let _ = self.engine.discard_image(&image.all_names());
        }
    }

    /// Creates the container, records it, starts it; for an upgrade, swaps it with
    /// the old one only once the new one is created (and, if the old one ran,
    /// started).
    fn commit(
        self: Box<Self>,
        home: &Home,
        plan: &Plan,
        digest: &str,
    ) -> Result<Installed, OpError> {
        match self.create_and_register(home, plan, digest) {
            Ok(done) => Ok(done),
            Err(e) => {
                self.discard();
                Err(e)
            }
        }
    }
}

impl StagedImages {
    fn create_and_register(
        &self,
        home: &Home,
        plan: &Plan,
        digest: &str,
    ) -> Result<Installed, OpError> {
        let rt = self.engine.as_ref();
        let id = &plan.entry.id;
        let image_names: Vec<String> = self.images.iter().map(run_name).collect();
        let wp = home.working_path();
        let _ = std::fs::create_dir_all(crate::container_log::dir(wp));
        let mut args = vec![
            "--label".to_string(),
            format!("{LABEL_HOME}={}", wp.display()),
            "--label".to_string(),
            format!("{LABEL_ID}={id}"),
            "--label".into(),
            format!("{LABEL_VERSION}={}", plan.entry.version),
        ];
        args.extend(self.engine.log_options(
            &crate::container_log::path(wp, id),
            crate::container_log::CONMON_CAP,
        ));
        // berthd runs the checks (the same way on every runtime): the engine's own
        // (an image's HEALTHCHECK) would run them twice, and podman's need systemd.
        if !plan.args.iter().any(|a| a.starts_with("--health")) {
            args.push("--no-healthcheck".into());
        }
        // Without a check of its own, the package gets its image's HEALTHCHECK.
        let mut entry = plan.entry.clone();
        if entry.health.is_none() {
            entry.health = self
                .images
                .iter()
                .find_map(|i| self.engine.image_healthcheck(&i.id).ok().flatten())
                .and_then(|hc| crate::health::from_image(&hc));
        }
        args.extend(
            with_image(&plan.args, &self.images).ok_or_else(|| {
                OpError::Package("payload: the image archive holds no image".into())
            })?,
        );
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
            rt.stop(id, STOP_GRACE)
                .map_err(|e| undo(runtime(format!("stopping the old {id}"))(e)))?;
        }
        if start_new {
            rt.start(&new_name)
                .map_err(|e| undo(runtime(format!("starting {id}"))(e)))?;
        }
        let old_record = home.record(id);
        let old_images: Vec<String> = old_state
            .as_ref()
            .and_then(|s| s.image.clone())
            .into_iter()
            .collect();
        let kept = old_state
            .as_ref()
            .and_then(|_| plan.previous(old_record.as_ref(), old_images.clone()));
        let new_images: Vec<String> = self.images.iter().map(|i| i.id.clone()).collect();
        // Images no version uses any more: the old one's unless it is kept, and those
        // of the version kept before (the old one takes its place).
        let mut replaced_images: Vec<String> = if kept.is_some() {
            Vec::new()
        } else {
            old_images.clone()
        };
        if let Some(p) = old_record.as_ref().and_then(|r| r.previous.as_ref()) {
            replaced_images.extend(p.images.iter().cloned());
        }
        let still_used =
            |i: &String| new_images.contains(i) || (kept.is_some() && old_images.contains(i));
        replaced_images.retain(|i| !still_used(i));
        replaced_images.dedup();
        let previous = home.put_record(
            id,
            ContainerRecord {
                images: new_images,
                replaced_images,
                ..plan.record(digest, if start_new { "running" } else { "created" }, kept)
            },
        );
        if let Err(e) = home.register(&entry) {
            home.restore_record(id, previous);
            return Err(undo(e));
        }
        // Committed: the new version is registered (and running if it should be).
        finish_upgrade(
            self.engine.as_ref(),
            home,
            id,
            self.images
                .iter()
                .filter_map(|i| i.transient_name.as_ref().map(|n| (i.id.clone(), n.clone()))),
        );
        Ok(plan.installed(image_names, start_new))
    }
}

/// The steps after an install's commit, also run by recovery after a crash: the
/// upgraded container into place, the replaced images and the transient names gone.
fn finish_upgrade(
    engine: &dyn ImageRuntime,
    home: &Home,
    id: &str,
    transient: impl Iterator<Item = (String, String)>,
) {
    let new_name = format!("{id}{UPGRADE_SUFFIX}");
    if engine.state(&new_name).is_ok() {
        super::image_previous::set_aside_or_remove(engine, home, id);
        if let Err(e) = engine.rename(&new_name, id) {
            crate::daemon_log::error(format!(
                "{id}: renaming the upgraded container into place: {e}"
            ));
        }
    }
    super::image_previous::remove_replaced_images(engine, home, id);
    for (image, name) in transient {
        let _ = engine.untag(&image, &name);
    }
}

impl ImageDriver {
    /// Recovery of containers: this berthd's (by label) that no registration owns
    /// are removed; an upgrade's new container is put in place if the upgrade
    /// committed, else removed; a committed upgrade's replaced images go.
    fn recover_containers(&self, home: &Home, registered: Registered<'_>) -> Vec<String> {
        let engine = self.engine.as_ref();
        let mut done = Vec::new();
        let Ok(all) = engine.list() else {
            done.push(format!(
                "error: cannot list {}'s containers; recovery skipped",
                engine.name()
            ));
            return done;
        };
        let wp = home.working_path().display().to_string();
        for c in &all {
            if c.labels.get(LABEL_HOME) != Some(&wp) {
                continue; // another berthd's, or not berthd's at all
            }
            let Some(owner) = c.labels.get(LABEL_ID) else {
                continue;
            };
            let version = c.labels.get(LABEL_VERSION);
            if c.id == *owner {
                if registered(owner).is_none() {
                    // Created by an install that never committed, or left by an
                    // uninstall that did.
                    match self.remove_leftovers(home, owner) {
                        Ok(()) => {
                            super::forget(home, owner);
                            done.push(format!(
                            "{owner}: removed, not registered (an interrupted install or uninstall)"
                        ))
                        }
                        Err(e) => done.push(format!("error: {owner}: {}", error_chain(&e))),
                    }
                }
            } else if c.id == format!("{owner}{PREVIOUS_SUFFIX}")
                || c.id == format!("{owner}{ROLLED_BACK_SUFFIX}")
            {
                done.extend(super::image_previous::recover_aside(
                    engine,
                    home,
                    c,
                    owner,
                    registered(owner),
                ));
            } else if c.id == format!("{owner}{UPGRADE_SUFFIX}") {
                if registered(owner).as_ref() == version {
                    finish_upgrade(engine, home, owner, std::iter::empty());
                    done.push(format!(
                        "{owner}: finished the upgrade to {}",
                        version.map_or("?", |v| v)
                    ));
                } else {
                    let _ = engine.remove(&c.id);
                    done.push(format!("{owner}: undid an interrupted upgrade"));
                }
            }
        }
        for (id, record) in home.state().containers {
            if !record.replaced_images.is_empty() && registered(&id) == record.version {
                // An upgrade committed but not finished: replaced images to remove.
                finish_upgrade(engine, home, &id, std::iter::empty());
            }
        }
        done
    }
}

/// Recovery's last step: containers a killed `create` left in storage only, then
/// images still under one of this berthd's transient names — committed if a
/// registered container runs them (then the name goes), else an install that did
/// not finish (the image goes).
fn sweep_images(engine: &dyn ImageRuntime, home: &Home, registered: Registered<'_>) -> Vec<String> {
    let mut done = Vec::new();
    let used: HashSet<String> = engine
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| {
            c.labels
                .get(LABEL_ID)
                .is_some_and(|o| registered(o).is_some())
        })
        .filter_map(|c| c.image)
        .collect();
    // The image listing can fail while another process removes an image: retry.
    let images = (0..3)
        .find_map(|attempt| {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(300));
            }
            engine.images().ok()
        })
        .unwrap_or_default();
    let ours = format!("/berth-load/{}-", home.tag());
    let is_ours =
        |n: &String| berth_runtime::stream_load::is_transient_name(n) && n.contains(&ours);
    // A `podman create` killed half-way leaves a container in storage only: not
    // listed, not labelled, but holding its name and its image. Ours when its
    // image has one of our transient names or its name is one of our ids'.
    let recorded = home.state().containers;
    let our_name = |name: &str| {
        let id = name.strip_suffix(UPGRADE_SUFFIX).unwrap_or(name);
        registered(id).is_some() || recorded.contains_key(id)
    };
    let transient_images: HashSet<&String> = images
        .iter()
        .filter(|(_, names)| names.iter().any(is_ours))
        .map(|(image, _)| image)
        .collect();
    for c in engine.storage_only().unwrap_or_default() {
        let by_image = c
            .image
            .as_ref()
            .is_some_and(|i| transient_images.contains(i));
        if (by_image || our_name(&c.id)) && engine.remove(&c.id).is_ok() {
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
                let _ = engine.untag(image, n);
            }
        } else if engine.discard_image(names).is_ok() {
            done.push(format!(
                "removed image {} of an interrupted install",
                &image[..12.min(image.len())]
            ));
        }
    }
    done
}
