//! Running runtime commands: argv only, stdin closed, output captured, a deadline.
//! A command still running at its deadline is killed and reported as timed out.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;
use wait_timeout::ChildExt;

/// One command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
    pub timeout: Duration,
    /// Variables set on top of berthd's environment.
    pub env: Vec<(String, String)>,
    /// Where standard output and error go (appended) instead of being captured: a
    /// detached container that inherits them writes its output there.
    pub output: Option<std::path::PathBuf>,
    /// Run in a process group of its own, killed whole at the deadline: a command
    /// run inside a container (`runc exec`, `lxc-attach`) is the attached process's
    /// parent, and the group takes that process down with it.
    pub own_group: bool,
}

impl Invocation {
    pub fn new(
        program: &str,
        args: impl IntoIterator<Item = impl Into<String>>,
        timeout: Duration,
    ) -> Self {
        Invocation {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            timeout,
            env: Vec::new(),
            output: None,
            own_group: false,
        }
    }

    fn display(&self) -> String {
        let mut s = self.program.clone();
        for a in self.args.iter().take(3) {
            s.push(' ');
            s.push_str(a);
        }
        s
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{command}: cannot run")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command}: no answer within {}s, killed", timeout.as_secs())]
    Timeout { command: String, timeout: Duration },
    #[error("{command}: failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
}

/// Runs commands; the real one spawns processes, tests use a recording fake.
pub trait CommandRunner: Send + Sync {
    /// Runs to completion; Ok(stdout) on exit status 0.
    fn run(&self, inv: &Invocation) -> Result<String, CommandError>;

    /// Starts a long-running command (an event stream) whose output is read line by
    /// line for as long as it runs; `inv.timeout` does not apply.
    fn follow(&self, inv: &Invocation) -> Result<Followed, CommandError>;
}

/// The output lines of a long-running command; dropping it ends the command.
pub struct Followed {
    /// The process, when it is one (a fake has none).
    pub pid: Option<u32>,
    lines: Box<dyn Iterator<Item = String> + Send>,
    child: Option<std::process::Child>,
}

impl Followed {
    /// Lines from anything (a fake's script).
    pub fn from_lines(lines: impl Iterator<Item = String> + Send + 'static) -> Self {
        Followed {
            pid: None,
            lines: Box::new(lines),
            child: None,
        }
    }
}

impl Iterator for Followed {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.lines.next()
    }
}

/// The long-running commands started and not yet ended. A thread reading one is
/// never unwound when berthd exits, so its command (`podman events`, found running
/// after berthd by scripts/host-guard.sh) would outlive berthd: `stop_followers`.
static FOLLOWERS: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

