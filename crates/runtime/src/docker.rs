//! The Docker Engine driver: the `docker` CLI with JSON output (`{{json .}}`, which
//! Debian's 20.10 CLI and newer ones both print). Images are loaded layer by layer
//! through the loopback registry (`stream_load`), which dockerd trusts without TLS
//! (127.0.0.0/8 is an insecure registry by default). Statistics are read from the
//! containers' cgroups, as for LXC: `docker stats --no-stream` takes two seconds and
//! prints rounded human units. Output goes to Docker's json-file log, which berthd
//! moves into the container's log under its working path.

use crate::args::name_arg;
use crate::command::{CommandError, CommandRunner, Followed, Invocation};
use crate::{ContainerState, ImageStore, LoadedImage, Runtime, RuntimeError, Stats};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Docker {
    runner: Arc<dyn CommandRunner>,
    program: String,
    command_timeout: Duration,
    load_timeout: Duration,
    sampler: crate::cgroup::Sampler,
    /// Each container's init pid as the last listing saw it, for statistics.
    pids: Mutex<HashMap<String, u32>>,
}

impl Docker {
    pub fn new(
        runner: Arc<dyn CommandRunner>,
        command_timeout: Duration,
        load_timeout: Duration,
    ) -> Self {
        Docker {
            runner,
            program: "docker".into(),
            command_timeout,
            load_timeout,
            sampler: crate::cgroup::Sampler::default(),
            pids: Mutex::new(HashMap::new()),
        }
    }

    fn run(&self, args: Vec<String>, timeout: Duration) -> Result<String, CommandError> {
        self.runner
            .run(&Invocation::new(&self.program, args, timeout))
    }

    fn cmd(&self, args: &[&str]) -> Result<String, RuntimeError> {
        Ok(self.run(
            args.iter().map(|s| s.to_string()).collect(),
            self.command_timeout,
        )?)
    }

    /// A command on one container; Docker's "No such container" becomes
    /// `NoSuchContainer`.
    fn on_container(
        &self,
        id: &str,
        args: Vec<String>,
        timeout: Duration,
    ) -> Result<String, RuntimeError> {
        self.run(args, timeout).map_err(|e| {
            if is_missing(&e) {
                RuntimeError::NoSuchContainer(id.into())
            } else {
                e.into()
            }
        })
    }

    /// `docker container inspect` of `ids`, parsed.
    fn inspect(&self, ids: &[String]) -> Result<Vec<ContainerState>, RuntimeError> {
        let mut args = vec!["container".to_string(), "inspect".into()];
        args.extend(ids.iter().cloned());
        let out = self.run(args, self.command_timeout)?;
        parse_inspect(&out)
    }

    /// The tags of image `reference` (an id or a name).
    fn tags_of(&self, reference: &str) -> Result<Vec<String>, RuntimeError> {
        let out = self.cmd(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoTags}}",
            reference,
        ])?;
        Ok(serde_json::from_str::<Option<Vec<String>>>(out.trim())
            .map_err(|e| output("image inspect", e.to_string()))?
            .unwrap_or_default())
    }
}

fn output(what: &str, why: String) -> RuntimeError {
    RuntimeError::Output {
        runtime: "docker",
        what: what.into(),
        why,
    }
}

fn is_missing(e: &CommandError) -> bool {
    // "Error response from daemon: No such container: web", "Error: No such container: web"
    matches!(e, CommandError::Failed { stderr, .. } if stderr.to_ascii_lowercase().contains("no such container"))
}

/// Docker's ids carry their algorithm (`sha256:…`); berth's are bare hex, as podman's.
fn bare(id: &str) -> String {
    id.trim_start_matches("sha256:").to_string()
}

