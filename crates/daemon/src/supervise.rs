//! Supervision: exits noticed from the runtime's event stream (not the tick) and
//! answered by the restart policy; the monitor tick samples state and statistics of
//! every monitored container in one batched call per runtime into state.json.

use crate::ops::Daemon;
use crate::policy::Decision;
use crate::state::Sample;
use berth_runtime::RuntimeError;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// What berthd tracks of a container between events.
#[derive(Debug, Default)]
pub struct Supervision {
    pub history: crate::policy::History,
    /// A stop through berthd is under way or done: its exit is not a crash.
    pub stop_requested: bool,
    /// Why berthd gave up restarting it.
    pub failed: Option<String>,
    pub last_exit_code: Option<i32>,
    pub restart_count: u32,
    /// Bumped by every manual action, so a pending automatic restart knows it is stale.
    pub generation: u64,
    /// An automatic restart is waiting out its delay: further exit events of the
    /// same stop (runtimes may report one twice) are not new crashes.
    pub pending: bool,
}

/// Follows a runtime's exit events ("podman" or "lxc") for as long as berthd runs;
/// a broken event stream is restarted after a second.
pub fn watch_exits(daemon: Arc<Daemon>, runtime_name: &'static str) {
    let rt: Arc<dyn berth_runtime::Runtime> = if runtime_name == "lxc" {
        daemon.lxc.clone()
    } else {
        daemon.podman.clone()
    };
    if runtime_name == "lxc" {
        let _ = std::fs::create_dir_all(daemon.lxc_path());
    }
    loop {
        let (program, args) = rt.events_command();
        let mut command = Command::new(&program);
        command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let child = command.spawn();
        match child {
            Ok(mut child) => {
                // A berthd killed with SIGKILL leaves its event stream running; the
                // next berthd ends it by this record (see `end_stale_event_stream`).
                let _ = std::fs::write(
                    events_pid_path(&daemon, runtime_name),
                    child.id().to_string(),
                );
                if let Some(out) = child.stdout.take() {
                    for line in BufReader::new(out).lines() {
                        let Ok(line) = line else { break };
                        if let Some((name, code)) = rt.parse_exit_event(&line) {
                            let d = Arc::clone(&daemon);
                            std::thread::spawn(move || on_exit(&d, &name, code));
                        }
                    }
                }
                let _ = child.kill();
                let _ = child.wait();
                crate::log::warn(format!(
                    "the {runtime_name} event stream ended; following it again"
                ));
            }
            Err(e) => crate::log::error(format!("cannot run {program} events: {e}")),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn events_pid_path(daemon: &Daemon, runtime_name: &str) -> std::path::PathBuf {
    daemon
        .config
        .service
        .working_path
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
pub fn on_exit(daemon: &Daemon, id: &str, code: Option<i32>) {
    loop {
        let guard = daemon.lock(id);
        let Ok(entry) = daemon.entry(id) else {
            return; // not one of ours (or a vehicle of an upgrade)
        };
        let Ok(rt) = daemon.runtime_for(&entry) else {
            return;
        };
        match rt.state(id) {
            Ok(s) if s.running => return, // already started again: a stale event
            Err(RuntimeError::NoSuchContainer(_)) => return,
            _ => {}
        }
        let now = daemon.clock.now();
        let (decision, generation) = {
            let mut sup = daemon.supervision(id);
            let s = sup.entry(id.to_string()).or_default();
            s.last_exit_code = code.or(s.last_exit_code);
            if s.stop_requested || s.pending {
                return;
            }
            let d = s.history.on_unexpected_exit(&entry.restart, now);
            s.pending = matches!(d, Decision::RestartAfter(_));
            if let Decision::GiveUp(reason) = &d {
                s.failed = Some(reason.clone());
            }
            (d, s.generation)
        };
        let code_text = code.map_or("unknown".into(), |c| c.to_string());
        match decision {
            Decision::StayExited => {
                crate::log::info(format!(
                    "{id}: exited with code {code_text}; restart is off"
                ));
                return;
            }
            Decision::GiveUp(reason) => {
                crate::log::error(format!("{id}: failed: {reason}"));
                daemon.persist_supervision(id);
                return;
            }
            Decision::RestartAfter(delay) => {
                crate::log::warn(format!(
                    "{id}: stopped unexpectedly (exit code {code_text}); restarting in {}s",
                    delay.as_secs()
                ));
                drop(guard);
                std::thread::sleep(delay);
                let _guard = daemon.lock(id);
                let still_down =
                    daemon.entry(id).is_ok() && !matches!(rt.state(id), Ok(s) if s.running);
                {
                    let mut sup = daemon.supervision(id);
                    let s = sup.entry(id.to_string()).or_default();
                    s.pending = false;
                    if s.generation != generation || s.stop_requested || !still_down {
                        return; // somebody acted meanwhile: theirs is the last word
                    }
                    s.history.record_attempt(daemon.clock.now());
                    s.restart_count += 1;
                }
                daemon.persist_supervision(id);
                match rt.start(id) {
                    Ok(()) => return,
                    // A start that fails is another unexpected stop.
                    Err(e) => crate::log::error(format!("{id}: restart failed: {e}")),
                }
            }
        }
    }
}

/// Every `monitor_interval` seconds: state and statistics of the monitored
/// containers, one `ps` and one `stats` call per tick, into state.json.
pub fn monitor(daemon: Arc<Daemon>) {
    let interval = Duration::from_secs(daemon.config.service.monitor_interval.into());
    loop {
        std::thread::sleep(interval);
        tick(&daemon);
    }
}

/// One monitor tick.
pub fn tick(daemon: &Daemon) {
    let Ok(conf) = daemon.containers() else {
        return;
    };
    let wp = &daemon.config.service.working_path;
    for e in &conf.containers {
        if let Err(err) = crate::logs::rotate_if_needed(wp, &e.id) {
            crate::log::warn(format!("{}: rotating its log: {err}", e.id));
        }
    }
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut samples: Vec<(String, Sample)> = Vec::new();
    for runtime_name in ["podman", "lxc"] {
        let monitored: Vec<&crate::store::ContainerEntry> = conf
            .containers
            .iter()
            .filter(|e| e.monitor && e.runtime == runtime_name)
            .collect();
        let Some(rt) = daemon.runtime_named(runtime_name) else {
            continue;
        };
        if monitored.is_empty() {
            continue;
        }
        // One listing and one statistics call per runtime per tick.
        let Ok(all) = rt.list() else { continue };
        let states: HashMap<&str, &berth_runtime::ContainerState> =
            all.iter().map(|s| (s.id.as_str(), s)).collect();
        let running: Vec<String> = monitored
            .iter()
            .filter(|e| states.get(e.id.as_str()).is_some_and(|s| s.running))
            .map(|e| e.id.clone())
            .collect();
        let stats: HashMap<String, berth_runtime::Stats> = rt
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
}

/// `<working_path>/berthd.pid`: this daemon's pid, when it leads its own process
/// group (then every runtime command it runs is in that group).
fn pid_path(daemon: &Daemon) -> std::path::PathBuf {
    daemon.config.service.working_path.join("berthd.pid")
}

/// Makes berthd lead a process group of its own (unless it runs on a terminal, where
/// that would take Ctrl-C from it) and records it, so that the next berthd can end
/// the runtime commands this one leaves running if it is killed.
pub fn lead_process_group(daemon: &Daemon) {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        let _ = rustix::process::setpgid(None, None);
    }
    let me = rustix::process::getpid();
    let leads = rustix::process::getpgrp() == me;
    let _ = std::fs::remove_file(pid_path(daemon));
    if leads {
        let _ = crate::atomic::write_atomic(
            &pid_path(daemon),
            me.as_raw_nonzero().to_string().as_bytes(),
        );
    }
}

/// Ends the runtime commands (podman, lxc-*) a killed berthd left running — a
/// `podman create` finishing after recovery would leave an orphan — and waits for
/// them to be gone. Containers are not among them: conmon and lxc-start's monitor
/// leave the group.
pub fn end_orphaned_commands(daemon: &Daemon) {
    let Some(old) = std::fs::read_to_string(pid_path(daemon))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let me = rustix::process::getpid().as_raw_nonzero().get();
    if old == me {
        return;
    }
    let members = || -> Vec<i32> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid != me)
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // pid (comm) state ppid pgrp ...: fields after the last ')'.
                let pgrp = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(2))
                    .and_then(|p| p.parse::<i32>().ok());
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let comm = comm.trim();
                pgrp == Some(old) && (comm == "podman" || comm.starts_with("lxc-"))
            })
            .collect()
    };
    for _ in 0..50 {
        let left = members();
        if left.is_empty() {
            break;
        }
        for pid in left {
            if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
