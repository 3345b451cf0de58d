//! The monitor tick: every `monitor_interval` seconds, state and statistics of the
//! monitored containers (one listing and one statistics call per runtime) into
//! state.json, log rotation, and the restart policy for a container found dead whose
//! exit the event stream missed.

use crate::daemon::Daemon;
use crate::state::Sample;
use berth_runtime::{ContainerState, Stats};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub fn monitor(daemon: Arc<Daemon>) {
    let interval = Duration::from_secs(daemon.config().service.monitor_interval.into());
    loop {
        std::thread::sleep(interval);
        tick(&daemon);
    }
}

/// One monitor tick. Returns the ids of dead containers it handed to the restart
/// policy (their exits were not seen from the event stream).
pub fn tick(daemon: &Arc<Daemon>) -> Vec<String> {
    let Ok(conf) = daemon.home.containers() else {
        return Vec::new();
    };
    let wp = daemon.home.working_path();
    for e in &conf.containers {
        if let Err(err) = crate::container_log::rotate_if_needed(wp, &e.id) {
            crate::daemon_log::warn(format!("{}: rotating its log: {err}", e.id));
        }
    }
    let now = crate::home::now_rfc3339();
    let mut samples: Vec<(String, Sample)> = Vec::new();
    let mut missed = Vec::new();
    for driver in daemon.drivers() {
        let kind = driver.kind().as_str();
        let ours: Vec<&crate::store::ContainerEntry> = conf
            .containers
            .iter()
            .filter(|e| e.runtime == kind)
            .collect();
        if ours.is_empty() {
            continue;
        }
        let rt = driver.runtime();
        let Ok(all) = rt.list() else { continue };
        let states: HashMap<&str, &ContainerState> =
            all.iter().map(|s| (s.id.as_str(), s)).collect();
        for e in &ours {
            match states.get(e.id.as_str()) {
                Some(s) if s.running => daemon.seen_running(&e.id),
                Some(s) => {
                    let unanswered = daemon
                        .supervision()
                        .get(&e.id)
                        .is_some_and(|x| x.running_seen && !x.stop_requested && !x.pending);
                    if unanswered {
                        let (d, id, code) = (Arc::clone(daemon), e.id.clone(), s.exit_code);
                        missed.push(id.clone());
                        std::thread::spawn(move || crate::supervise::on_exit(&d, &id, code));
                    }
                }
                None => {}
            }
        }
        let monitored: Vec<&&crate::store::ContainerEntry> =
            ours.iter().filter(|e| e.monitor).collect();
        if monitored.is_empty() {
            continue;
        }
        let running: Vec<String> = monitored
            .iter()
            .filter(|e| states.get(e.id.as_str()).is_some_and(|s| s.running))
            .map(|e| e.id.clone())
            .collect();
        let stats: HashMap<String, Stats> = rt
            .stats_many(&running)
            .map(|v| v.into_iter().collect())
            .unwrap_or_default();
        for e in monitored {
            let st = states.get(e.id.as_str());
            samples.push((
                e.id.clone(),
                Sample {
                    status: daemon.status_word(&e.id, st.copied()),
                    pid: st.and_then(|s| s.pid),
                    started_at: st.and_then(|s| s.started_at.clone()),
                    exit_code: st.and_then(|s| s.exit_code),
                    stats: stats.get(&e.id).cloned(),
                    sampled_at: now.clone(),
                },
            ));
        }
    }
    if !samples.is_empty() {
        daemon.record_samples(samples);
    }
    missed
}