impl ImageStore for Docker {
    fn load_image(&self, archive: &Path) -> Result<Vec<String>, RuntimeError> {
        let args = vec!["load".into(), "-i".into(), archive.display().to_string()];
        let out = self.run(args, self.load_timeout)?;
        // "Loaded image: localhost/a:1", or "Loaded image ID: sha256:…" when untagged
        let images: Vec<String> = out
            .lines()
            .filter_map(|l| l.split_once(": "))
            .filter(|(k, _)| k.starts_with("Loaded image"))
            .map(|(_, r)| r.trim().to_string())
            .collect();
        if images.is_empty() {
            return Err(output(
                "load",
                format!("no image reported in {:?}", out.trim()),
            ));
        }
        Ok(images)
    }
    fn load_stream(
        &self,
        input: &mut dyn Read,
        staging: &Path,
        label: &str,
    ) -> Result<Vec<LoadedImage>, RuntimeError> {
        crate::stream_load::load_stream(self, input, staging, label)
    }
    fn storage_root(&self) -> Result<PathBuf, RuntimeError> {
        let out = self.cmd(&["info", "--format", "{{.DockerRootDir}}"])?;
        Ok(PathBuf::from(out.trim()))
    }
    /// By its tags, never forced: the last tag's removal removes the image, unless a
    /// container uses it (then Docker refuses, and it stays).
    fn remove_image(&self, reference: &str) -> Result<(), RuntimeError> {
        let tags = self.tags_of(reference)?;
        if tags.is_empty() || tags.iter().any(|t| t == reference) {
            return self.cmd(&["rmi", reference]).map(drop);
        }
        for tag in &tags {
            self.cmd(&["rmi", tag])?;
        }
        Ok(())
    }
    fn discard_image(&self, names: &[String]) -> Result<(), RuntimeError> {
        // The transient name last: it marks the image as one to clean up.
        let mut ordered: Vec<&String> = names.iter().collect();
        ordered.sort_by_key(|n| crate::stream_load::is_transient_name(n));
        for name in ordered {
            self.cmd(&["rmi", name])?;
        }
        Ok(())
    }
    /// Docker's json-file log (in its own directory; berthd moves what it holds into
    /// `log_file`), capped in MiB.
    fn log_options(&self, _log_file: &Path, cap: u64) -> Vec<String> {
        vec![
            "--log-driver".into(),
            "json-file".into(),
            "--log-opt".into(),
            format!("max-size={}m", (cap >> 20).max(1)),
        ]
    }
    /// `docker rmi NAME` of an image with another name, or in use, drops the name only.
    fn untag(&self, _id: &str, name: &str) -> Result<(), RuntimeError> {
        self.cmd(&["rmi", name]).map(drop)
    }
    fn images(&self) -> Result<Vec<(String, Vec<String>)>, RuntimeError> {
        let out = self.cmd(&["image", "ls", "-a", "--no-trunc", "--format", "{{json .}}"])?;
        let mut images: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for line in out.lines().filter(|l| !l.trim().is_empty()) {
            let v: Value =
                serde_json::from_str(line).map_err(|e| output("image ls", e.to_string()))?;
            let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
            let names = images.entry(bare(field("ID"))).or_default();
            if field("Repository") != "<none>" && field("Tag") != "<none>" {
                names.push(format!("{}:{}", field("Repository"), field("Tag")));
            }
        }
        Ok(images.into_iter().collect())
    }
}

impl crate::stream_load::PullEngine for Docker {
    fn engine(&self) -> &'static str {
        "docker"
    }
    fn load_timeout(&self) -> Duration {
        self.load_timeout
    }
    /// dockerd keeps its own scratch files (under its root): `staging` is unused.
    fn pull_loopback(
        &self,
        reference: &str,
        timeout: Duration,
        _staging: &Path,
    ) -> Result<String, RuntimeError> {
        self.run(vec!["pull".into(), "-q".into(), reference.into()], timeout)?;
        let out = self.cmd(&["image", "inspect", "--format", "{{.Id}}", reference])?;
        let id = bare(out.trim());
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(output("pull", format!("no image id in {:?}", out.trim())));
        }
        Ok(id)
    }
    fn has_image(&self, id: &str) -> bool {
        self.cmd(&["image", "inspect", "--format", "{{.Id}}", id])
            .is_ok()
    }
    fn tag(&self, id: &str, reference: &str) -> Result<(), RuntimeError> {
        self.cmd(&["tag", id, reference]).map(drop)
    }
}

