//! Test doubles shared by every crate's unit tests (feature `testkit`): a command
//! runner that records each invocation and answers from a script, and a runtime with
//! an image store that keeps its containers and images in memory and records every
//! call in order (for tests of install, upgrade and recovery ordering).

use crate::command::{CommandError, CommandRunner, ExecOutcome, Followed, Invocation};
use crate::{
    ContainerState, ImageHealthcheck, ImageStore, LoadedImage, Runtime, RuntimeError, Stats,
};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

type Scripted = (String, Vec<String>, Result<String, String>, bool);

/// Records every invocation; answers a program with the first scripted answer whose
/// program and leading arguments match, else with empty output.
#[derive(Default)]
pub struct RecordingRunner {
    calls: Mutex<Vec<Invocation>>,
    /// (program, leading arguments, answer, answered once only).
    script: Mutex<Vec<Scripted>>,
    /// Lines a `follow` returns (an event stream), by program.
    streams: Mutex<BTreeMap<String, Vec<String>>>,
}

impl RecordingRunner {
    /// Answers `program args...` (a prefix of the call's arguments) with `answer`
    /// (Err: the command failed with that stderr), once.
    pub fn answer(&self, program: &str, args: &[&str], answer: Result<&str, &str>) {
        self.script.lock().unwrap().push((
            program.into(),
            args.iter().map(|a| a.to_string()).collect(),
            answer.map(String::from).map_err(String::from),
            true,
        ));
    }

    /// Answers every call of `program args...` with `output`.
    pub fn answer_always(&self, program: &str, args: &[&str], output: &str) {
        self.script.lock().unwrap().push((
            program.into(),
            args.iter().map(|a| a.to_string()).collect(),
            Ok(output.into()),
            false,
        ));
    }

    /// `follow` of `program` returns these lines, then ends.
    pub fn stream(&self, program: &str, lines: &[&str]) {
        self.streams.lock().unwrap().insert(
            program.into(),
            lines.iter().map(|l| l.to_string()).collect(),
        );
    }

    pub fn calls(&self) -> Vec<Invocation> {
        self.calls.lock().unwrap().clone()
    }

    /// The calls as `program arg arg...` lines.
    pub fn lines(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| {
                std::iter::once(c.program.clone())
                    .chain(c.args.clone())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }
}

impl CommandRunner for RecordingRunner {
    fn run(&self, inv: &Invocation) -> Result<String, CommandError> {
        self.calls.lock().unwrap().push(inv.clone());
        let mut script = self.script.lock().unwrap();
        let found = script
            .iter()
            .position(|(p, a, _, _)| *p == inv.program && inv.args.starts_with(a));
        let answer = found.map(|i| {
            if script[i].3 {
                script.remove(i).2
            } else {
                script[i].2.clone()
            }
        });
        match answer {
            None => Ok(String::new()),
            Some(Ok(out)) => Ok(out),
            Some(Err(stderr)) => Err(CommandError::Failed {
                command: inv.program.clone(),
                status: "exit status: 1".into(),
                stderr,
            }),
        }
    }

    fn follow(&self, inv: &Invocation) -> Result<Followed, CommandError> {
        self.calls.lock().unwrap().push(inv.clone());
        let lines = self
            .streams
            .lock()
            .unwrap()
            .remove(&inv.program)
            .unwrap_or_default();
        Ok(Followed::from_lines(lines.into_iter()))
    }
}

/// A call a caller waits at (`FakeRuntime::pause_at`).
struct Pause {
    line: String,
    reached: SyncSender<()>,
    release: Receiver<()>,
}

/// What `slot` holds, taken out (so: once) when it is for the call `line`.
fn take_at<T>(slot: &Mutex<Option<T>>, line: &str, line_of: impl Fn(&T) -> &str) -> Option<T> {
    let mut slot = slot.lock().unwrap();
    match slot.as_ref() {
        Some(at) if line_of(at) == line => slot.take(),
        _ => None,
    }
}

/// A runtime and image store in memory. Every call is recorded as one line
/// (`create web.berth-new`, `start web`, `rmi <id>`...), in order.
#[derive(Default)]
pub struct FakeRuntime {
    pub containers: Mutex<BTreeMap<String, ContainerState>>,
    /// Image id → names.
    pub images: Mutex<BTreeMap<String, Vec<String>>>,
    calls: Mutex<Vec<String>>,
    /// The arguments of each container's create.
    pub create_args: Mutex<BTreeMap<String, Vec<String>>>,
    /// Calls (by their line's first word and argument, e.g. `start web`) that fail.
    failing: Mutex<Vec<String>>,
    /// The call at which the caller dies (`die_at`).
    dying_at: Mutex<Option<String>>,
    /// The call at which the caller waits (`pause_at`).
    pausing_at: Mutex<Option<Pause>>,
    /// What `exec` in a container answers (exit 0 and no output when not set).
    pub exec_answers: Mutex<BTreeMap<String, ExecOutcome>>,
    /// Images' own HEALTHCHECKs, by image id.
    pub image_healthchecks: Mutex<BTreeMap<String, ImageHealthcheck>>,
}

impl FakeRuntime {
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Makes the call recorded as `line` fail from now on.
    pub fn fail(&self, line: &str) {
        self.failing.lock().unwrap().push(line.into());
    }

