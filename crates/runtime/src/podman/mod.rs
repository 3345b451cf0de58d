//! The podman driver: `podman` with `--format json` where it reads state.

use crate::args::name_arg;
use crate::command::{CommandError, CommandRunner, ExecOutcome, Followed, Invocation};
use crate::{
    ContainerState, ImageHealthcheck, ImageStore, LoadedImage, Runtime, RuntimeError, Stats,
};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub struct Podman {
    pub(crate) runner: Arc<dyn CommandRunner>,
    pub(crate) program: String,
    command_timeout: Duration,
    pub(crate) load_timeout: Duration,
}

impl Podman {
    pub fn new(
        runner: Arc<dyn CommandRunner>,
        command_timeout: Duration,
        load_timeout: Duration,
    ) -> Self {
        Podman {
            runner,
            program: "podman".into(),
            command_timeout,
            load_timeout,
        }
    }

    fn run(&self, args: Vec<String>, timeout: Duration) -> Result<String, CommandError> {
        self.runner
            .run(&Invocation::new(&self.program, args, timeout))
    }

    pub(crate) fn cmd(&self, args: &[&str]) -> Result<String, RuntimeError> {
        Ok(self.run(
            args.iter().map(|s| s.to_string()).collect(),
            self.command_timeout,
        )?)
    }
}

/// How often a create whose image lookup failed is tried again.
const CREATE_RETRIES: u32 = 3;

fn is_missing(e: &CommandError) -> bool {
    // podman says "no container with name or ID ... found: no such container" (start,
    // stop) or "inspecting object: no such container X" (inspect).
    matches!(e, CommandError::Failed { stderr, .. } if stderr.to_ascii_lowercase().contains("no such container"))
}

