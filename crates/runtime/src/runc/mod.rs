//! The runc driver (crun speaks the same command line): containers are OCI runtime
//! bundles (`config.json` + root filesystem) under berthd's bundle directory, run
//! detached (`run -d`) with standard output and error going straight to the
//! container's console file, which berthd moves into its log. runc keeps its state
//! under a root of berthd's own (`--root`), so it never sees other tools' containers.
//!
//! Exits: a detached container's init is not berthd's child, so berthd holds a pidfd
//! for each one it started or found running, and the event stream (`events`) is the
//! pidfds becoming readable. The exit code is lost with the parent (the host's init
//! reaps it), as for LXC; the restart policy needs only the exit.

use crate::command::{CommandError, CommandRunner, ExecOutcome, Followed, Invocation};
use crate::{ContainerState, Runtime, RuntimeError, Stats};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Runc {
    runner: Arc<dyn CommandRunner>,
    /// `runc`, `crun`, or a path to one.
    program: String,
    /// runc's state directory (`--root`).
    state_root: PathBuf,
    /// Where the bundles are: `<bundles>/<id>/config.json`.
    bundles: PathBuf,
    /// Where each container's output goes: `<consoles>/<id>`.
    consoles: PathBuf,
    command_timeout: Duration,
    sampler: crate::cgroup::Sampler,
    exits: Arc<ExitWatch>,
}

mod exits;
use exits::ExitWatch;

impl Runc {
    /// `program` runs the bundles under `bundles`, writing their output to files
    /// under `consoles`, with its state under `state_root`.
    pub fn new(
        runner: Arc<dyn CommandRunner>,
        program: &str,
        state_root: PathBuf,
        bundles: PathBuf,
        consoles: PathBuf,
        command_timeout: Duration,
    ) -> Self {
        Runc {
            runner,
            program: program.into(),
            state_root,
            bundles,
            consoles,
            command_timeout,
            sampler: crate::cgroup::Sampler::default(),
            exits: Arc::new(ExitWatch::new()),
        }
    }

    pub fn bundles(&self) -> &Path {
        &self.bundles
    }

