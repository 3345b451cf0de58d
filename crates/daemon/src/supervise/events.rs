//! Exits, from each runtime's event stream, answered by the restart policy. A
//! stream that ends is followed again from where it stopped (podman replays past
//! events; for LXC the monitor tick catches what was missed).

use crate::daemon::Daemon;
use crate::driver::Driver;
use crate::policy::Decision;
use berth_runtime::RuntimeError;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How long a stream that ended at once waits before it is followed again: doubled
/// each time up to `MAX_PAUSE` (an engine that is not running — dockerd stopped —
/// costs a try a minute, not one a second), back to `MIN_PAUSE` once a stream lasts.
const MIN_PAUSE: Duration = Duration::from_secs(1);
const MAX_PAUSE: Duration = Duration::from_secs(60);
/// A stream that lasted this long was healthy.
const LASTED: Duration = Duration::from_secs(10);
/// How often a runtime with no registered container is checked for one.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// Whether any registered container runs on `kind`.
fn has_containers(daemon: &Daemon, kind: berth_package::RuntimeKind) -> bool {
    daemon
        .home
        .containers()
        .is_ok_and(|c| c.containers.iter().any(|e| e.runtime == kind.as_str()))
}

/// Follows `driver`'s exit events for as long as berthd runs, from when the first
/// container of its runtime is registered: a device with Docker installed but no
/// Docker package runs no `docker events`. (An exit before the stream starts is
/// caught by the monitor tick.)
pub fn watch_exits(daemon: Arc<Daemon>, driver: Arc<dyn Driver>) {
    let name = driver.kind();
    // Resumed from one second before the last line seen: an event twice is
    // harmless (`on_exit` ignores what it already answered), one lost is not.
    let mut since: Option<SystemTime> = None;
    let mut pause = MIN_PAUSE;
    // Said once per run of failures, not at every retry.
    let mut said = false;
    loop {
        while !has_containers(&daemon, name) {
            std::thread::sleep(IDLE_CHECK);
        }
        let started = SystemTime::now();
        let problem = match driver.runtime().events(since) {
            Ok(mut stream) => {
                // A berthd killed with SIGKILL leaves its event stream running; the
                // next berthd ends it by this record (see `end_stale_event_stream`).
                if let Some(pid) = stream.pid {
                    let _ =
                        std::fs::write(events_pid_path(&daemon, name.as_str()), pid.to_string());
                }
                let mut last_seen = started;
                for line in stream.by_ref() {
                    last_seen = SystemTime::now();
                    if let Some((id, code)) = driver.runtime().parse_exit_event(&line) {
                        let d = Arc::clone(&daemon);
                        std::thread::spawn(move || on_exit(&d, &id, code));
                    }
                }
                since = last_seen.max(started).checked_sub(Duration::from_secs(1));
                format!("the {name} event stream ended; following it again")
            }
            Err(e) => {
                since = since.or(Some(started));
                format!(
                    "cannot follow {name}'s events: {}",
                    crate::error::error_chain(&e)
                )
            }
        };
        if started.elapsed().unwrap_or_default() >= LASTED {
            pause = MIN_PAUSE;
            said = false;
        }
        if !said {
            crate::daemon_log::warn(problem);
            said = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

fn events_pid_path(daemon: &Daemon, runtime_name: &str) -> std::path::PathBuf {
    daemon
        .home
        .working_path()
        .join(format!("events-{runtime_name}.pid"))
}

/// Ends the event stream a killed berthd left running, if its pid file names a live
/// `podman events` or `lxc-monitor` process.
pub fn end_stale_event_stream(daemon: &Daemon, runtime_name: &str) {
    let path = events_pid_path(daemon, runtime_name);
    let Some(pid) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    // The pid may have been reused: only `podman events` or `lxc-monitor` is ended.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let is_events =
        comm.trim() == "lxc-monitor" || cmdline.split(|b| *b == 0).any(|arg| arg == b"events");
    if is_events {
        if let Some(pid) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
    let _ = std::fs::remove_file(path);
}

/// A container exited: expected (a stop through berthd) or not (the policy decides).
/// Only an exit of a run berthd knew of counts (`Supervision::running_seen`), so a
/// second report of the same exit — from the stream and the tick, or a replayed
/// event — is answered once.
pub fn on_exit(daemon: &Daemon, id: &str, code: Option<i32>) {
    loop {
        let guard = daemon.lock(id);
        let Ok(entry) = daemon.entry(id) else {
            return; // not one of ours (or a vehicle of an upgrade)
        };
        let Ok(driver) = daemon.driver_for(&entry) else {
            return;
        };
        let rt = driver.runtime();
        match rt.state(id) {
            Ok(s) if s.running => return, // already started again: a stale event
            Err(RuntimeError::NoSuchContainer(_)) => return,
            _ => {}
        }
        if daemon.on_probation(id) {
            {
                let mut sup = daemon.supervision();
                let s = sup.entry(id.to_string()).or_default();
                if s.stop_requested || s.pending || !s.running_seen {
                    return;
                }
                s.running_seen = false;
            }
            // An upgrade on probation is rolled back, not restarted.
            let code_text = code.map_or("unknown".into(), |c| c.to_string());
            daemon.fail_probation_locked(id, &format!("exited with code {code_text}"));
            return;
        }
        let now = daemon.clock.now();
        let (decision, generation, unhealthy) = {
            let mut sup = daemon.supervision();
            let s = sup.entry(id.to_string()).or_default();
            s.last_exit_code = code.or(s.last_exit_code);
            if s.stop_requested || s.pending || !s.running_seen {
                return;
            }
            s.running_seen = false;
            let d = s.history.on_unexpected_exit(&entry.restart, now);
            s.pending = matches!(d, Decision::RestartAfter(_));
            (d, s.generation, s.unhealthy_stop.take())
        };
        let code_text = code.map_or("unknown".into(), |c| c.to_string());
        // Why it stopped: a crash, or berthd's stop of an unhealthy container.
        let stopped = match &unhealthy {
            Some(why) => format!("stopped as {why}"),
            None => format!("stopped unexpectedly (exit code {code_text})"),
        };
        match decision {
            Decision::StayExited => {
                crate::daemon_log::info(format!(
                    "{id}: exited with code {code_text}; restart is off"
                ));
                return;
            }
            Decision::GiveUp(reason) => {
                let reason = match &unhealthy {
                    Some(why) => format!("{reason}; last stopped as {why}"),
                    None => reason,
                };
                crate::daemon_log::error(format!("{id}: failed: {reason}"));
                daemon.record_failure(id, reason);
                return;
            }
            Decision::RestartAfter(delay) => {
                crate::daemon_log::warn(format!(
                    "{id}: {stopped}; restarting in {}s",
                    delay.as_secs()
                ));
                drop(guard);
                std::thread::sleep(delay);
                let _guard = daemon.lock(id);
                let still_down =
                    daemon.entry(id).is_ok() && !matches!(rt.state(id), Ok(s) if s.running);
                {
                    let mut sup = daemon.supervision();
                    let s = sup.entry(id.to_string()).or_default();
                    s.pending = false;
                    if s.generation != generation || s.stop_requested || !still_down {
                        return; // somebody acted meanwhile: theirs is the last word
                    }
                    s.history.record_attempt(daemon.clock.now());
                    s.restart_count += 1;
                    // The restarted run's exit is the next one to answer.
                    s.running_seen = true;
                    crate::health::watch::restart_health(s, daemon.clock.now());
                }
                daemon.persist_supervision(id);
                match rt.start(id) {
                    Ok(()) => return,
                    // A start that fails is another unexpected stop.
                    Err(e) => crate::daemon_log::error(format!("{id}: restart failed: {e}")),
                }
            }
        }
    }
}
