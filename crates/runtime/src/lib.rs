//! Container runtimes behind one trait (`Runtime`), and image stores behind another
//! (`ImageStore`: podman has one; an LXC bundle carries its root filesystem). Drivers
//! call the runtimes' command-line tools with machine-readable output, pass arguments
//! as argv (never through a shell), and bound every call by a timeout. Side effects
//! go through `CommandRunner`, so unit tests inspect the exact argv with a recording
//! fake.

pub mod args;
pub mod bundle_unpack;
pub mod cgroup;
pub mod command;
pub mod docker;
pub mod hung_exec;
pub mod loopback_registry;
pub mod lxc;
pub mod podman;
pub mod runc;
pub mod stream_load;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use args::{name_arg, split_create_args, CreateArgsError};
pub use command::{
    exec_outcome, CommandError, CommandRunner, ExecOutcome, Followed, Invocation, SystemRunner,
};
pub use docker::Docker;
pub use lxc::Lxc;
pub use podman::Podman;
pub use runc::Runc;
pub use stream_load::LoadedImage;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a runtime reports about one container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ContainerState {
    pub id: String,
    /// The runtime's word: created, running, exited, stopped, paused...
    pub status: String,
    pub running: bool,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub started_at: Option<String>,
    /// The id of the image it runs.
    pub image: Option<String>,
    /// Its labels (berthd marks its containers with `berth.id` and `berth.version`).
    #[serde(skip)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Where the engine itself writes the container's output, when it keeps its own
    /// file (Docker's json-file log) that berthd moves into the container's log.
    #[serde(skip)]
    pub log_path: Option<PathBuf>,
}

