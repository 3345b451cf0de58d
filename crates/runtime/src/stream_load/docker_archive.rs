//! The docker-archive loader: each digest-named layer goes from the stream into the
//! engine as one step image; at the end each image of `manifest.json` is pulled from
//! its streamed, spooled or in-memory layers.

use super::{archive_error, read_error, safe_relative, Loader, Spooled, FINAL_REPO, STEP_REPO};
use crate::loopback_registry::{self, Blob, Image};
use crate::RuntimeError;
use berth_format::archive::DockerImage;
use berth_format::stream::HashingReader;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};

impl Loader<'_> {
    pub(super) fn stream_layer(
        &mut self,
        name: String,
        digest: String,
        size: u64,
        entry: &mut dyn Read,
    ) -> Result<(), RuntimeError> {
        if self.chain.iter().any(|(d, _)| *d == digest) {
            self.streamed.insert(name, digest);
            return Ok(()); // the same layer twice in one archive
        }
        self.chain.push((digest.clone(), size));
        let diff_ids: Vec<&str> = self.chain.iter().map(|(d, _)| d.as_str()).collect();
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": berth_format::arch::host_go_arch(),
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .expect("JSON of strings");
        let config_digest = loopback_registry::sha256_digest(&config);
        let mut image = Image {
            manifest: loopback_registry::manifest(
                (&config_digest, config.len() as u64),
                &self.chain,
            ),
            manifest_type: berth_format::media_type::DOCKER_MANIFEST.into(),
            blobs: HashMap::from([
                (config_digest, Blob::Bytes(config)),
                (
                    digest.clone(),
                    Blob::Stream {
                        reader: entry,
                        size,
                    },
                ),
            ]),
        };
        let step = self.chain.len().to_string();
        let (_, reference) = self.pull(STEP_REPO, &step, &mut image)?;
        self.steps.push(reference);
        self.streamed.insert(name, digest);
        Ok(())
    }

    /// Keeps an entry that cannot be streamed under the staging directory, with its
    /// digest and size for the loopback registry.
    pub(super) fn spool(&mut self, name: String, entry: &mut dyn Read) -> Result<(), RuntimeError> {
        let rel = safe_relative(&name)
            .ok_or_else(|| archive_error(format!("entry {name:?}: not a plain relative path")))?;
        let path = self.staging.join("tree").join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(RuntimeError::Scratch)?;
        }
        let mut file = File::create(&path).map_err(RuntimeError::Scratch)?;
        let mut hashing = HashingReader::new(entry);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            // Read and write errors apart: the stream's are the input's, the file's
            // are the scratch space's.
            let n = match hashing.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e)),
            };
            file.write_all(&buf[..n]).map_err(RuntimeError::Scratch)?;
        }
        let (digest, size) = hashing.finish();
        let digest = digest.to_string();
        self.spooled.insert(name, Spooled { path, digest, size });
        Ok(())
    }

    pub(super) fn pull_final(&mut self, n: usize, entry: &DockerImage) -> Result<(), RuntimeError> {
        let config = match self.small.get(&entry.config) {
            Some(bytes) => bytes.clone(),
            None => {
                return Err(archive_error(format!(
                    "manifest.json names config {}, which the archive does not hold",
                    entry.config
                )))
            }
        };
        let config_digest = loopback_registry::sha256_digest(&config);
        let mut layers = Vec::new();
        let mut blobs: HashMap<String, Blob<'_>> = HashMap::new();
        for layer in &entry.layers {
            let resolved = self.links.get(layer).unwrap_or(layer);
            if let Some(digest) = self.streamed.get(resolved) {
                let size = self
                    .chain
                    .iter()
                    .find(|(d, _)| d == digest)
                    .map_or(0, |(_, s)| *s);
                layers.push((digest.clone(), size));
            } else if let Some(sp) = self.spooled.get(resolved) {
                layers.push((sp.digest.clone(), sp.size));
                blobs.insert(sp.digest.clone(), Blob::File(sp.path.clone()));
            } else if let Some(bytes) = self.small.get(resolved) {
                let digest = loopback_registry::sha256_digest(bytes);
                layers.push((digest.clone(), bytes.len() as u64));
                blobs.insert(digest, Blob::Bytes(bytes.clone()));
            } else {
                return Err(archive_error(format!(
                    "manifest.json names layer {layer}, which the archive does not hold"
                )));
            }
        }
        let manifest = loopback_registry::manifest((&config_digest, config.len() as u64), &layers);
        blobs.insert(config_digest.clone(), Blob::Bytes(config));
        let mut image = Image {
            manifest,
            manifest_type: berth_format::media_type::DOCKER_MANIFEST.into(),
            blobs,
        };
        let existed = self.exists(&config_digest);
        let (id, temporary) = self.pull(FINAL_REPO, &n.to_string(), &mut image)?;
        self.name(id, entry.tags().to_vec(), &temporary, existed)
    }
}
