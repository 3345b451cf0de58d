//! berthd's background work, started once the API is up: one exit watcher per
//! driver, the monitor tick, the health checks, the probations, the update checks (a berthd with the registry), the console pump (LXC, runc) and, where a runtime keeps
//! its own log files (Docker), their pump. Plain threads: they block on the runtimes'
//! commands.

use crate::daemon::Daemon;
use std::sync::Arc;

pub fn start(daemon: &Arc<Daemon>) {
    for driver in daemon.drivers() {
        let (d, driver) = (Arc::clone(daemon), Arc::clone(driver));
        std::thread::spawn(move || super::watch_exits(d, driver));
    }
    let d = Arc::clone(daemon);
    std::thread::spawn(move || super::monitor(d));
    let d = Arc::clone(daemon);
    std::thread::spawn(move || crate::health::watch::watch(d));
    // Its own thread: judging a probation waits for the container's lock.
    let d = Arc::clone(daemon);
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        d.probation_tick();
    });
    if cfg!(feature = "registry") {
        let d = Arc::clone(daemon);
        std::thread::spawn(move || crate::updates::watch::watch(d));
    }
    let consoles = daemon.home.working_path().to_path_buf();
    std::thread::spawn(move || crate::container_log::pump_consoles(&consoles));
    if super::engine_logs::needed(daemon) {
        let d = Arc::clone(daemon);
        std::thread::spawn(move || super::engine_logs::pump_engine_logs(d));
    }
}