/// A container's resource use, as the runtime measures it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub cpu_percent: f64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    pub pids: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("{runtime}: {what}: unexpected output: {why}")]
    Output {
        runtime: &'static str,
        what: String,
        why: String,
    },
    #[error("container {0} does not exist")]
    NoSuchContainer(String),
    #[error(transparent)]
    CreateArgs(#[from] CreateArgsError),
    /// The image archive itself is malformed.
    #[error("image archive: {0}")]
    Archive(String),
    /// Reading the image stream failed (the package, the connection).
    #[error("reading the image stream")]
    Input(#[source] std::io::Error),
    /// Berthd's own scratch space failed (full disk, permissions).
    #[error("writing scratch files")]
    Scratch(#[source] std::io::Error),
}

/// An image's own HEALTHCHECK, as Docker's image config holds it (durations in
/// nanoseconds; 0 means the engine's default).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageHealthcheck {
    /// `["CMD", argv…]`, `["CMD-SHELL", "command"]` or `["NONE"]`.
    #[serde(default)]
    pub test: Vec<String>,
    #[serde(default)]
    pub interval: u64,
    #[serde(default)]
    pub timeout: u64,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub start_period: u64,
}

/// Parses an inspect's `{{.Size}}` answer for `image`.
pub fn parse_image_size(
    runtime: &'static str,
    image: &str,
    out: &str,
) -> Result<u64, RuntimeError> {
    out.trim().parse().map_err(|_| RuntimeError::Output {
        runtime,
        what: format!("the size of image {image}"),
        why: format!("{:?} is not a number", out.trim()),
    })
}

/// Parses an inspect's `{{json …Healthcheck}}` answer: `null` is none.
pub fn parse_image_healthcheck(
    runtime: &'static str,
    out: &str,
) -> Result<Option<ImageHealthcheck>, RuntimeError> {
    serde_json::from_str(out.trim()).map_err(|e| RuntimeError::Output {
        runtime,
        what: "the image's healthcheck".into(),
        why: e.to_string(),
    })
}

/// Where a runtime keeps images (podman's store; an LXC bundle carries its root
/// filesystem and has none).
pub trait ImageStore: Send + Sync {
    /// Loads an image archive; returns the image references it held.
    fn load_image(&self, archive: &Path) -> Result<Vec<String>, RuntimeError>;
    /// Loads an image archive read from a stream, with `staging` for scratch files;
    /// on error nothing it added is left.
    fn load_stream(
        &self,
        input: &mut dyn Read,
        staging: &Path,
        label: &str,
    ) -> Result<Vec<LoadedImage>, RuntimeError>;
    /// Where the runtime keeps images (to check free disk before a load).
    fn storage_root(&self) -> Result<PathBuf, RuntimeError>;
    /// Removes an image unless a container uses it or it has other names.
    fn remove_image(&self, reference: &str) -> Result<(), RuntimeError>;
    /// Removes an image berthd itself just added, by all its names, never by force:
    /// a container that uses it (whatever happened) keeps it.
    fn discard_image(&self, names: &[String]) -> Result<(), RuntimeError>;
    /// Removes one name of an image.
    fn untag(&self, id: &str, name: &str) -> Result<(), RuntimeError>;
    /// Every image: its id and names.
    fn images(&self) -> Result<Vec<(String, Vec<String>)>, RuntimeError>;
    /// The bytes the image takes in the store.
    fn image_size(&self, image: &str) -> Result<u64, RuntimeError> {
        let _ = image;
        Ok(0)
    }
    /// Writes `images` to `to` as one archive whose layers are uncompressed layer
    /// tars (a delta's base: each layer's SHA-256 is its diff_id).
    fn save_images(&self, images: &[String], to: &Path) -> Result<(), RuntimeError> {
        let _ = (images, to);
        Err(RuntimeError::Output {
            runtime: "berthd",
            what: "exporting images".into(),
            why: "this runtime cannot export images".into(),
        })
    }
    /// The image's own HEALTHCHECK, if its config has one.
    fn image_healthcheck(&self, image: &str) -> Result<Option<ImageHealthcheck>, RuntimeError>;
    /// The create options that send a container's output to `log_file` (or, for an
    /// engine that keeps its own files, to one berthd moves there), capped at `cap`
    /// bytes while berthd is not there to rotate it.
    fn log_options(&self, log_file: &Path, cap: u64) -> Vec<String>;
}

/// A runtime with an image store.
pub trait ImageRuntime: Runtime + ImageStore {}

impl<T: Runtime + ImageStore> ImageRuntime for T {}

/// One container runtime. Calls are blocking and bounded by the driver's timeouts.
pub trait Runtime: Send + Sync {
    fn name(&self) -> &'static str;
    fn rename(&self, from: &str, to: &str) -> Result<(), RuntimeError>;
    fn stats(&self, id: &str) -> Result<Stats, RuntimeError>;
    /// Every container the runtime has, in one call (for the monitor tick).
    fn list(&self) -> Result<Vec<ContainerState>, RuntimeError>;
    /// Containers in the runtime's storage that it does not manage: what a `create`
    /// killed half-way leaves (podman's `--external` listing). They hold their image
    /// and their name until removed with `remove`.
    fn storage_only(&self) -> Result<Vec<ContainerState>, RuntimeError>;
    /// Statistics of the given running containers, in one call.
    fn stats_many(&self, ids: &[String]) -> Result<Vec<(String, Stats)>, RuntimeError>;
    /// The runtime's event stream, one line per event as they happen, from `since`
    /// on where the runtime keeps past events (so a restarted stream misses none).
    fn events(&self, since: Option<std::time::SystemTime>) -> Result<Followed, RuntimeError>;
    /// A line of the event stream: the container's name and exit code, if it is an
    /// exit.
    fn parse_exit_event(&self, line: &str) -> Option<(String, Option<i32>)>;
    /// Creates container `id` from `create_args` (already split and checked).
    fn create(&self, id: &str, create_args: &[String]) -> Result<(), RuntimeError>;
    fn start(&self, id: &str) -> Result<(), RuntimeError>;
    fn stop(&self, id: &str, grace: Duration) -> Result<(), RuntimeError>;
    fn remove(&self, id: &str) -> Result<(), RuntimeError>;
    /// The state of `id`, or `NoSuchContainer`.
    fn state(&self, id: &str) -> Result<ContainerState, RuntimeError>;
    /// Runs `argv` inside running container `id` (a health check), killed at
    /// `timeout` (`CommandError::Timeout`); its exit code is the answer.
    fn exec(
        &self,
        id: &str,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutcome, RuntimeError>;
    /// Whether the engine writes containers' output to files of its own
    /// (`ContainerState::log_path`) that berthd moves into their logs.
    fn keeps_own_logs(&self) -> bool {
        false
    }
}
