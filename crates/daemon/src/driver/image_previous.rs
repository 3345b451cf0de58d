//! The image driver's previous versions (docs/recovery.md): an upgrade's replaced
//! container kept stopped as `<id>.berth-prev` with its images, swapped back in by a
//! rollback (the current one waits as `<id>.berth-rolledback` until the rollback
//! commits), and what recovery does with either name after a crash. Containers
//! carry their version in the `berth.version` label; containers.conf's registered
//! version says which one is current, the record's `previous` which one is kept.

use super::{PREVIOUS_SUFFIX, ROLLED_BACK_SUFFIX};
use crate::error::{runtime, OpError};
use crate::home::{Home, LABEL_VERSION};
use berth_runtime::{ContainerState, ImageRuntime, RuntimeError};

fn version_of(engine: &dyn ImageRuntime, name: &str) -> Option<String> {
    engine
        .state(name)
        .ok()
        .and_then(|s| s.labels.get(LABEL_VERSION).cloned())
}

/// An upgrade's finish: the replaced container `id` becomes `<id>.berth-prev` when
/// the record keeps it (the one kept before goes), else it is removed.
pub fn set_aside_or_remove(engine: &dyn ImageRuntime, home: &Home, id: &str) {
    let kept = home.record(id).and_then(|r| r.previous).map(|p| p.version);
    if kept.is_some() && kept == version_of(engine, id) {
        let prev = format!("{id}{PREVIOUS_SUFFIX}");
        let _ = engine.remove(&prev);
        if let Err(e) = engine.rename(id, &prev) {
            crate::daemon_log::error(format!("{id}: keeping the replaced version: {e}"));
        }
    } else {
        let _ = engine.remove(id);
    }
}

/// A rollback's swap (both stopped): `id` → `<id>.berth-rolledback`, then
/// `<id>.berth-prev` → `id`; the first rename is undone if the second fails.
pub fn swap_in_previous(engine: &dyn ImageRuntime, id: &str) -> Result<(), OpError> {
    let prev = format!("{id}{PREVIOUS_SUFFIX}");
    let aside = format!("{id}{ROLLED_BACK_SUFFIX}");
    match engine.state(&prev) {
        Ok(_) => {}
        Err(RuntimeError::NoSuchContainer(_)) => {
            return Err(OpError::BadRequest(format!(
                "{id}: the previous version's container {prev} is gone: nothing to roll back to"
            )))
        }
        Err(e) => return Err(runtime(format!("looking for {prev}"))(e)),
    }
    let _ = engine.remove(&aside);
    engine
        .rename(id, &aside)
        .map_err(runtime(format!("moving {id} aside")))?;
    if let Err(e) = engine.rename(&prev, id) {
        let _ = engine.rename(&aside, id);
        return Err(runtime(format!(
            "putting the previous version of {id} in place"
        ))(e));
    }
    Ok(())
}

/// After a rollback's commit: the rolled-back container and its image, then the
/// images the record lists as replaced (an image a container still uses is refused,
/// and stays).
pub fn drop_rolled_back(engine: &dyn ImageRuntime, home: &Home, id: &str) {
    let name = format!("{id}{ROLLED_BACK_SUFFIX}");
    let image = engine.state(&name).ok().and_then(|s| s.image);
    let _ = engine.remove(&name);
    if let Some(image) = image {
        let _ = engine.remove_image(&image);
    }
    remove_replaced_images(engine, home, id);
}

/// Removes the images `id`'s record lists as replaced (refused while another
/// container uses one: then it stays, rightly), and the list.
pub fn remove_replaced_images(engine: &dyn ImageRuntime, home: &Home, id: &str) {
    let replaced = home
        .record(id)
        .map(|r| r.replaced_images)
        .unwrap_or_default();
    for image in &replaced {
        let _ = engine.remove_image(image);
    }
    if !replaced.is_empty() {
        home.update_state(|s| {
            if let Some(r) = s.containers.get_mut(id) {
                r.replaced_images.clear();
            }
        });
    }
}

/// Removes the kept previous version: its container, then the images the record
/// lists as replaced (its own among them, unless the current version uses one).
pub fn drop_previous(engine: &dyn ImageRuntime, home: &Home, id: &str) {
    let _ = engine.remove(&format!("{id}{PREVIOUS_SUFFIX}"));
    remove_replaced_images(engine, home, id);
}

/// What recovery does with a kept or rolled-back container `c` of `owner`, whose
/// registered version is `registered`. One line when it did something.
pub fn recover_aside(
    engine: &dyn ImageRuntime,
    home: &Home,
    c: &ContainerState,
    owner: &str,
    registered: Option<String>,
) -> Option<String> {
    let version = c.labels.get(LABEL_VERSION).cloned();
    let record = home.record(owner);
    let kept = record
        .as_ref()
        .and_then(|r| r.previous.as_ref())
        .map(|p| p.version.clone());
    if c.id == format!("{owner}{PREVIOUS_SUFFIX}") {
        if registered.is_some() && version == kept && registered != version {
            return None; // kept for a rollback, as the record says
        }
        let _ = engine.remove(&c.id);
        if let Some(image) = &c.image {
            let _ = engine.remove_image(image);
        }
        return Some(format!(
            "{owner}: removed a previous version no longer kept"
        ));
    }
    // <owner>.berth-rolledback
    if registered.is_some() && registered == version {
        // The rollback did not commit: the current version goes back in place.
        match version_of(engine, owner) {
            Some(v) if Some(&v) == kept.as_ref() => {
                if let Err(e) = engine.rename(owner, &format!("{owner}{PREVIOUS_SUFFIX}")) {
                    return Some(format!(
                        "error: {owner}: undoing an interrupted rollback: {e}"
                    ));
                }
            }
            Some(_) => {
                let _ = engine.remove(owner);
            }
            None => {}
        }
        return match engine.rename(&c.id, owner) {
            Ok(()) => Some(format!("{owner}: undid an interrupted rollback")),
            Err(e) => Some(format!(
                "error: {owner}: undoing an interrupted rollback: {e}"
            )),
        };
    }
    drop_rolled_back(engine, home, owner);
    Some(format!("{owner}: finished an interrupted rollback"))
}