impl Runtime for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn keeps_own_logs(&self) -> bool {
        true
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), RuntimeError> {
        self.on_container(
            from,
            vec!["rename".into(), from.into(), to.into()],
            self.command_timeout,
        )
        .map(drop)
    }

    fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
        let state = self.state(id)?;
        self.stats_many(&[id.to_string()])?
            .pop()
            .map(|(_, s)| s)
            .ok_or_else(|| {
                output(
                    &format!("statistics of {id}"),
                    format!("it is {}", state.status),
                )
            })
    }

    /// `docker ps` for the ids, then one `docker container inspect` of them all. A
    /// container removed between the two fails the inspect: the pair is tried again.
    fn list(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let mut attempt = 0;
        loop {
            let out = self.cmd(&["ps", "-aq", "--no-trunc"])?;
            let ids: Vec<String> = out.split_whitespace().map(String::from).collect();
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            match self.inspect(&ids) {
                Ok(all) => {
                    let mut pids = self.pids.lock().unwrap_or_else(|p| p.into_inner());
                    pids.clear();
                    pids.extend(all.iter().filter_map(|c| Some((c.id.clone(), c.pid?))));
                    return Ok(all);
                }
                Err(_) if attempt < 2 => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Docker has no containers apart from the ones it lists.
    fn storage_only(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        Ok(Vec::new())
    }

    /// Read from the cgroups of the containers' init processes; their pids come from
    /// the last listing (one `docker container inspect` for the ones it lacks).
    fn stats_many(&self, ids: &[String]) -> Result<Vec<(String, Stats)>, RuntimeError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let known: HashMap<String, u32> =
            self.pids.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !known.contains_key(*id))
            .cloned()
            .collect();
        let mut pids = known;
        if !missing.is_empty() {
            for c in self.inspect(&missing).unwrap_or_default() {
                if let Some(pid) = c.pid {
                    pids.insert(c.id, pid);
                }
            }
        }
        let wanted: Vec<(String, u32)> = ids
            .iter()
            .filter_map(|id| Some((id.clone(), *pids.get(id)?)))
            .collect();
        Ok(self.sampler.stats(&wanted, &|id| pids.contains_key(id)))
    }

    fn events(&self, since: Option<std::time::SystemTime>) -> Result<Followed, RuntimeError> {
        let mut args: Vec<String> = [
            "events",
            "--format",
            "{{json .}}",
            "--filter",
            "type=container",
            "--filter",
            "event=die",
        ]
        .map(String::from)
        .to_vec();
        if let Some(since) = since {
            // dockerd keeps past events: a restarted stream replays what it missed.
            let secs = since
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            args.push("--since".into());
            args.push(secs.to_string());
        }
        Ok(self
            .runner
            .follow(&Invocation::new(&self.program, args, self.command_timeout))?)
    }

    fn parse_exit_event(&self, line: &str) -> Option<(String, Option<i32>)> {
        let v: Value = serde_json::from_str(line).ok()?;
        let action = v.get("Action").or_else(|| v.get("status"))?.as_str()?;
        if action != "die" {
            return None;
        }
        let attributes = v.get("Actor")?.get("Attributes")?;
        let name = attributes.get("name")?.as_str()?.to_string();
        let code = attributes
            .get("exitCode")
            .and_then(Value::as_str)
            .and_then(|c| c.parse().ok());
        Some((name, code))
    }

    fn create(&self, id: &str, create_args: &[String]) -> Result<(), RuntimeError> {
        let mut args: Vec<String> = vec!["create".into()];
        match name_arg(create_args) {
            Some(name) if name == id => {}
            Some(name) => {
                return Err(output(
                    &format!("create {id}"),
                    format!("create_args names the container {name:?}, but its id is {id:?}"),
                ))
            }
            None => args.extend(["--name".to_string(), id.to_string()]),
        }
        // berthd is the only one restarting containers; the image is the package's.
        args.push("--restart=no".into());
        args.push("--pull=never".into());
        args.extend(create_args.iter().cloned());
        self.run(args, self.command_timeout)
            .map(drop)
            .map_err(Into::into)
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.on_container(id, vec!["start".into(), id.into()], self.command_timeout)
            .map(drop)
    }

    fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let secs = grace.as_secs().to_string();
        let args = vec!["stop".into(), "-t".into(), secs, id.into()];
        self.on_container(id, args, grace.saturating_add(self.command_timeout))
            .map(drop)
    }

    fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.on_container(
            id,
            vec!["rm".into(), "-f".into(), id.into()],
            self.command_timeout,
        )
        .map(drop)
    }

    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let out = self.on_container(
            id,
            vec!["container".into(), "inspect".into(), id.into()],
            self.command_timeout,
        )?;
        parse_inspect(&out)?
            .pop()
            .ok_or_else(|| RuntimeError::NoSuchContainer(id.into()))
    }
}