impl ImageStore for Podman {
    fn load_image(&self, archive: &Path) -> Result<Vec<String>, RuntimeError> {
        let args = vec![
            "load".into(),
            "-q".into(),
            "-i".into(),
            archive.to_string_lossy().into_owned(),
        ];
        let out = self.run(args, self.load_timeout)?;
        // "Loaded image: localhost/a:1" or "Loaded image(s): a:1,b:2"
        let images: Vec<String> = out
            .lines()
            .filter_map(|l| {
                l.split_once(": ")
                    .filter(|(k, _)| k.starts_with("Loaded image"))
            })
            .flat_map(|(_, refs)| refs.split(',').map(|r| r.trim().to_string()))
            .filter(|r| !r.is_empty())
            .collect();
        if images.is_empty() {
            return Err(RuntimeError::Output {
                runtime: "podman",
                what: "load".into(),
                why: format!("no image reported in {:?}", out.trim()),
            });
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
        let out = self.cmd(&["info", "--format", "{{.Store.GraphRoot}}"])?;
        Ok(PathBuf::from(out.trim()))
    }
    fn save_images(&self, images: &[String], to: &Path) -> Result<(), RuntimeError> {
        let mut args: Vec<String> = ["save", "-q", "-m", "--format", "docker-archive", "-o"]
            .map(String::from)
            .into();
        args.push(to.to_string_lossy().into_owned());
        args.extend(images.iter().cloned());
        self.run(args, self.load_timeout).map(drop)?;
        Ok(())
    }
    fn remove_image(&self, reference: &str) -> Result<(), RuntimeError> {
        self.cmd(&["rmi", reference]).map(drop)
    }
    fn discard_image(&self, names: &[String]) -> Result<(), RuntimeError> {
        // Never `rmi -f`: forced, podman also removes every container using the
        // image. By name, the last name's removal removes the image. The transient
        // name goes last, and only once the others are gone: it is what marks the
        // image as one to clean up, should this be cut short.
        let mut ordered: Vec<&String> = names.iter().collect();
        ordered.sort_by_key(|n| crate::stream_load::is_transient_name(n));
        for name in ordered {
            let mut attempt = 0;
            loop {
                match self.cmd(&["rmi", name]) {
                    Ok(_) => break,
                    // podman fails now and then while another process changes images
                    Err(_) if attempt < 2 => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(300));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }
    fn untag(&self, id: &str, name: &str) -> Result<(), RuntimeError> {
        self.cmd(&["untag", id, name]).map(drop)
    }
    fn image_size(&self, image: &str) -> Result<u64, RuntimeError> {
        let out = self.cmd(&["image", "inspect", "--format", "{{.Size}}", image])?;
        crate::parse_image_size("podman", image, &out)
    }
    fn image_healthcheck(&self, image: &str) -> Result<Option<ImageHealthcheck>, RuntimeError> {
        let out = self.cmd(&[
            "image",
            "inspect",
            "--format",
            "{{json .HealthCheck}}",
            image,
        ])?;
        crate::parse_image_healthcheck("podman", &out)
    }
    /// conmon writes the k8s-file format straight into the log file.
    fn log_options(&self, log_file: &Path, cap: u64) -> Vec<String> {
        vec![
            "--log-driver".into(),
            "k8s-file".into(),
            "--log-opt".into(),
            format!("path={}", log_file.display()),
            "--log-opt".into(),
            format!("max-size={cap}"),
        ]
    }
    fn images(&self) -> Result<Vec<(String, Vec<String>)>, RuntimeError> {
        let out = self.cmd(&["images", "-a", "--format", "json"])?;
        let v: Value = serde_json::from_str(&out).map_err(|e| RuntimeError::Output {
            runtime: "podman",
            what: "images".into(),
            why: e.to_string(),
        })?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| {
                let id = i.get("Id")?.as_str()?.to_string();
                let names = i
                    .get("Names")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect();
                Some((id, names))
            })
            .collect())
    }
}

impl crate::stream_load::PullEngine for Podman {
    fn engine(&self) -> &'static str {
        "podman"
    }
    /// containers/image reads them (podman 4.3 here does).
    fn reads_zstd_layers(&self) -> bool {
        true
    }
    fn load_timeout(&self) -> Duration {
        self.load_timeout
    }
    fn pull_loopback(
        &self,
        reference: &str,
        timeout: Duration,
        staging: &Path,
    ) -> Result<String, RuntimeError> {
        let mut inv = Invocation::new(
            &self.program,
            ["pull", "-q", "--tls-verify=false", reference],
            timeout,
        );
        inv.env
            .push(("TMPDIR".into(), staging.to_string_lossy().into_owned()));
        let out = self.runner.run(&inv)?;
        let id = out.trim().lines().last().unwrap_or_default().to_string();
        if !berth_format::digest::is_sha256_hex(&id) {
            return Err(RuntimeError::Output {
                runtime: "podman",
                what: "pull".into(),
                why: format!("no image id in {:?}", out.trim()),
            });
        }
        Ok(id)
    }
    fn has_image(&self, id: &str) -> bool {
        self.cmd(&["image", "exists", id]).is_ok()
    }
    fn tag(&self, id: &str, reference: &str) -> Result<(), RuntimeError> {
        self.cmd(&["tag", id, reference]).map(drop)
    }
}

