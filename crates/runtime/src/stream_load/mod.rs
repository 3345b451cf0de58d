//! Loading an image archive from a stream into an engine (podman, Docker) with the
//! least disk.
//!
//! `podman load` spools its input before it reads it (HOST-NOTES.md: 3× the image
//! from stdin, 2× from a file), and `docker load` unpacks the whole archive into a
//! temporary directory first. Here a docker-archive is read entry by entry, and each
//! layer (`<sha256>.tar`, as podman and skopeo write them) goes straight from the
//! stream into the engine's storage: a pull of a one-step image from the loopback
//! registry in `loopback_registry.rs`, whose config lists the layers so far. Layers already
//! stored are reused by podman, so each step fetches exactly one new layer, and the
//! only extra copy on disk at any time is podman's own temporary copy of that layer.
//! When the archive's `manifest.json` arrives (last, in these archives), the real
//! image is pulled the same way: its layers are all reused, its config and therefore
//! its image id are the original ones, and its names are set from `RepoTags`.
//!
//! Entries that cannot be streamed (a layer not named by its digest, an OCI archive's
//! blobs) are spooled under the staging directory and served from there. Podman's
//! own temporary files go to the staging directory too (TMPDIR), so all of an
//! install's scratch space is on the filesystem berthd checked before it started
//! (Docker's are dockerd's, under its root). The engine's side is `PullEngine`.

use crate::command::CommandError;
use crate::loopback_registry::{self, Image};
use crate::{ImageStore, RuntimeError};
use berth_format::archive::{parse_docker_manifest, DOCKER_MANIFEST_FILE, OCI_LAYOUT_FILE};
use std::collections::HashMap;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// What the loader asks of an image engine besides its image store.
pub trait PullEngine: ImageStore {
    /// The engine's name, for messages.
    fn engine(&self) -> &'static str;
    /// The bound on a whole load.
    fn load_timeout(&self) -> Duration;
    /// Whether the engine pulls zstd layers (`plain_layers` decompresses them
    /// for one that does not).
    fn reads_zstd_layers(&self) -> bool;
    /// Pulls `reference` from the loopback registry (plain HTTP) within `timeout`,
    /// with scratch files under `staging` where the engine lets berthd say; returns
    /// the image id (hex).
    fn pull_loopback(
        &self,
        reference: &str,
        timeout: Duration,
        staging: &Path,
    ) -> Result<String, RuntimeError>;
    /// Whether the engine has the image with this id (hex).
    fn has_image(&self, id: &str) -> bool;
    /// Gives image `id` the name `reference`.
    fn tag(&self, id: &str, reference: &str) -> Result<(), RuntimeError>;
}

/// An image now in the engine's storage.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoadedImage {
    /// The image id (hex of the config's sha256).
    pub id: String,
    /// Its names (`RepoTags`, or the OCI index's ref names).
    pub references: Vec<String>,
    /// False when the engine already had this image before the load: then it is not
    /// the load's to remove.
    pub new: bool,
    /// A new image keeps a transient name (`127.0.0.1:PORT/berth-load/...`) until
    /// the caller commits to it and removes the name (`Runtime::untag`): an image
    /// with such a name after a crash belongs to an install that did not finish.
    pub transient_name: Option<String>,
}

impl LoadedImage {
    /// Every name the image has: its references and its transient name.
    pub fn all_names(&self) -> Vec<String> {
        let mut names = self.references.clone();
        names.extend(self.transient_name.clone());
        names
    }
}

/// Whether an image name is one of the loader's transient names.
pub fn is_transient_name(name: &str) -> bool {
    name.starts_with("127.0.0.1:") && name.contains("/berth-load/")
}

/// JSON files (configs, manifest.json, index.json) are kept in memory up to this size.
const MAX_SMALL_FILE: u64 = 16 * 1024 * 1024;
/// Any file this small is kept in memory (VERSION, json of docker's v1 layout).
const SMALL_ANY_NAME: u64 = 64 * 1024;
/// Repositories on the loopback registry: `berth-load/<label>/step` and `.../image`.
const STEP_REPO: &str = "step";
const FINAL_REPO: &str = "image";