/// What berthd reads of `docker container inspect`. Typed, so the rest of Docker's
/// large answer (~8 KiB a container) is skipped while parsing, not built as values:
/// the monitor tick parses it for every container.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    name: String,
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    log_path: Option<String>,
    state: InspectedState,
    #[serde(default)]
    config: Option<InspectedConfig>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectedState {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    running: bool,
    #[serde(default)]
    pid: u64,
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    started_at: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectedConfig {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// `docker container inspect`: a JSON array of containers.
fn parse_inspect(out: &str) -> Result<Vec<ContainerState>, RuntimeError> {
    let list: Vec<Inspected> =
        serde_json::from_str(out).map_err(|e| output("inspect", e.to_string()))?;
    Ok(list
        .into_iter()
        .map(|c| {
            let running = c.state.running;
            ContainerState {
                id: c.name.trim_start_matches('/').to_string(),
                status: c.state.status.unwrap_or_else(|| "unknown".into()),
                running,
                pid: (c.state.pid > 0).then_some(c.state.pid as u32),
                exit_code: c.state.exit_code.filter(|_| !running).map(|c| c as i32),
                started_at: c.state.started_at.filter(|s| !s.starts_with("0001-")),
                image: c.image.as_deref().map(bare),
                labels: c.config.and_then(|c| c.labels).unwrap_or_default(),
                log_path: c.log_path.filter(|p| !p.is_empty()).map(PathBuf::from),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::RecordingRunner;

    fn docker() -> (Arc<RecordingRunner>, Docker) {
        let rec = Arc::new(RecordingRunner::default());
        let d = Docker::new(
            rec.clone(),
            Duration::from_secs(30),
            Duration::from_secs(600),
        );
        (rec, d)
    }

    #[test]
    fn create_turns_dockers_restart_off_and_never_pulls() {
        let (rec, d) = docker();
        let args = crate::split_create_args("--init --env 'X=$(reboot)' localhost/app:1").unwrap();
        d.create("web", &args).unwrap();
        assert_eq!(
            rec.calls()[0].args,
            [
                "create",
                "--name",
                "web",
                "--restart=no",
                "--pull=never",
                "--init",
                "--env",
                "X=$(reboot)",
                "localhost/app:1"
            ]
        );
    }

    #[test]
    fn inspect_json_gives_state_labels_image_and_log() {
        let json = r#"[{"Name":"/web","Image":"sha256:abc","LogPath":"/var/lib/docker/containers/1/1-json.log",
            "State":{"Status":"exited","Running":false,"Pid":0,"ExitCode":3,"StartedAt":"2026-01-01T00:00:00Z"},
            "Config":{"Labels":{"berth.id":"web"}}}]"#;
        let s = parse_inspect(json).unwrap().pop().unwrap();
        assert_eq!(
            (
                s.id.as_str(),
                s.status.as_str(),
                s.running,
                s.pid,
                s.exit_code
            ),
            ("web", "exited", false, None, Some(3))
        );
        assert_eq!(s.image.as_deref(), Some("abc"));
        assert_eq!(s.labels["berth.id"], "web");
        assert_eq!(
            s.log_path.unwrap(),
            Path::new("/var/lib/docker/containers/1/1-json.log")
        );
    }

    #[test]
    fn die_events_give_the_name_and_exit_code() {
        let (_, d) = docker();
        let line = r#"{"status":"die","id":"1f","Type":"container","Action":"die","Actor":{"ID":"1f","Attributes":{"exitCode":"137","name":"web"}},"time":1}"#;
        assert_eq!(d.parse_exit_event(line), Some(("web".into(), Some(137))));
        let start = line.replace("\"die\"", "\"start\"");
        assert_eq!(d.parse_exit_event(&start), None);
        assert_eq!(d.parse_exit_event("not json"), None);
    }

    #[test]
    fn a_missing_container_is_told_apart() {
        let (rec, d) = docker();
        rec.answer(
            "docker",
            &["container", "inspect"],
            Err("Error: No such container: web"),
        );
        assert!(matches!(
            d.state("web"),
            Err(RuntimeError::NoSuchContainer(_))
        ));
    }

    #[test]
    fn images_are_grouped_by_id_with_their_names() {
        let (rec, d) = docker();
        rec.answer(
            "docker",
            &["image", "ls"],
            Ok(concat!(
                r#"{"ID":"sha256:aa","Repository":"localhost/app","Tag":"1"}"#,
                "\n",
                r#"{"ID":"sha256:aa","Repository":"app","Tag":"latest"}"#,
                "\n",
                r#"{"ID":"sha256:bb","Repository":"<none>","Tag":"<none>"}"#,
                "\n"
            )),
        );
        assert_eq!(
            d.images().unwrap(),
            [
                (
                    "aa".to_string(),
                    vec!["localhost/app:1".to_string(), "app:latest".into()]
                ),
                ("bb".to_string(), vec![])
            ]
        );
    }
}