impl Runtime for Podman {
    fn name(&self) -> &'static str {
        "podman"
    }

    fn exec(
        &self,
        id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError> {
        crate::hung_exec::engine_exec(self, self.runner.as_ref(), &self.program, id, argv, timeout)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), RuntimeError> {
        self.cmd(&["rename", from, to]).map(drop)
    }

    fn stats(&self, id: &str) -> Result<Stats, RuntimeError> {
        let out = match self.cmd(&[
            "stats",
            "--no-stream",
            "--format",
            "{{json .ContainerStats}}",
            id,
        ]) {
            Ok(out) => out,
            Err(RuntimeError::Command(e)) if is_missing(&e) => {
                return Err(RuntimeError::NoSuchContainer(id.into()))
            }
            Err(e) => return Err(e),
        };
        parse_stats(id, &out)
    }

    fn list(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let out = self.cmd(&["ps", "-a", "--format", "json"])?;
        parse_ps(&out)
    }

    fn storage_only(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let out = self.cmd(&["ps", "-a", "--external", "--format", "json"])?;
        let mut all = parse_ps(&out)?;
        all.retain(|c| c.status == "storage");
        Ok(all)
    }

    fn stats_many(&self, ids: &[String]) -> Result<Vec<(String, Stats)>, RuntimeError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec![
            "stats".to_string(),
            "--no-stream".into(),
            "--format".into(),
            "{{json .ContainerStats}}".into(),
        ];
        args.extend(ids.iter().cloned());
        let out = self.run(args, self.command_timeout)?;
        out.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let name = serde_json::from_str::<Value>(line)
                    .ok()
                    .and_then(|v| v.get("Name").and_then(Value::as_str).map(String::from))
                    .unwrap_or_default();
                parse_stats(&name, line).map(|s| (name, s))
            })
            .collect()
    }

    fn events(&self, since: Option<std::time::SystemTime>) -> Result<Followed, RuntimeError> {
        let mut args: Vec<String> = [
            "events",
            "--format",
            "json",
            "--filter",
            "type=container",
            "--filter",
            "event=died",
        ]
        .map(String::from)
        .to_vec();
        if let Some(since) = since {
            // podman keeps past events: a restarted stream replays what it missed.
            args.push("--since".into());
            args.push(humantime::format_rfc3339_seconds(since).to_string());
        }
        Ok(self
            .runner
            .follow(&Invocation::new(&self.program, args, self.command_timeout))?)
    }

    fn parse_exit_event(&self, line: &str) -> Option<(String, Option<i32>)> {
        let v: Value = serde_json::from_str(line).ok()?;
        if v.get("Status").and_then(Value::as_str) != Some("died") {
            return None;
        }
        let name = v.get("Name")?.as_str()?.to_string();
        let code = v
            .get("ContainerExitCode")
            .and_then(Value::as_i64)
            .map(|c| c as i32);
        Some((name, code))
    }

    fn create(&self, id: &str, create_args: &[String]) -> Result<(), RuntimeError> {
        let mut args: Vec<String> = vec!["create".into()];
        match name_arg(create_args) {
            // The container's name is its berth id; a matching --name is kept as given.
            Some(name) if name == id => {}
            Some(name) => {
                return Err(RuntimeError::Output {
                    runtime: "podman",
                    what: format!("create {id}"),
                    why: format!("create_args names the container {name:?}, but its id is {id:?}"),
                })
            }
            None => args.extend(["--name".to_string(), id.to_string()]),
        }
        // berthd is the only one restarting containers; the image is the one the
        // package brought, never one fetched from a registry.
        args.push("--restart=no".into());
        args.push("--pull=never".into());
        args.extend(create_args.iter().cloned());
        // podman's image lookup can miss an image that is there while another process
        // removes an image (docs/architecture.md, "podman's storage races"): "image
        // not known" is asked again, a few times.
        let mut attempt = 0;
        loop {
            match self.run(args.clone(), self.command_timeout) {
                Err(CommandError::Failed { stderr, .. })
                    if stderr.contains("image not known") && attempt < CREATE_RETRIES =>
                {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(300));
                }
                result => return result.map(drop).map_err(Into::into),
            }
        }
    }

    fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.cmd(&["start", id]).map(drop).map_err(|e| match e {
            RuntimeError::Command(c) if is_missing(&c) => RuntimeError::NoSuchContainer(id.into()),
            e => e,
        })
    }

    fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let secs = grace.as_secs().to_string();
        let args = vec!["stop".into(), "-t".into(), secs, id.into()];
        self.run(args, grace.saturating_add(self.command_timeout))
            .map(drop)
            .map_err(|e| {
                if is_missing(&e) {
                    RuntimeError::NoSuchContainer(id.into())
                } else {
                    e.into()
                }
            })
    }

    fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        self.cmd(&["rm", "-f", id]).map(drop)
    }

    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        let out = match self.cmd(&["inspect", "--type", "container", "--format", "json", id]) {
            Ok(out) => out,
            Err(RuntimeError::Command(e)) if is_missing(&e) => {
                return Err(RuntimeError::NoSuchContainer(id.into()))
            }
            Err(e) => return Err(e),
        };
        parse_inspect(id, &out)
    }
}