    /// The caller "dies" at the call recorded as `line`: a panic in place of the
    /// call, so nothing after it runs (a SIGKILL, as far as the caller's steps go).
    /// Once: the call works after it.
    pub fn die_at(&self, line: &str) {
        *self.dying_at.lock().unwrap() = Some(line.into());
    }

    /// The caller waits at the call recorded as `line`, before it is made: the
    /// first receiver answers once it waits there, and it goes on when the sender
    /// sends or is dropped. Once. For a test to look at what others see meanwhile.
    pub fn pause_at(&self, line: &str) -> (Receiver<()>, SyncSender<()>) {
        let (reached, reached_rx) = sync_channel(1);
        let (release, release_rx) = sync_channel(1);
        *self.pausing_at.lock().unwrap() = Some(Pause {
            line: line.into(),
            reached,
            release: release_rx,
        });
        (reached_rx, release)
    }

    /// The state of a container that must exist.
    pub fn state_of(&self, id: &str) -> ContainerState {
        self.containers.lock().unwrap()[id].clone()
    }

    /// A container as if created and (if `running`) started before.
    pub fn add_container(&self, id: &str, image: &str, running: bool, labels: &[(&str, &str)]) {
        self.containers.lock().unwrap().insert(
            id.into(),
            ContainerState {
                id: id.into(),
                status: if running { "running" } else { "created" }.into(),
                running,
                pid: running.then_some(4242),
                image: Some(image.into()),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                ..Default::default()
            },
        );
    }

    fn record(&self, line: String) -> Result<(), RuntimeError> {
        let dies = take_at(&self.dying_at, &line, |at| at.as_str()).is_some();
        assert!(!dies, "killed at {line}");
        if let Some(p) = take_at(&self.pausing_at, &line, |p| p.line.as_str()) {
            let _ = p.reached.send(());
            let _ = p.release.recv();
        }
        let failing = self.failing.lock().unwrap().contains(&line);
        self.calls.lock().unwrap().push(line.clone());
        if failing {
            return Err(RuntimeError::Output {
                runtime: "fake",
                what: line,
                why: "failing as the test asked".into(),
            });
        }
        Ok(())
    }

    fn with<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut ContainerState) -> T,
    ) -> Result<T, RuntimeError> {
        self.containers
            .lock()
            .unwrap()
            .get_mut(id)
            .map(f)
            .ok_or_else(|| RuntimeError::NoSuchContainer(id.into()))
    }
}

/// The labels of `--label K=V` pairs in create arguments.
fn labels(args: &[String]) -> BTreeMap<String, String> {
    args.windows(2)
        .filter(|w| w[0] == "--label")
        .filter_map(|w| w[1].split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Runtime for FakeRuntime {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn exec(
        &self,
        id: &str,
        argv: &[String],
        _timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError> {
        self.record(format!("exec {id} {}", argv.join(" ")))?;
        if !self.with(id, |c| c.running)? {
            return Ok(ExecOutcome {
                exit_code: 125,
                output: format!("{id} is not running"),
            });
        }
        Ok(self
            .exec_answers
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or(ExecOutcome {
                exit_code: 0,
                output: String::new(),
            }))
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), RuntimeError> {
        self.record(format!("rename {from} {to}"))?;
        let mut all = self.containers.lock().unwrap();
        let mut c = all
            .remove(from)
            .ok_or_else(|| RuntimeError::NoSuchContainer(from.into()))?;
        c.id = to.into();
        all.insert(to.into(), c);
        Ok(())
    }
    fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
        self.with(id, |_| Stats {
            cpu_percent: 0.0,
            memory_bytes: 1,
            memory_limit_bytes: 2,
            net_rx_bytes: 0,
            net_tx_bytes: 0,
            block_read_bytes: 0,
            block_write_bytes: 0,
            pids: 1,
        })
    }
    fn list(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        Ok(self.containers.lock().unwrap().values().cloned().collect())
    }
    fn storage_only(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        Ok(Vec::new())
    }
    fn stats_many(&self, ids: &[String]) -> Result<Vec<(String, Stats)>, RuntimeError> {
        ids.iter()
            .map(|id| Ok((id.clone(), self.stats(id)?)))
            .collect()
    }
    /// Records `events` or `events since`, and streams nothing.
    fn events(&self, since: Option<SystemTime>) -> Result<Followed, RuntimeError> {
        self.record(
            if since.is_some() {
                "events since"
            } else {
                "events"
            }
            .into(),
        )?;
        Ok(Followed::from_lines(std::iter::empty()))
    }
    fn parse_exit_event(&self, line: &str) -> Option<(String, Option<i32>)> {
        let (name, code) = line.strip_prefix("died ")?.split_once(' ')?;
        Some((name.into(), code.parse().ok()))
    }
    fn create(&self, id: &str, create_args: &[String]) -> Result<(), RuntimeError> {
        self.record(format!("create {id}"))?;
        self.create_args
            .lock()
            .unwrap()
            .insert(id.into(), create_args.to_vec());
        let image = create_args
            .iter()
            .rev()
            .find(|a| !a.starts_with('-'))
            .cloned()
            .unwrap_or_default();
        let mut c = ContainerState {
            id: id.into(),
            status: "created".into(),
            image: Some(image),
            labels: labels(create_args),
            ..Default::default()
        };
        // The image by its id, as podman reports it.
        if let Some((image_id, _)) = self.images.lock().unwrap().iter().find(|(i, names)| {
            c.image
                .as_ref()
                .is_some_and(|n| names.contains(n) || *i == n)
        }) {
            c.image = Some(image_id.clone());
        }
        self.containers.lock().unwrap().insert(id.into(), c);
        Ok(())
    }
    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.record(format!("start {id}"))?;
        self.with(id, |c| {
            c.running = true;
            c.status = "running".into();
        })
    }
    fn stop(&self, id: &str, _grace: Duration) -> Result<(), RuntimeError> {
        self.record(format!("stop {id}"))?;
        self.with(id, |c| {
            c.running = false;
            c.status = "exited".into();
        })
    }
    fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.record(format!("rm {id}"))?;
        self.containers
            .lock()
            .unwrap()
            .remove(id)
            .map(drop)
            .ok_or_else(|| RuntimeError::NoSuchContainer(id.into()))
    }
    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        self.with(id, |c| c.clone())
    }
}

