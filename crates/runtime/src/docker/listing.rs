//! Docker's containers as berthd lists them each monitor tick: one `docker ps` of
//! ids, names and states, and a `docker container inspect` only of the containers
//! that are new or whose name, state or init process changed since the last listing
//! (Docker's CLI costs ~20 ms of CPU a call; the answer for a container is ~8 KiB).

use super::{bare, output, Docker};
use crate::{ContainerState, RuntimeError};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// A container as the last listing left it: what `docker ps` said of it, and its
/// inspected state with its init process's start time (a pid reused by another
/// process is not taken for it).
#[derive(Clone)]
pub(super) struct Known {
    name: String,
    ps_state: String,
    state: ContainerState,
    started: Option<u64>,
}

impl Docker {
    /// Every container, from `docker ps` and the cache; a container removed between
    /// `ps` and `inspect` fails the inspect, and the pair is tried again.
    pub(super) fn listing(&self) -> Result<Vec<ContainerState>, RuntimeError> {
        let mut attempt = 0;
        loop {
            let out = self.cmd(&[
                "ps",
                "-a",
                "--no-trunc",
                "--format",
                "{{.ID}}\t{{.Names}}\t{{.State}}",
            ])?;
            let rows: Vec<(&str, &str, &str)> = out
                .lines()
                .filter_map(|l| {
                    let mut f = l.split('\t');
                    Some((f.next()?, f.next()?, f.next()?))
                })
                .collect();
            let mut cache = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let stale: Vec<String> = rows
                .iter()
                .filter(|(id, name, state)| {
                    cache.get(*id).is_none_or(|k| {
                        k.name != *name
                            || k.ps_state != *state
                            || k.state
                                .pid
                                .is_some_and(|pid| crate::cgroup::process_start(pid) != k.started)
                    })
                })
                .map(|(id, ..)| id.to_string())
                .collect();
            if !stale.is_empty() {
                match self.inspect_by_id(&stale) {
                    Ok(fresh) => {
                        for (id, state) in fresh {
                            let Some((_, name, ps_state)) = rows.iter().find(|r| r.0 == id) else {
                                continue;
                            };
                            let started = state.pid.and_then(crate::cgroup::process_start);
                            cache.insert(
                                id.clone(),
                                Known {
                                    name: name.to_string(),
                                    ps_state: ps_state.to_string(),
                                    state,
                                    started,
                                },
                            );
                        }
                    }
                    Err(_) if attempt < 2 => {
                        attempt += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            cache.retain(|id, _| rows.iter().any(|r| r.0 == id));
            return Ok(rows
                .iter()
                .filter_map(|(id, ..)| cache.get(*id).map(|k| k.state.clone()))
                .collect());
        }
    }

    /// `docker container inspect` of the containers with these Docker ids.
    fn inspect_by_id(&self, ids: &[String]) -> Result<Vec<(String, ContainerState)>, RuntimeError> {
        let mut args = vec!["container".to_string(), "inspect".into()];
        args.extend(ids.iter().cloned());
        let out = self.run(args, self.command_timeout)?;
        parse_inspect_with_ids(&out)
    }

    /// The init pids of running containers by name, as the last listing saw them.
    pub(super) fn cached_pids(&self) -> HashMap<String, u32> {
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|k| k.state.running)
            .filter_map(|k| Some((k.state.id.clone(), k.state.pid?)))
            .collect()
    }
}

/// What berthd reads of `docker container inspect`. Typed, so the rest of Docker's
/// large answer (~8 KiB a container) is skipped while parsing, not built as values:
/// the monitor tick parses it for every container.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    id: String,
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
pub(super) fn parse_inspect(out: &str) -> Result<Vec<ContainerState>, RuntimeError> {
    Ok(parse_inspect_with_ids(out)?
        .into_iter()
        .map(|(_, c)| c)
        .collect())
}

/// The same, each with its Docker id.
fn parse_inspect_with_ids(out: &str) -> Result<Vec<(String, ContainerState)>, RuntimeError> {
    let list: Vec<Inspected> =
        serde_json::from_str(out).map_err(|e| output("inspect", e.to_string()))?;
    Ok(list
        .into_iter()
        .map(|c| {
            let running = c.state.running;
            let state = ContainerState {
                id: c.name.trim_start_matches('/').to_string(),
                status: c.state.status.unwrap_or_else(|| "unknown".into()),
                running,
                pid: (c.state.pid > 0).then_some(c.state.pid as u32),
                exit_code: c.state.exit_code.filter(|_| !running).map(|c| c as i32),
                started_at: c.state.started_at.filter(|s| !s.starts_with("0001-")),
                image: c.image.as_deref().map(bare),
                labels: c.config.and_then(|c| c.labels).unwrap_or_default(),
                log_path: c.log_path.filter(|p| !p.is_empty()).map(PathBuf::from),
            };
            (c.id, state)
        })
        .collect())
}