struct Spooled {
    path: PathBuf,
    digest: String,
    size: u64,
}

struct Loader<'p> {
    engine: &'p dyn PullEngine,
    staging: &'p Path,
    /// Names this load's images on the loopback registry (`berth-load/<label>/...`).
    label: String,
    deadline: Instant,
    /// Layers streamed so far, in order: digest and size.
    chain: Vec<(String, u64)>,
    /// Archive name of each streamed layer → its digest.
    streamed: HashMap<String, String>,
    small: HashMap<String, Vec<u8>>,
    spooled: HashMap<String, Spooled>,
    links: HashMap<String, String>,
    /// Names of the images pulled as vehicles for layers; removed at the end.
    steps: Vec<String>,
    /// Images made for the caller; removed too if the load fails.
    loaded: Vec<LoadedImage>,
}

/// Loads the image archive read from `input` into the engine's storage, streaming
/// each layer of a docker-archive without a copy of its own. `staging` is an empty
/// directory for scratch files (the caller removes it); `label` names the transient
/// images (a package id, say). On error, every image and layer this call added is
/// removed again.
pub fn load_stream(
    engine: &dyn PullEngine,
    input: &mut dyn Read,
    staging: &Path,
    label: &str,
) -> Result<Vec<LoadedImage>, RuntimeError> {
    let label: String = label
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '-') => c,
            _ => '-',
        })
        .collect();
    let mut loader = Loader {
        engine,
        staging,
        label: label.trim_matches('-').to_string(),
        deadline: Instant::now() + engine.load_timeout(),
        chain: Vec::new(),
        streamed: HashMap::new(),
        small: HashMap::new(),
        spooled: HashMap::new(),
        links: HashMap::new(),
        steps: Vec::new(),
        loaded: Vec::new(),
    };
    let result = loader.run(input);
    // The step images go whatever happened; their layers stay while the real
    // image uses them.
    // By name, never forced (see `discard_image`).
    for reference in loader.steps.iter().rev() {
        let _ = loader.engine.remove_image(reference);
    }
    match result {
        Ok(()) => Ok(loader.loaded),
        Err(e) => {
            for image in loader.loaded.iter().filter(|i| i.new) {
                let _ = loader.engine.discard_image(&image.all_names());
            }
            Err(e)
        }
    }
}

fn archive_error(why: impl Into<String>) -> RuntimeError {
    RuntimeError::Archive(why.into())
}

/// Reads from the package stream fail as input errors; the tar parser's complaints
/// about the archive's bytes are the archive's fault.
fn read_error(e: io::Error) -> RuntimeError {
    if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::Other {
        // tar reports malformed headers as Other
        archive_error(format!("not a readable tar archive: {e}"))
    } else {
        RuntimeError::Input(e)
    }
}

/// `<64 hex>.tar` at the top of the archive: a layer named by its digest.
fn digest_named_layer(name: &str) -> Option<String> {
    let hex = name.strip_suffix(".tar")?;
    berth_format::digest::is_sha256_hex(hex).then(|| format!("sha256:{hex}"))
}

/// A relative path with plain components only, or None.
fn safe_relative(name: &str) -> Option<PathBuf> {
    let path = Path::new(name);
    let ok = !name.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| path.to_path_buf())
}