impl ImageStore for FakeRuntime {
    fn load_image(&self, _archive: &Path) -> Result<Vec<String>, RuntimeError> {
        Ok(Vec::new())
    }
    /// Reads the archive to its end; loads one image per `RepoTags` of its
    /// manifest.json (id: the config's name without `.json`).
    fn load_stream(
        &self,
        input: &mut dyn Read,
        _staging: &Path,
        label: &str,
    ) -> Result<Vec<LoadedImage>, RuntimeError> {
        let mut archive = tar::Archive::new(input);
        let mut loaded = Vec::new();
        for entry in archive.entries().map_err(RuntimeError::Input)? {
            let mut entry = entry.map_err(RuntimeError::Input)?;
            if entry.path().map_err(RuntimeError::Input)?.as_os_str() != "manifest.json" {
                std::io::copy(&mut entry, &mut std::io::sink()).map_err(RuntimeError::Input)?;
                continue;
            }
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(RuntimeError::Input)?;
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| RuntimeError::Archive(e.to_string()))?;
            for image in v.as_array().into_iter().flatten() {
                let id = image["Config"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches("blobs/sha256/")
                    .trim_end_matches(".json")
                    .to_string();
                let references: Vec<String> = image["RepoTags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect();
                let transient = format!("127.0.0.1:1/berth-load/{label}-{}", loaded.len());
                let new = !self.images.lock().unwrap().contains_key(&id);
                self.record(format!("load {id}"))?;
                let mut names = references.clone();
                names.push(transient.clone());
                self.images
                    .lock()
                    .unwrap()
                    .entry(id.clone())
                    .or_default()
                    .extend(names);
                loaded.push(LoadedImage {
                    id,
                    references,
                    new,
                    transient_name: Some(transient),
                });
            }
        }
        Ok(loaded)
    }
    fn storage_root(&self) -> Result<PathBuf, RuntimeError> {
        Ok(std::env::temp_dir())
    }
    fn remove_image(&self, reference: &str) -> Result<(), RuntimeError> {
        self.record(format!("rmi {reference}"))?;
        let in_use = self
            .containers
            .lock()
            .unwrap()
            .values()
            .any(|c| c.image.as_deref() == Some(reference));
        if !in_use {
            self.images.lock().unwrap().remove(reference);
        }
        Ok(())
    }
    fn discard_image(&self, names: &[String]) -> Result<(), RuntimeError> {
        self.record(format!("discard {}", names.join(",")))?;
        self.images
            .lock()
            .unwrap()
            .retain(|_, n| !n.iter().any(|x| names.contains(x)));
        Ok(())
    }
    fn image_healthcheck(&self, image: &str) -> Result<Option<ImageHealthcheck>, RuntimeError> {
        Ok(self.image_healthchecks.lock().unwrap().get(image).cloned())
    }
    fn untag(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        self.record(format!("untag {name}"))?;
        if let Some(names) = self.images.lock().unwrap().get_mut(id) {
            names.retain(|n| n != name);
        }
        Ok(())
    }
    fn images(&self) -> Result<Vec<(String, Vec<String>)>, RuntimeError> {
        Ok(self
            .images
            .lock()
            .unwrap()
            .iter()
            .map(|(i, n)| (i.clone(), n.clone()))
            .collect())
    }
    fn log_options(&self, log_file: &Path, _cap: u64) -> Vec<String> {
        vec!["--log-opt".into(), format!("path={}", log_file.display())]
    }
}
