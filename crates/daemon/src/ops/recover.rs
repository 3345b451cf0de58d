//! After a crash, before anything else: finishes or undoes what was under way
//! (docs/recovery.md). The steps every runtime shares are here; each driver
//! recovers its own payload kind.

use crate::daemon::Daemon;
use crate::error::error_chain;
use std::collections::BTreeMap;

impl Daemon {
    /// Returns one line per thing done (`error: ` / `warning: ` prefixed when so).
    pub fn recover(&self) -> Vec<String> {
        let mut done = Vec::new();
        // The event streams first: they never end by themselves, and the other
        // commands get a grace period to.
        for driver in self.drivers() {
            crate::supervise::end_stale_event_stream(self, driver.kind().as_str());
        }
        crate::supervise::end_orphaned_commands(self);
        crate::supervise::lead_process_group(self);
        // Scratch space of interrupted installs.
        if let Ok(entries) = std::fs::read_dir(self.home.staging_root()) {
            for e in entries.flatten() {
                if std::fs::remove_dir_all(e.path()).is_ok() {
                    done.push(format!(
                        "removed the scratch files of an interrupted install ({})",
                        e.path().display()
                    ));
                }
            }
        }
        let conf = match self.home.containers() {
            Ok(c) => c,
            Err(e) => return vec![format!("error: {}", error_chain(&e))],
        };
        let versions: BTreeMap<String, String> = conf
            .containers
            .iter()
            .map(|e| (e.id.clone(), e.version.clone()))
            .collect();
        let registered = |id: &str| versions.get(id).cloned();
        // A record of a version that did not commit (an upgrade, or the version a
        // rollback replaced) whose previous version is the registered one: that
        // version's record again.
        self.home.update_state(|s| {
            for (id, r) in s.containers.iter_mut() {
                let Some(v) = registered(id) else { continue };
                if r.version.as_ref() != Some(&v)
                    && r.previous.as_ref().is_some_and(|p| p.version == v)
                {
                    let previous = r.previous.clone().expect("checked");
                    *r = crate::ops::rollback::record_of_previous(r, &previous, None);
                    done.push(format!("{id}: its record is {v}'s again"));
                }
            }
        });
        for driver in self.drivers() {
            done.extend(driver.recover(&self.home, &registered));
        }
        for (id, record) in self.home.state().containers {
            if registered(&id).is_none() {
                // An uninstall that unregistered it, or an install that recorded it
                // but never committed: remove what the record says it brought.
                let runtime_name = record.runtime.as_deref().unwrap_or("podman");
                match self.remove_unregistered(&id, runtime_name) {
                    Ok(()) => done.push(format!(
                        "{id}: removed what was left of it (not registered)"
                    )),
                    Err(e) => done.push(format!("error: {id}: {}", error_chain(&e))),
                }
            }
        }
        for driver in self.drivers() {
            done.extend(driver.sweep(&self.home, &registered));
        }
        done
    }
}
