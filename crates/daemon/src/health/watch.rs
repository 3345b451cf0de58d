//! Runs each container's health check when it is due: never two at once for one
//! container, each on a thread of its own (a hung check holds up no other), the
//! result into the container's supervision record and state.json. A container that
//! turns unhealthy is stopped, and its exit is answered by the restart policy like
//! any crash (podman's `--health-on-failure=restart`): restarted within the budget,
//! `failed` once it is spent. With restart off it keeps running, marked unhealthy.

use super::{Health, Transition};
use crate::daemon::Daemon;
use crate::store::ContainerEntry;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often berthd looks for a check that is due (the shortest interval is 1 s).
const TICK: Duration = Duration::from_secs(1);
/// How long an unhealthy container gets to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub fn watch(daemon: Arc<Daemon>) {
    loop {
        std::thread::sleep(TICK);
        start_due_checks(&daemon);
    }
}

/// A new run of `s`'s container began at `now`: its health starts over.
pub fn restart_health(s: &mut crate::policy::Supervision, now: f64) {
    s.health = Some(Health::default());
    s.health_since = now;
    s.health_last = now;
}

/// Starts the checks that are due; returns their threads (tests wait for them).
pub fn start_due_checks(daemon: &Arc<Daemon>) -> Vec<JoinHandle<()>> {
    let Ok(conf) = daemon.home.containers() else {
        return Vec::new();
    };
    let now = daemon.clock.now();
    let mut started = Vec::new();
    for entry in conf.containers {
        let Some(check) = &entry.health else { continue };
        let generation = {
            let mut sup = daemon.supervision();
            let s = sup.entry(entry.id.clone()).or_default();
            if s.health.is_none() {
                // First sight (berthd started, or a check added): check now.
                s.health = Some(Health::default());
                s.health_since = now;
                s.health_last = now - f64::from(check.interval);
            }
            let due = s.health_last + f64::from(check.interval);
            if s.health_busy || s.stop_requested || s.pending || s.failed.is_some() || now < due {
                continue;
            }
            s.health_busy = true;
            s.generation
        };
        let d = Arc::clone(daemon);
        started.push(std::thread::spawn(move || {
            check_one(&d, &entry, generation)
        }));
    }
    started
}

/// One check of `entry`'s container, if it runs.
fn check_one(daemon: &Daemon, entry: &ContainerEntry, generation: u64) {
    let id = &entry.id;
    let check = entry.health.as_ref().expect("only entries with a check");
    let done = |daemon: &Daemon| {
        let mut sup = daemon.supervision();
        let s = sup.entry(id.clone()).or_default();
        s.health_busy = false;
        s.health_last = daemon.clock.now();
    };
    let Ok(driver) = daemon.driver_for(entry) else {
        return done(daemon);
    };
    let rt = driver.runtime();
    // Whether it runs, as supervision knows it (berthd started it or saw it running,
    // and no exit since): no runtime call per check.
    let running = daemon.supervision().get(id).is_some_and(|s| s.running_seen);
    if !running {
        return done(daemon); // not running: nothing to check
    }
    let verdict = super::probe::run(rt, id, check);
    let now = daemon.clock.now();
    let (transition, health) = {
        let mut sup = daemon.supervision();
        let s = sup.entry(id.clone()).or_default();
        s.health_busy = false;
        s.health_last = now;
        if s.generation != generation || s.stop_requested {
            return; // stopped or restarted by hand meanwhile: this result is stale
        }
        let since_start = now - s.health_since;
        let h = s.health.get_or_insert_with(Health::default);
        let t = h.on_result(
            check,
            verdict.healthy,
            &verdict.output,
            since_start,
            crate::home::now_rfc3339(),
        );
        (t, h.clone())
    };
    daemon.home.update_state(|st| {
        st.containers.entry(id.clone()).or_default().health = Some(health.clone());
    });
    match transition {
        Transition::Unchanged => {}
        Transition::BecameHealthy => crate::daemon_log::info(format!("{id}: healthy")),
        Transition::BecameUnhealthy => {
            let why = format!(
                "unhealthy after {} failed check{}: {}",
                health.failing_streak,
                if health.failing_streak == 1 { "" } else { "s" },
                health.last_output.as_deref().unwrap_or_default()
            );
            if daemon.on_probation(id) {
                let _guard = daemon.lock(id);
                if daemon.on_probation(id)
                    && daemon.entry(id).is_ok_and(|e| e.version == entry.version)
                {
                    daemon.fail_probation_locked(id, &why);
                }
                return;
            }
            if !entry.restart.enabled {
                crate::daemon_log::warn(format!("{id}: {why}; restart is off, left running"));
                return;
            }
            crate::daemon_log::warn(format!("{id}: {why}; stopping it to restart it"));
            let _guard = daemon.lock(id);
            {
                let mut sup = daemon.supervision();
                let s = sup.entry(id.clone()).or_default();
                if s.generation != generation || s.stop_requested {
                    return;
                }
                s.unhealthy_stop = Some(why);
            }
            // Not a stop berthd was asked for: its exit goes to the restart policy.
            if let Err(e) = rt.stop(id, STOP_GRACE) {
                crate::daemon_log::error(format!("{id}: stopping the unhealthy container: {e}"));
            }
        }
    }
}
