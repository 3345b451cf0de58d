//! The thread that starts due checks, each on a thread of its own: a registry that
//! hangs holds up only the containers that follow it.

use super::schedule::{jitter, retry_delay};
use crate::daemon::Daemon;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs for the daemon's life (started only in a berthd built with the registry).
pub fn watch(d: Arc<Daemon>) {
    loop {
        std::thread::sleep(Duration::from_secs(1));
        tick(&d);
    }
}

fn tick(d: &Arc<Daemon>) {
    let Ok(conf) = d.home.containers() else {
        return;
    };
    let followed: Vec<(String, String)> = conf
        .containers
        .into_iter()
        .filter_map(|e| Some((e.id, e.follow?)))
        .collect();
    let ids: Vec<String> = followed.iter().map(|(id, _)| id.clone()).collect();
    let settings = d.config().updates.clone();
    let due = d
        .updates
        .schedule
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take_due(&ids, Instant::now(), || jitter(settings.jitter));
    for id in due {
        let follow = followed
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, f)| f.clone())
            .expect("due ids are followed");
        let d = Arc::clone(d);
        let settings = settings.clone();
        std::thread::spawn(move || {
            let after = if check(&d, &id, &follow) {
                Duration::from_secs(settings.interval.into()) + jitter(settings.jitter)
            } else {
                let failures = d.follow_state(&id).failures;
                retry_delay(failures, settings.retry, settings.interval)
            };
            d.updates
                .schedule
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .done(&id, Instant::now(), after);
        });
    }
}

#[cfg(feature = "registry")]
fn check(d: &Daemon, id: &str, follow: &str) -> bool {
    d.check_follow(id, follow)
}

#[cfg(not(feature = "registry"))]
fn check(_: &Daemon, _: &str, _: &str) -> bool {
    true
}
