//! berthd leads a process group of its own and records it, so that the next berthd
//! can end the runtime commands a killed one left running.

use crate::daemon::Daemon;

/// `<working_path>/berthd.pid`: this daemon's pid, when it leads its own process
/// group (then every runtime command it runs is in that group).
fn pid_path(daemon: &Daemon) -> std::path::PathBuf {
    daemon.home.working_path().join("berthd.pid")
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

/// How long the commands a killed berthd left running get to end by themselves.
const GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Ends the runtime commands (podman, docker, lxc-*) a killed berthd left running —
/// a `podman create` finishing after recovery would leave an orphan — and waits for
/// them to be gone. They get `GRACE` to end by themselves first: most do within
/// moments, and podman killed in the middle of a command can leave the container's
/// lock held, after which every command on that container hangs (a SIGKILL trial
/// found one `podman start` killed between init and start that way). Containers are
/// not among them: conmon and lxc-start's monitor leave the group.
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
                // pid (comm) state ppid pgrp ...: fields after the last ')'. A zombie
                // has ended already.
                let fields: Vec<&str> = stat
                    .rsplit_once(')')
                    .map(|(_, rest)| rest.split_whitespace().take(3).collect())
                    .unwrap_or_default();
                if fields.first() == Some(&"Z") {
                    return false;
                }
                let pgrp = fields.get(2).and_then(|p| p.parse::<i32>().ok());
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let comm = comm.trim();
                pgrp == Some(old)
                    && (comm == "podman" || comm == "docker" || comm.starts_with("lxc-"))
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + GRACE;
    while !members().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
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
