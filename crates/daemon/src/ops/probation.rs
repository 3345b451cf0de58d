//! An upgrade's probation (docs/restart-health-rollback.md, "Probation and rollback"):
//! the new version is committed only once it has run `probation` seconds without
//! exiting and, when it has a health check, is healthy at the end. Until then the
//! version it replaced is kept whole; an exit, an unhealthy verdict or a new version
//! not running or not healthy at the end rolls the upgrade back. The deadline is in
//! state.json (`probation_until`), so a probation survives a restart of berthd.

use crate::daemon::Daemon;
use crate::health::HealthStatus;
use crate::state::ContainerRecord;

/// How long after a restart of berthd a probation still runs at least: the new
/// version's health is judged afresh.
const AFTER_RESTART: f64 = 10.0;

fn epoch_to_rfc3339(t: f64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_seconds(at).to_string()
}

/// When `record`'s probation ends, for people.
pub fn until_text(record: &ContainerRecord) -> Option<String> {
    record.probation_until.map(epoch_to_rfc3339)
}

impl Daemon {
    /// Starts the probation of `id`'s upgrade: `seconds` from now.
    pub fn begin_probation(&self, id: &str, seconds: u32) {
        let until = self.clock.now() + f64::from(seconds);
        self.home.update_state(|s| {
            if let Some(r) = s.containers.get_mut(id) {
                r.probation_until = Some(until);
            }
        });
        crate::daemon_log::info(format!(
            "{id}: on probation for {seconds}s (until {})",
            epoch_to_rfc3339(until)
        ));
    }

    pub fn on_probation(&self, id: &str) -> bool {
        self.home
            .record(id)
            .is_some_and(|r| r.probation_until.is_some())
    }

    /// The new version failed its probation: rolled back, `id`'s lock held.
    pub fn fail_probation_locked(&self, id: &str, reason: &str) {
        let reason = format!("{reason} during its probation");
        if let Err(e) = self.rollback_locked(id, &reason) {
            crate::daemon_log::error(format!(
                "{id}: {reason}, and the rollback failed: {}",
                crate::error::error_chain(&e)
            ));
            // It stays the registered version: its probation is over.
            self.end_probation(id);
        }
    }

    fn end_probation(&self, id: &str) {
        self.home.update_state(|s| {
            if let Some(r) = s.containers.get_mut(id) {
                r.probation_until = None;
            }
        });
    }

    /// At start, after recovery: probations a restart of berthd interrupted run on
    /// for at least `AFTER_RESTART` seconds, judged by fresh health checks.
    pub fn resume_probations(&self) {
        let now = self.clock.now();
        let mut resumed = Vec::new();
        self.home.update_state(|s| {
            for (id, r) in s.containers.iter_mut() {
                if let Some(until) = r.probation_until.as_mut() {
                    *until = until.max(now + AFTER_RESTART);
                    r.health = None;
                    resumed.push(id.clone());
                }
            }
        });
        let mut sup = self.supervision();
        for id in resumed {
            let s = sup.entry(id).or_default();
            crate::health::watch::restart_health(s, now);
        }
    }

    /// Each second: probations whose time is up are judged.
    pub fn probation_tick(&self) {
        let now = self.clock.now();
        let due: Vec<String> = self
            .home
            .state()
            .containers
            .into_iter()
            .filter(|(_, r)| r.probation_until.is_some_and(|t| t <= now))
            .map(|(id, _)| id)
            .collect();
        for id in due {
            let _g = self.lock(&id);
            self.judge_probation_locked(&id, now);
        }
    }

    fn judge_probation_locked(&self, id: &str, now: f64) {
        let Some(until) = self.home.record(id).and_then(|r| r.probation_until) else {
            return; // decided meanwhile
        };
        let Ok(entry) = self.entry(id) else {
            return self.end_probation(id);
        };
        let Ok(driver) = self.driver_for(&entry) else {
            return;
        };
        let running = driver.runtime().state(id).is_ok_and(|s| s.running);
        if !running {
            return self.fail_probation_locked(id, "not running at the end");
        }
        if let Some(check) = &entry.health {
            let health = self.health_of(&entry).unwrap_or_default();
            match health.status {
                HealthStatus::Healthy => {}
                HealthStatus::Unhealthy => {
                    let why = format!(
                        "unhealthy ({})",
                        health.last_output.as_deref().unwrap_or_default()
                    );
                    return self.fail_probation_locked(id, &why);
                }
                HealthStatus::Starting => {
                    // No verdict yet: one more check's time, then it counts as failed.
                    let grace = f64::from(check.interval) + f64::from(check.timeout);
                    if now < until + grace {
                        return;
                    }
                    return self.fail_probation_locked(id, "without a health verdict at the end");
                }
            }
        }
        self.end_probation(id);
        crate::daemon_log::info(format!("{id}: {} passed its probation", entry.version));
        if !self.config().updates.keep_previous {
            self.drop_previous(id);
        }
    }

    /// The versions kept for a rollback, with the disk each holds (`info`).
    pub fn previous_versions(&self) -> Vec<berth_api::PreviousVersion> {
        self.home
            .state()
            .containers
            .into_iter()
            .filter_map(|(id, r)| {
                let previous = r.previous?;
                let driver = self
                    .entry(&id)
                    .and_then(|e| self.driver_for(&e).cloned())
                    .ok()?;
                Some(berth_api::PreviousVersion {
                    bytes: driver.previous_bytes(&self.home, &id, &previous),
                    version: previous.version,
                    id,
                })
            })
            .collect()
    }

    /// Removes the previous version kept for `id` (an upgrade committed with
    /// `updates.keep_previous` off).
    pub fn drop_previous(&self, id: &str) {
        let Some(previous) = self.home.record(id).and_then(|r| r.previous) else {
            return;
        };
        // The record first, its images listed as replaced: a kill while they go
        // leaves recovery a record that keeps nothing and the names to remove.
        self.home.update_state(|s| {
            if let Some(r) = s.containers.get_mut(id) {
                r.previous = None;
                let only_its = previous.images.iter().filter(|i| !r.images.contains(i));
                r.replaced_images.extend(only_its.cloned());
            }
        });
        if let Ok(driver) = self.entry(id).and_then(|e| self.driver_for(&e).cloned()) {
            driver.drop_previous(&self.home, id, &previous);
        }
    }
}