    fn invocation(&self, args: &[&str], timeout: Duration) -> Invocation {
        let mut all = vec!["--root".to_string(), self.state_root.display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        Invocation::new(&self.program, all, timeout)
    }

    fn run(&self, args: &[&str]) -> Result<String, CommandError> {
        self.runner
            .run(&self.invocation(args, self.command_timeout))
    }

    fn exists(&self, id: &str) -> bool {
        self.bundles.join(id).join("config.json").is_file()
    }

    fn missing(&self, id: &str) -> Result<(), RuntimeError> {
        if self.exists(id) {
            Ok(())
        } else {
            Err(RuntimeError::NoSuchContainer(id.into()))
        }
    }

    /// runc's state of `id`, if it has one (it has none before the first start and
    /// after a delete).
    fn runc_state(&self, id: &str) -> Result<Option<Value>, RuntimeError> {
        match self.run(&["state", id]) {
            Ok(out) => serde_json::from_str(&out)
                .map(Some)
                .map_err(|e| output(&format!("state {id}"), e.to_string())),
            Err(CommandError::Failed { stderr, .. }) if stderr.contains("does not exist") => {
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Waits up to `grace` for `id` to stop running.
    fn wait_stopped(&self, id: &str, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        loop {
            if !self.state(id).is_ok_and(|s| s.running) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn pid_file(&self, id: &str) -> PathBuf {
        self.state_root.join(format!("{id}.pid"))
    }
}

fn output(what: &str, why: String) -> RuntimeError {
    RuntimeError::Output {
        runtime: "runc",
        what: what.into(),
        why,
    }
}

/// One state of `runc state` / `runc list --format json`.
fn parse_state(v: &Value) -> Option<ContainerState> {
    let id = v.get("id")?.as_str()?.to_string();
    let status = v.get("status").and_then(Value::as_str).unwrap_or("unknown");
    let running = status == "running";
    Some(ContainerState {
        id,
        status: status.into(),
        running,
        pid: v
            .get("pid")
            .and_then(Value::as_u64)
            .filter(|p| running && *p > 0)
            .map(|p| p as u32),
        started_at: v.get("created").and_then(Value::as_str).map(String::from),
        ..Default::default()
    })
}

impl Runtime for Runc {
    fn exec(
        &self,
        id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError> {
        self.missing(id)?;
        let mut args = vec!["exec", id];
        args.extend(argv.iter().map(String::as_str));
        // runc's exec process leaves the client's process group.
        let inv = self.invocation(&args, timeout);
        crate::hung_exec::exec_killed_at_deadline(self, self.runner.as_ref(), inv, id, argv)
    }

    fn name(&self) -> &'static str {
        if Path::new(&self.program)
            .file_name()
            .and_then(|n| n.to_str())
            == Some("crun")
        {
            "crun"
        } else {
            "runc"
        }
    }

    /// An upgrade swaps bundle directories; containers are never renamed.
    fn rename(&self, _: &str, _: &str) -> Result<(), RuntimeError> {
        Err(output("rename", "runc containers are not renamed".into()))
    }

    fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
        self.missing(id)?;
        self.stats_many(&[id.to_string()])?
            .pop()
            .map(|(_, s)| s)
            .ok_or_else(|| output(&format!("statistics of {id}"), "it is not running".into()))
    }

    /// The bundles, with runc's state where it has one (`runc list`); a bundle
    /// without one is stopped.
    fn list(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let out = self.run(&["list", "--format", "json"])?;
        let listed: Vec<ContainerState> = match serde_json::from_str::<Value>(out.trim()) {
            Ok(Value::Array(items)) => items.iter().filter_map(parse_state).collect(),
            Ok(Value::Null) => Vec::new(),
            Ok(_) | Err(_) if out.trim().is_empty() => Vec::new(),
            Ok(other) => return Err(output("list", format!("not a list: {other}"))),
            Err(e) => return Err(output("list", e.to_string())),
        };
        let mut ids: Vec<String> = std::fs::read_dir(&self.bundles)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|id| self.exists(id))
            .collect();
        ids.sort();
        let all: Vec<ContainerState> = ids
            .into_iter()
            .map(|id| {
                listed
                    .iter()
                    .find(|c| c.id == id)
                    .cloned()
                    .unwrap_or_else(|| ContainerState {
                        id,
                        status: "stopped".into(),
                        ..Default::default()
                    })
            })
            .collect();
        self.sampler.remember(&all);
        Ok(all)
    }

    fn storage_only(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        Ok(Vec::new())
    }

    /// From the cgroups of the init processes the last `runc list` named (the
    /// monitor tick's, if their processes are still the same), else a new one's.
    fn stats_many(&self, ids: &[String]) -> Result<Vec<(String, Stats)>, RuntimeError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(stats) = self.sampler.stats_of_remembered(ids) {
            return Ok(stats);
        }
        Ok(self.sampler.stats_of_listed(ids, self.list()?))
    }

    /// The exits of the containers running now and of those started later, as lines
    /// `exit <id>`. Nothing is replayed: exits while no stream ran are caught by the
    /// monitor tick.
    fn events(&self, _since: Option<std::time::SystemTime>) -> Result<Followed, RuntimeError> {
        for c in self.list()? {
            if let Some(pid) = c.pid {
                self.exits.watch(&c.id, pid);
            }
        }
        let exits = Arc::clone(&self.exits);
        Ok(Followed::from_lines(std::iter::from_fn(move || {
            exits.next_exit().map(|id| format!("exit {id}"))
        })))
    }

    fn parse_exit_event(&self, line: &str) -> Option<(String, Option<i32>)> {
        line.strip_prefix("exit ").map(|id| (id.to_string(), None))
    }

    /// The bundle is the container: creating checks that it is in place.
    fn create(&self, id: &str, _: &[String]) -> Result<(), RuntimeError> {
        self.missing(id)
    }

    /// `run -d`: runc's own messages go to its log file (the last one is the error
    /// reported), the container's output to its console file.
    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.missing(id)?;
        match self.runc_state(id)? {
            Some(s) if s.get("status").and_then(Value::as_str) == Some("running") => return Ok(()),
            // A stopped container keeps its id until deleted.
            Some(_) => drop(self.run(&["delete", "--force", id])),
            None => {}
        }
        std::fs::create_dir_all(&self.consoles).map_err(RuntimeError::Scratch)?;
        let pid_file = self.pid_file(id);
        let log = self.state_root.join(format!("{id}.log"));
        std::fs::create_dir_all(&self.state_root).map_err(RuntimeError::Scratch)?;
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&log);
        let bundle = self.bundles.join(id).display().to_string();
        let mut inv = self.invocation(
            &[
                "run",
                "--detach",
                "--pid-file",
                &pid_file.display().to_string(),
                "--bundle",
                &bundle,
                id,
            ],
            self.command_timeout,
        );
        inv.args
            .splice(0..0, ["--log".into(), log.display().to_string()]);
        inv.output = Some(self.consoles.join(id));
        if let Err(e) = self.runner.run(&inv) {
            // runc's log holds JSON lines {"level","msg",...}; the last error says why.
            let why = std::fs::read_to_string(&log)
                .ok()
                .and_then(|text| {
                    text.lines()
                        .rev()
                        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                        .find(|v| v["level"] == "error")
                        .and_then(|v| v["msg"].as_str().map(String::from))
                })
                .unwrap_or_else(|| e.to_string());
            let _ = self.run(&["delete", "--force", id]);
            return Err(output(&format!("starting {id}"), why));
        }
        match std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            Some(pid) => self.exits.watch(id, pid),
            None => {
                return Err(output(
                    &format!("starting {id}"),
                    "runc wrote no pid file".into(),
                ))
            }
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after `grace`; the stopped container keeps its state.
    fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.missing(id)?;
        if !self.state(id)?.running {
            return Ok(());
        }
        let _ = self.run(&["kill", id, "TERM"]);
        if self.wait_stopped(id, grace) {
            return Ok(());
        }
        let _ = self.run(&["kill", id, "KILL"]);
        if self.wait_stopped(id, self.command_timeout) {
            Ok(())
        } else {
            Err(output(
                &format!("stopping {id}"),
                "still running after SIGKILL".into(),
            ))
        }
    }

    /// Kills and deletes the container, and removes its bundle.
    fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let dir = self.bundles.join(id);
        if !dir.exists() {
            return Err(RuntimeError::NoSuchContainer(id.into()));
        }
        self.exits.forget(id);
        let cgroup = cgroups_path(&dir);
        match self.run(&["delete", "--force", id]) {
            Ok(_) => {}
            Err(CommandError::Failed { stderr, .. }) if stderr.contains("does not exist") => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(parent) = cgroup
            .as_deref()
            .and_then(|c| c.rsplit_once('/'))
            .map(|(p, _)| p)
        {
            remove_empty_cgroup(parent);
        }
        let _ = std::fs::remove_file(self.pid_file(id));
        let _ = std::fs::remove_file(self.state_root.join(format!("{id}.log")));
        std::fs::remove_dir_all(&dir).map_err(RuntimeError::Scratch)
    }

    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        self.missing(id)?;
        Ok(self
            .runc_state(id)?
            .as_ref()
            .and_then(parse_state)
            .unwrap_or_else(|| ContainerState {
                id: id.into(),
                status: "stopped".into(),
                ..Default::default()
            }))
    }
}

