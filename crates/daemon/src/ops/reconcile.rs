//! At berthd's start, after recovery: registered containers are adopted, started
//! (autostart) or reported.

use crate::daemon::Daemon;
use berth_runtime::{Runtime, RuntimeError};
use std::time::Duration;

/// Starts `id` at berthd's start, trying twice more a second apart: right after a
/// crash podman may still be cleaning up half-written storage, and fail a start that
/// works a moment later.
fn start_retrying(rt: &dyn Runtime, id: &str) -> Result<(), RuntimeError> {
    let mut attempt = 0;
    loop {
        match rt.start(id) {
            Err(e) if attempt < 2 && !matches!(e, RuntimeError::NoSuchContainer(_)) => {
                crate::daemon_log::warn(format!("{id}: autostart failed ({e}); trying again"));
                attempt += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}

impl Daemon {
    /// At start-up: starts every registered container whose autostart is true and
    /// is not running, and reports containers the runtime no longer has (they stay
    /// registered: uninstall removes them). Returns one line per thing done or found.
    pub fn reconcile(&self) -> Vec<String> {
        let conf = match self.home.containers() {
            Ok(c) => c,
            Err(e) => return vec![format!("error: {e}")],
        };
        let mut lines = Vec::new();
        let mut seen: Vec<(String, String)> = Vec::new();
        for entry in &conf.containers {
            let _g = self.lock(&entry.id);
            let rt = match self.driver_for(entry).map(|d| d.runtime()) {
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
                Ok(s) if s.running => {
                    self.seen_running(&entry.id);
                    lines.push(format!("{}: running, adopted", entry.id))
                }
                Ok(_) if entry.autostart => match self.budget_spent(entry) {
                    Some(reason) => lines.push(format!(
                        "{}: failed, not started: its restart budget is spent ({reason}); `berthctl start {}` starts it",
                        entry.id, entry.id
                    )),
                    None => match start_retrying(rt, &entry.id) {
                    Ok(()) => {
                        self.seen_running(&entry.id);
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
        self.home.update_state(|s| {
            // Records of containers no longer registered are dropped.
            s.containers
                .retain(|id, _| conf.containers.iter().any(|e| e.id == *id));
            for (id, status) in seen {
                s.containers.entry(id).or_default().last_status = Some(status);
            }
        });
        lines
    }
}
