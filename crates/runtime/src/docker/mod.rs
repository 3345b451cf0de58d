//! The Docker Engine driver: the `docker` CLI with JSON output (`{{json .}}`, which
//! Debian's 20.10 CLI and newer ones both print). Images are loaded layer by layer
//! through the loopback registry (`stream_load`), which dockerd trusts without TLS
//! (127.0.0.0/8 is an insecure registry by default). Statistics are read from the
//! containers' cgroups, as for LXC: `docker stats --no-stream` takes two seconds and
//! prints rounded human units. Output goes to Docker's json-file log, which berthd
//! moves into the container's log under its working path.

use crate::args::name_arg;
use crate::command::{CommandError, CommandRunner, ExecOutcome, Followed, Invocation};
use crate::{
    ContainerState, ImageHealthcheck, ImageStore, LoadedImage, Runtime, RuntimeError, Stats,
};
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
    /// The containers as the last listing saw them, by Docker id (`listing.rs`).
    known: Mutex<HashMap<String, listing::Known>>,
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
            known: Mutex::new(HashMap::new()),
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
    fn save_images(&self, images: &[String], to: &Path) -> Result<(), RuntimeError> {
        let mut args: Vec<String> = vec!["save".into(), "-o".into()];
        args.push(to.to_string_lossy().into_owned());
        args.extend(images.iter().cloned());
        self.run(args, self.load_timeout).map(drop)?;
        Ok(())
    }
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
    fn image_size(&self, image: &str) -> Result<u64, RuntimeError> {
        let out = self.cmd(&["image", "inspect", "--format", "{{.Size}}", image])?;
        crate::parse_image_size("docker", image, &out)
    }
    fn image_healthcheck(&self, image: &str) -> Result<Option<ImageHealthcheck>, RuntimeError> {
        let out = self.cmd(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Healthcheck}}",
            image,
        ])?;
        crate::parse_image_healthcheck("docker", &out)
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
    /// Docker Engine 23 pulls them, 20.10 (Debian 12's) does not: served
    /// uncompressed to any version, which every one reads.
    fn reads_zstd_layers(&self) -> bool {
        false
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
        if !berth_format::digest::is_sha256_hex(&id) {
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
    fn exec(
        &self,
        id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError> {
        crate::hung_exec::engine_exec(self, self.runner.as_ref(), &self.program, id, argv, timeout)
    }

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

    /// One `docker ps`, and an inspect of the containers that changed (`listing.rs`).
    fn list(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        self.listing()
    }

    /// Docker has no containers apart from the ones it lists.
    fn storage_only(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        Ok(Vec::new())
    }

    /// Read from the cgroups of the containers' init processes; their pids come from
    /// the listing (kept from the monitor tick's, or made now).
    fn stats_many(&self, ids: &[String]) -> Result<Vec<(String, Stats)>, RuntimeError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pids = self.cached_pids();
        if ids.iter().any(|id| !pids.contains_key(id)) {
            self.listing()?;
            pids = self.cached_pids();
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
        listing::parse_inspect(&out)?
            .pop()
            .ok_or_else(|| RuntimeError::NoSuchContainer(id.into()))
    }
}

mod listing;

#[cfg(test)]
mod tests;