/// `Pid` of podman's JSON (ps and inspect name it alike); 0 means none.
fn pid_of(v: &Value) -> Option<u32> {
    v.get("Pid")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0)
        .map(|p| p as u32)
}

/// `ExitCode`, meaningful only once the container is not running.
fn exit_code_of(v: &Value, running: bool) -> Option<i32> {
    if running {
        return None;
    }
    v.get("ExitCode").and_then(Value::as_i64).map(|c| c as i32)
}

fn labels(v: Option<&Value>) -> std::collections::BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect()
}

/// `podman ps -a --format json`: every container's state in one call.
fn parse_ps(out: &str) -> Result<Vec<ContainerState>, RuntimeError> {
    let value: Value = serde_json::from_str(out).map_err(|e| RuntimeError::Output {
        runtime: "podman",
        what: "ps".into(),
        why: e.to_string(),
    })?;
    let list = value.as_array().cloned().unwrap_or_default();
    Ok(list
        .iter()
        .filter_map(|c| {
            let id = c.get("Names")?.as_array()?.first()?.as_str()?.to_string();
            let status = c
                .get("State")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            let running = status == "running";
            let started = c
                .get("StartedAt")
                .and_then(Value::as_i64)
                .filter(|t| *t > 0);
            Some(ContainerState {
                id,
                running,
                pid: pid_of(c),
                exit_code: exit_code_of(c, running),
                started_at: started.map(|t| {
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + Duration::from_secs(t as u64),
                    )
                    .to_string()
                }),
                image: c.get("ImageID").and_then(Value::as_str).map(String::from),
                labels: labels(c.get("Labels")),
                status,
                log_path: None,
            })
        })
        .collect())
}

/// One line of `podman stats --format '{{json .ContainerStats}}'`: numbers, not the
/// human strings of `--format json`.
fn parse_stats(id: &str, out: &str) -> Result<Stats, RuntimeError> {
    let bad = |why: String| RuntimeError::Output {
        runtime: "podman",
        what: format!("stats {id}"),
        why,
    };
    let line = out
        .lines()
        .find(|l| !l.trim().is_empty())
        .ok_or_else(|| bad("no output".into()))?;
    let v: Value = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
    let n = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    Ok(Stats {
        cpu_percent: v.get("CPU").and_then(Value::as_f64).unwrap_or(0.0),
        memory_bytes: n("MemUsage"),
        memory_limit_bytes: n("MemLimit"),
        net_rx_bytes: n("NetInput"),
        net_tx_bytes: n("NetOutput"),
        block_read_bytes: n("BlockInput"),
        block_write_bytes: n("BlockOutput"),
        pids: n("PIDs"),
    })
}

fn parse_inspect(id: &str, out: &str) -> Result<ContainerState, RuntimeError> {
    let bad = |why: &str| RuntimeError::Output {
        runtime: "podman",
        what: format!("inspect {id}"),
        why: why.into(),
    };
    let value: Value = serde_json::from_str(out).map_err(|e| bad(&e.to_string()))?;
    let first = value
        .as_array()
        .and_then(|a| a.first())
        .ok_or_else(|| bad("an empty list"))?;
    let state = first.get("State").ok_or_else(|| bad("no State"))?;
    let running = state
        .get("Running")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ContainerState {
        id: id.into(),
        status: state
            .get("Status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .into(),
        running,
        pid: pid_of(state),
        exit_code: exit_code_of(state, running),
        started_at: state
            .get("StartedAt")
            .and_then(Value::as_str)
            .map(String::from),
        image: first.get("Image").and_then(Value::as_str).map(String::from),
        labels: labels(first.get("Config").and_then(|c| c.get("Labels"))),
        log_path: None,
    })
}

#[cfg(test)]
mod tests;
