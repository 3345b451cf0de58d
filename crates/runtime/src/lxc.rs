//! The LXC driver: containers are bundles (`config` + `rootfs/`) under berthd's own
//! lxcpath (`-P` on every lxc-* call), started daemonised. A bundle arrives as a
//! .tar.gz stream, is unpacked into a staging directory (no copy of the archive),
//! and its config is rewritten for its final place: rootfs path, console log, no
//! autostart of LXC's own (berthd is the only one restarting).

use crate::command::{
    exec_outcome, CommandError, CommandRunner, ExecOutcome, Followed, Invocation,
};
use crate::{ContainerState, Runtime, RuntimeError, Stats};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Lxc {
    runner: Arc<dyn CommandRunner>,
    lxcpath: PathBuf,
    command_timeout: Duration,
    sampler: crate::cgroup::Sampler,
    /// Each running container's init pid and that process's start time.
    init_pids: Mutex<HashMap<String, (u32, u64)>>,
}

/// Config keys berthd sets itself; the bundle's values are dropped.
const OWN_KEYS: &[&str] = &[
    "lxc.rootfs.path",
    "lxc.console.logfile",
    "lxc.console.size",
    "lxc.console.rotate",
    "lxc.start.auto",
    "lxc.start.delay",
    "lxc.start.order",
];

impl Lxc {
    pub fn new(
        runner: Arc<dyn CommandRunner>,
        lxcpath: PathBuf,
        command_timeout: Duration,
    ) -> Self {
        Lxc {
            runner,
            lxcpath,
            command_timeout,
            sampler: crate::cgroup::Sampler::default(),
            init_pids: Mutex::new(HashMap::new()),
        }
    }

    pub fn lxcpath(&self) -> &Path {
        &self.lxcpath
    }

    fn run(&self, program: &str, args: &[&str], timeout: Duration) -> Result<String, CommandError> {
        let mut all = vec!["-P".to_string(), self.lxcpath.display().to_string()];
        all.extend(args.iter().map(|s| s.to_string()));
        self.runner.run(&Invocation::new(program, all, timeout))
    }

    fn exists(&self, id: &str) -> bool {
        self.lxcpath.join(id).join("config").is_file()
    }

    fn missing(&self, id: &str) -> Result<(), RuntimeError> {
        if self.exists(id) {
            Ok(())
        } else {
            Err(RuntimeError::NoSuchContainer(id.into()))
        }
    }

    /// The init pid of running container `id`: cached with the process's start time
    /// (so a reused pid is not mistaken for it), asked of `lxc-info` only when the
    /// cached process is gone — after a (re)start.
    fn init_pid(&self, id: &str) -> Option<u32> {
        let mut cache = self.init_pids.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((pid, started)) = cache.get(id) {
            if crate::cgroup::process_start(*pid) == Some(*started) {
                return Some(*pid);
            }
        }
        let out = self
            .run("lxc-info", &["-n", id, "-p", "-H"], self.command_timeout)
            .ok()?;
        let pid: u32 = out.trim().parse().ok()?;
        cache.insert(id.to_string(), (pid, crate::cgroup::process_start(pid)?));
        Some(pid)
    }

    /// `lxc-info` key/value lines.
    fn info(&self, id: &str, flags: &[&str]) -> Result<Vec<(String, String)>, RuntimeError> {
        self.missing(id)?;
        let mut args = vec!["-n", id, "-H"];
        args.extend(flags);
        let out = self.run("lxc-info", &args, self.command_timeout)?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect())
    }
}