/// Ends every long-running command still running (berthd calls it as it exits).
pub fn stop_followers() {
    let pids = std::mem::take(&mut *FOLLOWERS.lock().unwrap_or_else(|e| e.into_inner()));
    for pid in pids {
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

impl Drop for Followed {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            FOLLOWERS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|p| *p != pid);
        }
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Spawns real processes.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRunner;

/// Spawns `inv` with standard input closed, standard output piped and standard
/// error as given — or both appended to `inv.output`.
fn spawn(inv: &Invocation, stderr: Stdio) -> Result<std::process::Child, CommandError> {
    let failed = |source| CommandError::Spawn {
        command: inv.display(),
        source,
    };
    let mut command = Command::new(&inv.program);
    let (stdout, stderr) = match &inv.output {
        Some(path) => {
            let file = std::fs::File::options()
                .create(true)
                .append(true)
                .open(path)
                .map_err(failed)?;
            // A command whose output goes to a file starts a detached container, which
            // outlives it: a process group of its own keeps a signal to berthd's
            // group (its service manager, a test's end) from reaching the container.
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            (
                Stdio::from(file.try_clone().map_err(failed)?),
                Stdio::from(file),
            )
        }
        None => (Stdio::piped(), stderr),
    };
    if inv.own_group {
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
    }
    command
        .args(&inv.args)
        .envs(inv.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(failed)
}

impl CommandRunner for SystemRunner {
    fn follow(&self, inv: &Invocation) -> Result<Followed, CommandError> {
        use std::io::BufRead;
        // A stream is read from its pipe, whatever `output` says.
        let piped = Invocation {
            output: None,
            ..inv.clone()
        };
        let mut child = spawn(&piped, Stdio::null())?;
        let out = child.stdout.take().expect("stdout is piped");
        // Bytes that are not UTF-8 do not end the stream.
        let lines = std::io::BufReader::new(out)
            .split(b'\n')
            .map_while(Result::ok)
            .map(|l| String::from_utf8_lossy(&l).into_owned());
        FOLLOWERS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(child.id());
        Ok(Followed {
            pid: Some(child.id()),
            lines: Box::new(lines),
            child: Some(child),
        })
    }

    fn run(&self, inv: &Invocation) -> Result<String, CommandError> {
        let command = inv.display();
        let mut child = spawn(inv, Stdio::piped())?;
        // Drain both pipes on threads, so a chatty command cannot block on a full pipe.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut buf);
                }
                String::from_utf8_lossy(&buf).into_owned()
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let status = match child.wait_timeout(inv.timeout) {
            Ok(Some(status)) => status,
            Ok(None) => {
                if inv.own_group {
                    kill_group(child.id());
                }
                let _ = child.kill();
                let _ = child.wait();
                return Err(CommandError::Timeout {
                    command,
                    timeout: inv.timeout,
                });
            }
            Err(source) => return Err(CommandError::Spawn { command, source }),
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if status.success() {
            Ok(stdout)
        } else {
            Err(CommandError::Failed {
                command,
                status: status.to_string(),
                stderr: stderr.trim().lines().last().unwrap_or_default().to_string(),
            })
        }
    }
}

/// SIGKILL to every process of group `pgid`.
fn kill_group(pgid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pgid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// What a command run inside a container answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutcome {
    /// Its exit code; -1 when a signal ended it.
    pub exit_code: i32,
    /// Its standard output when it succeeded, else its standard error's last line.
    pub output: String,
}

/// Runs `inv` (a runtime's exec) in a process group of its own: an exit status other
/// than 0 is an answer, not an error; a deadline passed is `CommandError::Timeout`.
pub fn exec_outcome(
    runner: &dyn CommandRunner,
    inv: Invocation,
) -> Result<ExecOutcome, CommandError> {
    let inv = Invocation {
        own_group: true,
        ..inv
    };
    match runner.run(&inv) {
        Ok(stdout) => Ok(ExecOutcome {
            exit_code: 0,
            output: stdout,
        }),
        Err(CommandError::Failed { status, stderr, .. }) => Ok(ExecOutcome {
            // ExitStatus's display: "exit status: N", or "signal: N (SIG...)".
            exit_code: status
                .strip_prefix("exit status: ")
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(-1),
            output: stderr,
        }),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn an_exec_answers_its_exit_code_and_a_hung_one_is_killed_with_its_children() {
        let out = exec_outcome(
            &SystemRunner,
            Invocation::new("sh", ["-c", "echo no >&2; exit 3"], Duration::from_secs(5)),
        )
        .unwrap();
        assert_eq!((out.exit_code, out.output.as_str()), (3, "no"));
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        // The shell's child stands for the process an exec attaches in a container.
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let err = exec_outcome(
            &SystemRunner,
            Invocation::new("sh", ["-c", script.as_str()], Duration::from_millis(500)),
        )
        .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let alive = std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "the check's child {pid} outlived its deadline");
    }

    #[test]
    fn a_hung_command_is_killed_at_its_deadline() {
        let started = Instant::now();
        let err = SystemRunner
            .run(&Invocation::new(
                "sleep",
                ["30"],
                Duration::from_millis(300),
            ))
            .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
        // Killed, not waited for: far less than the 30 s the command wanted.
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn output_and_failures_are_reported() {
        let out = SystemRunner
            .run(&Invocation::new(
                "echo",
                ["$(reboot)"],
                Duration::from_secs(5),
            ))
            .unwrap();
        assert_eq!(out, "$(reboot)\n");
        let err = SystemRunner
            .run(&Invocation::new(
                "sh",
                ["-c", "echo oops >&2; exit 3"],
                Duration::from_secs(5),
            ))
            .unwrap_err();
        assert!(err.to_string().contains("oops"), "{err}");
    }
}