/// Resolves `link` (an archive path) relative to the directory holding `from`.
fn resolve_link(from: &str, target: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

impl Loader<'_> {
    fn run(&mut self, input: &mut dyn Read) -> Result<(), RuntimeError> {
        let mut archive = tar::Archive::new(input);
        for entry in archive.entries().map_err(read_error)? {
            let mut entry = entry.map_err(read_error)?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let name = raw
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            let kind = entry.header().entry_type();
            if kind.is_symlink() {
                if let Some(target) = entry.link_name().map_err(read_error)? {
                    let target = resolve_link(&name, &target.to_string_lossy());
                    self.links.insert(name, target);
                }
                continue;
            }
            if !kind.is_file() {
                continue; // directories; anything else is not part of an image
            }
            let size = entry.size();
            if let Some(digest) = digest_named_layer(&name) {
                self.stream_layer(name, digest, size, &mut entry)?;
            } else if size <= SMALL_ANY_NAME
                || name.ends_with(".json")
                || name == "repositories"
                || name == "oci-layout"
            {
                if size > MAX_SMALL_FILE {
                    return Err(archive_error(format!(
                        "{name} is {size} bytes, more than {MAX_SMALL_FILE} for a JSON file"
                    )));
                }
                let mut bytes = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut bytes).map_err(read_error)?;
                self.small.insert(name, bytes);
            } else {
                self.spool(name, &mut entry)?;
            }
        }
        if self.small.contains_key(OCI_LAYOUT_FILE) {
            return self.load_oci_layout();
        }
        let manifest = self
            .small
            .get(DOCKER_MANIFEST_FILE)
            .ok_or_else(|| archive_error("no manifest.json: not a docker-archive"))?;
        let manifest = parse_docker_manifest(manifest).map_err(|e| archive_error(e.to_string()))?;
        for (n, image) in manifest.iter().enumerate() {
            self.pull_final(n, image)?;
        }
        Ok(())
    }

    fn remaining(&self) -> Result<Duration, RuntimeError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(RuntimeError::Command(CommandError::Timeout {
                command: format!("{} load", self.engine.engine()),
                timeout: self.engine.load_timeout(),
            }));
        }
        Ok(left)
    }

    /// Pulls `image` from a loopback registry; returns the image id.
    fn pull(
        &self,
        repo: &str,
        tag: &str,
        image: &mut Image<'_>,
    ) -> Result<(String, String), RuntimeError> {
        let (listener, port) = loopback_registry::bind().map_err(RuntimeError::Input)?;
        let label = if self.label.is_empty() {
            "x"
        } else {
            &self.label
        };
        let reference = format!("127.0.0.1:{port}/berth-load/{label}/{repo}:{tag}");
        let timeout = self.remaining()?;
        let (result, report) = loopback_registry::serve_during(&listener, image, || {
            self.engine.pull_loopback(&reference, timeout, self.staging)
        });
        if let Some(e) = report.source_error {
            return Err(read_error(e));
        }
        Ok((result?, reference))
    }

    /// Whether the engine has the image whose config has this digest.
    fn exists(&self, config_digest: &str) -> bool {
        self.engine
            .has_image(config_digest.trim_start_matches("sha256:"))
    }

    /// Records a loaded image, gives it its names and drops the loopback one.
    fn name(
        &mut self,
        id: String,
        references: Vec<String>,
        temporary: &str,
        existed: bool,
    ) -> Result<(), RuntimeError> {
        self.loaded.push(LoadedImage {
            id: id.clone(),
            references: references.clone(),
            new: !existed,
            transient_name: (!existed).then(|| temporary.to_string()),
        });
        for reference in &references {
            self.engine.tag(&id, reference)?;
        }
        if existed {
            self.engine.untag(&id, temporary)?;
        }
        Ok(())
    }
}

mod docker_archive;
mod oci_layout;
mod plain_layers;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_names_and_links() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_named_layer(&format!("{hex}.tar")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(digest_named_layer(&format!("x/{hex}.tar")), None);
        assert_eq!(digest_named_layer("abc.tar"), None);
        assert_eq!(resolve_link("id/layer.tar", "../abc.tar"), "abc.tar");
        assert_eq!(resolve_link("id/layer.tar", "other.tar"), "id/other.tar");
        assert!(safe_relative("blobs/sha256/ab").is_some());
        assert!(safe_relative("../x").is_none());
        assert!(safe_relative("/etc/x").is_none());
        assert!(safe_relative("a/./b").is_some()); // Path drops the '.'
    }
}