/// Unpacks an OCI runtime bundle (.tar.gz) read from `input` under `dest`; returns
/// the directory holding `config.json` (`dest`, or its one subdirectory).
pub fn unpack_bundle(input: &mut dyn std::io::Read, dest: &Path) -> Result<PathBuf, RuntimeError> {
    crate::bundle_unpack::unpack(input, dest, "OCI runtime bundle", |dir| {
        dir.join("config.json").is_file()
    })
    .map_err(|e| match e {
        RuntimeError::Archive(why) if why.is_empty() => RuntimeError::Archive(
            "an OCI runtime bundle must hold config.json at the top or in one directory".into(),
        ),
        e => e,
    })
}

/// Rewrites an OCI runtime spec for running detached under berthd, keeping every
/// field it does not set: no terminal (a detached run without a console socket
/// cannot have one) and the container's cgroup at `cgroup` (berthd's choice: one
/// per container and per berthd). `root.path` must stay inside the bundle.
pub fn rewrite_config(text: &[u8], cgroup: &str) -> Result<Vec<u8>, String> {
    let mut spec: Value =
        serde_json::from_slice(text).map_err(|e| format!("config.json: not JSON: {e}"))?;
    let obj = spec
        .as_object_mut()
        .ok_or("config.json: not a JSON object")?;
    let root = obj
        .get("root")
        .and_then(|r| r.get("path"))
        .and_then(Value::as_str)
        .ok_or("config.json: root.path is missing")?;
    let inside = !root.is_empty()
        && Path::new(root).components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
    if !inside {
        return Err(format!(
            "config.json: root.path {root:?} must be a path inside the bundle (relative, without ..)"
        ));
    }
    let process = obj
        .get_mut("process")
        .and_then(Value::as_object_mut)
        .ok_or("config.json: process is missing")?;
    process.insert("terminal".into(), Value::Bool(false));
    let linux = obj
        .entry("linux")
        .or_insert_with(|| Value::Object(Default::default()));
    let linux = linux
        .as_object_mut()
        .ok_or("config.json: linux is not an object")?;
    linux.insert("cgroupsPath".into(), Value::String(cgroup.to_string()));
    let mut out = serde_json::to_vec_pretty(&spec).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(out)
}