impl Runtime for Lxc {
    fn exec(
        &self,
        id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError> {
        self.missing(id)?;
        let mut args = vec![
            "-P".to_string(),
            self.lxcpath.display().to_string(),
            "-n".into(),
            id.into(),
            "--".into(),
        ];
        args.extend_from_slice(argv);
        Ok(exec_outcome(
            self.runner.as_ref(),
            Invocation::new("lxc-attach", args, timeout),
        )?)
    }

    fn name(&self) -> &'static str {
        "lxc"
    }
    /// An LXC upgrade swaps bundle directories; containers are never renamed.
    fn rename(&self, _: &str, _: &str) -> Result<(), RuntimeError> {
        Err(RuntimeError::Output {
            runtime: "lxc",
            what: "rename".into(),
            why: "LXC containers are not renamed".into(),
        })
    }
    /// The bundle is the container: creating checks that it is in place.
    fn create(&self, id: &str, _: &[String]) -> Result<(), RuntimeError> {
        self.missing(id)
    }
    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.missing(id)?;
        self.run("lxc-start", &["-n", id, "-d"], self.command_timeout)
            .map(drop)
            .map_err(Into::into)
    }
    fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        self.missing(id)?;
        let secs = grace.as_secs().to_string();
        match self.run(
            "lxc-stop",
            &["-n", id, "-t", &secs],
            grace.saturating_add(self.command_timeout),
        ) {
            Ok(_) => Ok(()),
            // Stopping a stopped container is not an error.
            Err(CommandError::Failed { stderr, .. }) if stderr.contains("not running") => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
    fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        if !self.lxcpath.join(id).exists() {
            return Err(RuntimeError::NoSuchContainer(id.into()));
        }
        let _ = self.run("lxc-stop", &["-n", id, "-k"], self.command_timeout);
        std::fs::remove_dir_all(self.lxcpath.join(id)).map_err(RuntimeError::Scratch)
    }
    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let info = self.info(id, &["-s", "-p"])?;
        let get = |k: &str| {
            info.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let status = get("State")
            .unwrap_or_else(|| "unknown".into())
            .to_ascii_lowercase();
        Ok(ContainerState {
            id: id.into(),
            running: status == "running",
            pid: get("PID").and_then(|p| p.parse().ok()),
            status,
            ..Default::default()
        })
    }
    /// A bundle is a directory: there is no storage apart from it.
    fn storage_only(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        Ok(Vec::new())
    }

    /// The bundles under lxcpath, and one `lxc-ls --running` for which run. (`lxc-ls
    /// --fancy` would give pids too, but asks every container: 20 cost ~50 ms CPU,
    /// `--running` next to nothing.) Init pids come from a cache (`init_pid`).
    fn list(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let out = self.run("lxc-ls", &["--running", "-1"], self.command_timeout)?;
        let running: std::collections::HashSet<&str> = out.lines().map(str::trim).collect();
        let mut ids: Vec<String> = std::fs::read_dir(&self.lxcpath)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|id| self.exists(id))
            .collect();
        ids.sort();
        Ok(ids
            .into_iter()
            .map(|id| {
                let up = running.contains(id.as_str());
                ContainerState {
                    pid: if up { self.init_pid(&id) } else { None },
                    running: up,
                    status: if up { "running" } else { "stopped" }.into(),
                    id,
                    ..Default::default()
                }
            })
            .collect())
    }
    fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
        self.missing(id)?;
        self.stats_many(&[id.to_string()])?
            .pop()
            .map(|(_, s)| s)
            .ok_or_else(|| RuntimeError::Output {
                runtime: "lxc",
                what: format!("statistics of {id}"),
                why: "it is not running".into(),
            })
    }
    /// One `lxc-ls` for the init pids, then each container's cgroup and network
    /// counters read from /proc and /sys: no process per container.
    fn stats_many(&self, ids: &[String]) -> Result<Vec<(String, Stats)>, RuntimeError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.sampler.stats_of_listed(ids, self.list()?))
    }
    /// lxc-monitor keeps no past events: exits while it was down are caught by
    /// berthd's monitor tick.
    fn events(&self, _since: Option<std::time::SystemTime>) -> Result<Followed, RuntimeError> {
        let args = ["-P", &self.lxcpath.display().to_string(), "-n", ".*"].map(String::from);
        Ok(self
            .runner
            .follow(&Invocation::new("lxc-monitor", args, self.command_timeout))?)
    }
    fn parse_exit_event(&self, line: &str) -> Option<(String, Option<i32>)> {
        // 'web' changed state to [STOPPED]
        let rest = line.strip_prefix('\'')?;
        let (name, state) = rest.split_once("' changed state to [")?;
        (state.trim_end_matches(']') == "STOPPED").then(|| (name.to_string(), None))
    }
}

/// Unpacks an LXC bundle (.tar.gz) read from `input` under `dest`; returns the
/// directory holding `config` and `rootfs/` (`dest`, or its one subdirectory).
pub fn unpack_bundle(input: &mut dyn Read, dest: &Path) -> Result<PathBuf, RuntimeError> {
    crate::bundle_unpack::unpack(input, dest, "LXC bundle", |dir| {
        dir.join("config").is_file() && dir.join("rootfs").is_dir()
    })
    .map_err(|e| match e {
        RuntimeError::Archive(why) if why.is_empty() => RuntimeError::Archive(
            "an LXC bundle must hold config and rootfs/ at the top or in one directory".into(),
        ),
        e => e,
    })
}

