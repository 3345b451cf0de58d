//! berthd's background work, started once the API is up: one exit watcher per
//! driver, the monitor tick, the LXC console pump. Plain threads: they block on the
//! runtimes' commands.

use crate::daemon::Daemon;
use std::sync::Arc;

pub fn start(daemon: &Arc<Daemon>) {
    for driver in daemon.drivers() {
        let (d, driver) = (Arc::clone(daemon), Arc::clone(driver));
        std::thread::spawn(move || super::watch_exits(d, driver));
    }
    let d = Arc::clone(daemon);
    std::thread::spawn(move || super::monitor(d));
    let consoles = daemon.home.working_path().to_path_buf();
    std::thread::spawn(move || crate::container_log::pump_consoles(&consoles));
}