/// Why crun cannot run containers on this host, if it cannot: it refuses hybrid
/// cgroup hierarchies (v1 controllers with v2 mounted beside them).
pub fn crun_unavailable(program: &str, mounts: &crate::cgroup::Mounts) -> Option<String> {
    let is_crun = Path::new(program).file_name().and_then(|n| n.to_str()) == Some("crun");
    (is_crun && mounts.is_hybrid()).then(|| {
        format!(
            "{program} cannot run containers on this host: its cgroups are in hybrid mode (v1 controllers with v2 beside them), which crun does not support; set runtimes.oci_runtime to runc"
        )
    })
}

#[cfg(test)]
mod tests;

/// The bundle's `linux.cgroupsPath` (berthd writes `/berth[-TAG]/ID`).
fn cgroups_path(bundle: &std::path::Path) -> Option<String> {
    let text = std::fs::read(bundle.join("config.json")).ok()?;
    let spec: serde_json::Value = serde_json::from_slice(&text).ok()?;
    spec["linux"]["cgroupsPath"].as_str().map(str::to_string)
}

/// Removes cgroup `parent` (`/berth-TAG`) from every hierarchy where no container's
/// cgroup is left in it: runc removes a container's own cgroup, not the parent it
/// made for it, which stayed on the host after its last container (found by
/// scripts/host-guard.sh). A parent still holding a cgroup is not removed (rmdir
/// fails), and runc makes it again for the next container.
fn remove_empty_cgroup(parent: &str) {
    let parent = parent.trim_start_matches('/');
    if parent.is_empty() || parent.contains("..") {
        return;
    }
    let root = std::path::Path::new("/sys/fs/cgroup");
    let _ = std::fs::remove_dir(root.join(parent)); // the unified hierarchy
    if let Ok(hierarchies) = std::fs::read_dir(root) {
        for h in hierarchies.flatten() {
            let _ = std::fs::remove_dir(h.path().join(parent));
        }
    }
}