/// Rewrites a bundle's config for its place: `rootfs` and the console log set by
/// berthd, LXC's own autostart off, /dev populated and ptys (so the console log
/// works), and
/// every network link checked against this host's interfaces.
pub fn rewrite_config(
    text: &str,
    rootfs: &Path,
    console_log: &Path,
    has_interface: impl Fn(&str) -> bool,
) -> Result<String, String> {
    let mut out = String::new();
    let mut types: std::collections::BTreeMap<String, String> = Default::default();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut autodev = false;
    let mut pty = false;
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        if OWN_KEYS.contains(&key) || key.starts_with("lxc.hook.") && key.ends_with("stop") {
            continue;
        }
        if key == "lxc.autodev" {
            autodev = true;
        }
        if key == "lxc.pty.max" {
            pty = true;
        }
        if let Some(rest) = key.strip_prefix("lxc.net.") {
            if let Some(n) = rest.strip_suffix(".type") {
                types.insert(n.to_string(), value.to_string());
            } else if let Some(n) = rest.strip_suffix(".link") {
                links.push((n.to_string(), value.to_string()));
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    for (n, link) in links {
        let kind = types.get(&n).map(String::as_str).unwrap_or("veth");
        if matches!(kind, "veth" | "macvlan" | "ipvlan" | "phys" | "vlan") && !has_interface(&link)
        {
            return Err(format!(
                "config: lxc.net.{n}.link names {link}, which this host does not have (create the bridge, or use lxc.net.{n}.type = none or empty)"
            ));
        }
    }
    for (n, kind) in &types {
        if kind == "veth" && !out.contains(&format!("lxc.net.{n}.link")) {
            return Err(format!(
                "config: lxc.net.{n} is a veth without a link (bridge)"
            ));
        }
    }
    out.push_str("# set by berthd\n");
    out.push_str(&format!("lxc.rootfs.path = dir:{}\n", rootfs.display()));
    out.push_str(&format!(
        "lxc.console.logfile = {}\n",
        console_log.display()
    ));
    // berthd empties the console log as it moves the output into the container's
    // log; while berthd is not there, LXC keeps it bounded.
    out.push_str("lxc.console.size = 2MB\n");
    out.push_str("lxc.start.auto = 0\n");
    // The console log needs a populated /dev and ptys (else the init's output is lost).
    if !autodev {
        out.push_str("lxc.autodev = 1\n");
    }
    if !pty {
        out.push_str("lxc.pty.max = 16\n");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_rewritten_for_its_place_and_a_missing_bridge_is_named() {
        let text = "lxc.uts.name = web\nlxc.rootfs.path = dir:/old/rootfs\nlxc.start.auto = 1\nlxc.net.0.type = none\nlxc.init.cmd = /bin/sh /init.sh\n";
        let out = rewrite_config(
            text,
            Path::new("/w/lxc/web/rootfs"),
            Path::new("/w/logs/web.log"),
            |_| false,
        )
        .unwrap();
        assert!(out.contains("lxc.rootfs.path = dir:/w/lxc/web/rootfs\n"));
        assert!(!out.contains("/old/rootfs"));
        assert!(out.contains("lxc.start.auto = 0\n") && !out.contains("lxc.start.auto = 1"));
        assert!(out.contains("lxc.console.logfile = /w/logs/web.log\n"));
        assert!(out.contains("lxc.console.size = 2MB\n"));
        assert!(out.contains("lxc.init.cmd = /bin/sh /init.sh\n"));
        let bridged = "lxc.net.0.type = veth\nlxc.net.0.link = lxcbr0\n";
        let err = rewrite_config(bridged, Path::new("/r"), Path::new("/l"), |_| false).unwrap_err();
        assert!(err.contains("lxcbr0"), "{err}");
        assert!(
            rewrite_config(bridged, Path::new("/r"), Path::new("/l"), |i| i == "lxcbr0").is_ok()
        );
    }

    #[test]
    fn statistics_of_many_containers_take_one_command_once_their_pids_are_known() {
        // Three running "containers" whose init is this test process (its cgroup is
        // real), and a stopped one.
        let me = std::process::id();
        let lxcpath = tempfile::tempdir().unwrap();
        for id in ["a", "b", "c", "d"] {
            std::fs::create_dir_all(lxcpath.path().join(id)).unwrap();
            std::fs::write(lxcpath.path().join(id).join("config"), "").unwrap();
        }
        let runner = Arc::new(crate::testkit::RecordingRunner::default());
        runner.answer_always("lxc-ls", &[], "a\nb\nc\n");
        runner.answer_always("lxc-info", &[], &format!("{me}\n"));
        let lxc = Lxc::new(
            runner.clone(),
            lxcpath.path().into(),
            Duration::from_secs(1),
        );
        let ids: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        for round in 1..=2 {
            let stats = lxc.stats_many(&ids).unwrap();
            let names: Vec<&str> = stats.iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!(names, ["a", "b", "c"], "the stopped one has no statistics");
            for (_, s) in &stats {
                // (pids is 0 here: this process sits in the pids root, which counts none)
                assert!(s.memory_bytes > 0 && s.memory_limit_bytes > 0, "{s:?}");
            }
            let calls: Vec<String> = runner.calls().into_iter().map(|c| c.program).collect();
            let expected: Vec<&str> = if round == 1 {
                // The pids are learnt once...
                vec!["lxc-ls", "lxc-info", "lxc-info", "lxc-info"]
            } else {
                // ...then a tick is one lxc-ls.
                vec!["lxc-ls", "lxc-info", "lxc-info", "lxc-info", "lxc-ls"]
            };
            assert_eq!(calls, expected, "round {round}");
        }
    }

    #[test]
    fn monitor_lines_tell_stops() {
        let lxc = Lxc::new(
            Arc::new(crate::SystemRunner),
            "/w/lxc".into(),
            Duration::from_secs(1),
        );
        assert_eq!(
            lxc.parse_exit_event("'web' changed state to [STOPPED]"),
            Some(("web".into(), None))
        );
        assert_eq!(
            lxc.parse_exit_event("'web' changed state to [RUNNING]"),
            None
        );
        assert_eq!(lxc.parse_exit_event("garbage"), None);
    }
}
