//! What a timed-out `podman exec`, `docker exec` or `runc exec` leaves: killing the
//! client does not end the process it started in the container (the engine's exec
//! session is its parent, or it left the client's process group). Found by /proc: a process in the container's pid
//! namespace whose parent is outside it was started by an exec; the one running the
//! check's argv, and everything under it, is killed.

use crate::command::{exec_outcome, CommandError, CommandRunner, ExecOutcome, Invocation};
use crate::{Runtime, RuntimeError};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Runs `inv`, an exec of `argv` in container `id` of `rt`: at its deadline the
/// client is killed, and what it started in the container with it.
pub fn exec_killed_at_deadline(
    rt: &dyn Runtime,
    runner: &dyn CommandRunner,
    inv: Invocation,
    id: &str,
    argv: &[String],
) -> Result<ExecOutcome, RuntimeError> {
    let outcome = exec_outcome(runner, inv);
    if let Err(CommandError::Timeout { .. }) = &outcome {
        if let Some(pid) = rt.state(id).ok().and_then(|s| s.pid) {
            kill_exec_of(Path::new("/proc"), pid, argv);
        }
    }
    Ok(outcome?)
}

/// `<program> exec ID argv…` (podman, docker), killed at `timeout`.
pub fn engine_exec(
    rt: &dyn Runtime,
    runner: &dyn CommandRunner,
    program: &str,
    id: &str,
    argv: &[String],
    timeout: std::time::Duration,
) -> Result<ExecOutcome, RuntimeError> {
    let mut args = vec!["exec".to_string(), id.to_string()];
    args.extend_from_slice(argv);
    exec_killed_at_deadline(
        rt,
        runner,
        Invocation::new(program, args, timeout),
        id,
        argv,
    )
}

/// A process's pid-namespace link, parent and command line, from `proc_root`.
fn describe(proc_root: &Path, pid: u32) -> Option<(std::path::PathBuf, u32, Vec<u8>)> {
    let dir = proc_root.join(pid.to_string());
    let ns = std::fs::read_link(dir.join("ns/pid")).ok()?;
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    let ppid = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
    Some((ns, ppid, cmdline))
}

/// Kills (SIGKILL) the processes an exec of `argv` started in the container whose
/// first process is `pid1`, with their descendants. Returns how many it killed.
pub fn kill_exec_of(proc_root: &Path, pid1: u32, argv: &[String]) -> usize {
    let Some((ns, _, _)) = describe(proc_root, pid1) else {
        return 0;
    };
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return 0;
    };
    let members: HashMap<u32, (u32, Vec<u8>)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let (n, ppid, cmdline) = describe(proc_root, pid)?;
            (n == ns).then_some((pid, (ppid, cmdline)))
        })
        .collect();
    let mut victims: HashSet<u32> = members
        .iter()
        .filter(|(pid, (ppid, cmdline))| {
            **pid != pid1 && !members.contains_key(ppid) && *cmdline == wanted
        })
        .map(|(pid, _)| *pid)
        .collect();
    loop {
        let more: Vec<u32> = members
            .iter()
            .filter(|(pid, (ppid, _))| victims.contains(ppid) && !victims.contains(pid))
            .map(|(pid, _)| *pid)
            .collect();
        if more.is_empty() {
            break;
        }
        victims.extend(more);
    }
    for pid in &victims {
        if let Some(p) = rustix::process::Pid::from_raw(*pid as i32) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
    }
    victims.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake /proc: pid → (namespace, ppid, argv).
    fn fake_proc(procs: &[(u32, &str, u32, &[&str])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (pid, ns, ppid, argv) in procs {
            let p = dir.path().join(pid.to_string());
            std::fs::create_dir_all(p.join("ns")).unwrap();
            std::os::unix::fs::symlink(format!("pid:[{ns}]"), p.join("ns/pid")).unwrap();
            std::fs::write(p.join("stat"), format!("{pid} (a b) S {ppid} 0 0")).unwrap();
            let cmdline: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
            std::fs::write(p.join("cmdline"), cmdline).unwrap();
        }
        dir
    }

    #[test]
    fn only_the_checks_exec_and_its_children_are_chosen() {
        // Pids above the kernel's limit (2^22), so the kill finds nobody to signal.
        let check = ["/bin/sh".to_string(), "-c".into(), "sleep 9".into()];
        let root = fake_proc(&[
            (5_000_001, "1", 900, &["/sbin/init"]), // the container's pid 1
            (5_000_002, "1", 5_000_001, &["/bin/sh", "-c", "sleep 9"]), // the app's own, same argv
            (5_000_003, "1", 901, &["/bin/sh", "-c", "sleep 9"]), // the check (parent outside)
            (5_000_004, "1", 5_000_003, &["sleep", "9"]), // its child
            (5_000_005, "1", 902, &["/bin/sh"]),    // someone's exec shell
            (5_000_006, "2", 903, &["/bin/sh", "-c", "sleep 9"]), // another container
        ]);
        assert_eq!(kill_exec_of(root.path(), 5_000_001, &check), 2);
    }
}
