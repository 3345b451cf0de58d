//! `docker-archive:FILE[:NAME:TAG]`: `docker save`'s format as skopeo writes it —
//! `manifest.json`, the config as `<hex>.json`, each layer uncompressed as
//! `<diff_id hex>.tar`. Reading synthesises the schema-2 manifest skopeo does (so the
//! digest matches skopeo's); writing decompresses each layer while it streams, checked
//! against the config's diff_id. `FILE.zst` is written zstd-compressed (Isar's form),
//! and compressed archives are read too.

use super::tar_index::TarIndex;
use super::tar_out::{persist, TarOut};
use crate::copy::{engine::digest, Dest, Role, Source, Top};
use crate::digest::{Digest, VerifyingReader};
use crate::error::ImageError;
use crate::manifest::{self, MAX_CONFIG, MAX_MANIFEST};
use crate::reference::RegistryRef;
use crate::{layer, pipe};
use berth_format::archive::{parse_docker_manifest, DockerImage, DOCKER_MANIFEST_FILE};
use berth_fs::AtomicFile;
use oci_spec::image::Descriptor;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The manifest skopeo synthesises for a docker-archive (same fields, same order).
pub fn synthesised_manifest(config: (&Digest, u64), layers: &[(Digest, u64)]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(d, size)| {
            serde_json::json!({"mediaType": manifest::DOCKER_LAYER_GZIP, "size": size, "digest": d.to_string()})
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": manifest::DOCKER_MANIFEST,
        "config": {"mediaType": manifest::DOCKER_CONFIG, "size": config.1, "digest": config.0.to_string()},
        "layers": layers,
    }))
    .expect("json serialises")
}

pub(super) fn tag_of(name: &RegistryRef) -> String {
    let mut n = name.clone();
    n.digest = None;
    n.tag.get_or_insert_with(|| "latest".into());
    n.to_string()
}

pub struct DockerArchiveSource {
    tar: TarIndex,
    label: String,
    config: (String, Digest, u64),
    /// Member, diff_id, size.
    layers: Vec<(String, Digest, u64)>,
    manifest: Vec<u8>,
}

impl DockerArchiveSource {
    pub fn open(
        file: &Path,
        name: Option<&RegistryRef>,
    ) -> Result<DockerArchiveSource, ImageError> {
        let tar = TarIndex::open(file)?;
        let label = format!("docker-archive:{}", file.display());
        let bad = |why: String| ImageError::format(format!("{label}: {DOCKER_MANIFEST_FILE}"), why);
        let entries = parse_docker_manifest(&tar.read(DOCKER_MANIFEST_FILE, MAX_MANIFEST)?)
            .map_err(|e| bad(e.why))?;
        let entry = match name {
            Some(name) => {
                let wanted = tag_of(name);
                entries
                    .iter()
                    .find(|e| {
                        e.tags()
                            .iter()
                            .any(|t| RegistryRef::parse(t).is_ok_and(|r| tag_of(&r) == wanted))
                    })
                    .ok_or_else(|| bad(format!("no image tagged {wanted}")))?
            }
            None if entries.len() == 1 => &entries[0],
            None => {
                return Err(bad(format!(
                    "{} images: name one with docker-archive:FILE:NAME:TAG",
                    entries.len()
                )))
            }
        };
        let config_bytes = tar.read(&entry.config, MAX_CONFIG)?;
        let config_digest = Digest::of(&config_bytes);
        let diff_ids = manifest::diff_ids(&config_bytes, &format!("{label}: {}", entry.config))?;
        if diff_ids.len() != entry.layers.len() {
            return Err(bad(format!(
                "{} layers but the config lists {} diff_ids",
                entry.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (member, diff_id) in entry.layers.iter().zip(diff_ids) {
            let size = tar
                .size(member)
                .ok_or_else(|| bad(format!("no member {member}")))?;
            layers.push((member.clone(), diff_id, size));
        }
        let sizes: Vec<(Digest, u64)> = layers.iter().map(|(_, d, s)| (d.clone(), *s)).collect();
        let manifest = synthesised_manifest((&config_digest, config_bytes.len() as u64), &sizes);
        Ok(DockerArchiveSource {
            config: (
                entry.config.clone(),
                config_digest,
                config_bytes.len() as u64,
            ),
            tar,
            label,
            layers,
            manifest,
        })
    }
}

impl Source for DockerArchiveSource {
    fn name(&self) -> String {
        self.label.clone()
    }
    fn top(&self) -> Result<Top, ImageError> {
        Ok(Top::new(
            self.manifest.clone(),
            Some(manifest::DOCKER_MANIFEST.into()),
        ))
    }
    fn manifest(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        Err(ImageError::format(
            self.name(),
            format!("no manifest {}", d.digest()),
        ))
    }
    fn blob(&self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let wanted = digest(d)?;
        let member = if wanted == self.config.1 {
            &self.config.0
        } else {
            &self
                .layers
                .iter()
                .find(|(_, id, _)| *id == wanted)
                .ok_or_else(|| ImageError::format(self.name(), format!("no blob {wanted}")))?
                .0
        };
        Ok(Box::new(VerifyingReader::new(
            self.tar.member(member)?,
            wanted,
            Some(d.size()),
        )))
    }
}

pub struct DockerArchiveDest {
    file: PathBuf,
    name: Option<RegistryRef>,
    state: Mutex<Written>,
}

struct Written {
    out: TarOut,
    config: Option<(String, Digest, u64)>,
    /// Per layer: member, diff_id, uncompressed size.
    layers: Vec<Option<(String, Digest, u64)>>,
}

impl Written {
    /// The size of layer member `member`, if the archive has it already.
    fn size_of(&self, member: &str) -> Option<u64> {
        self.layers
            .iter()
            .flatten()
            .find(|l| l.0 == member)
            .map(|l| l.2)
    }
}

impl DockerArchiveDest {
    pub fn new(file: &Path, name: Option<RegistryRef>) -> Result<DockerArchiveDest, ImageError> {
        Ok(DockerArchiveDest {
            file: file.to_path_buf(),
            name,
            state: Mutex::new(Written {
                out: TarOut::create(file)?,
                config: None,
                layers: Vec::new(),
            }),
        })
    }

    /// A layer, decompressed and checked against its diff_id. The archive takes one
    /// member at a time: a layer that finds it free streams straight in, the others
    /// are spooled to a temporary file and copied in (in the kernel) once whole, so
    /// that layers decompress in parallel.
    fn put_layer(
        &self,
        index: usize,
        diff_id: Digest,
        content: &mut (dyn Read + Send),
    ) -> Result<(), ImageError> {
        let member = format!("{}.tar", diff_id.hex());
        let mut plain = layer::decompressed_send(content).map_err(ImageError::io(self.name()))?;
        let decompress =
            |plain: &mut (dyn Read + Send),
             sink: &mut dyn FnMut(&mut dyn Read) -> Result<u64, ImageError>| {
                // Two stages on two cores: receiving and decompressing in one thread,
                // hashing the diff_id and writing in this one.
                pipe::pipelined(plain, |plain| {
                    sink(&mut VerifyingReader::new(plain, diff_id.clone(), None))
                })
            };
        let (mut state, size) = match self.state.try_lock() {
            Ok(mut state) => {
                let size = match state.size_of(&member) {
                    Some(size) => size,
                    None => decompress(&mut plain, &mut |r| state.out.add_streamed(&member, r))?,
                };
                (state, size)
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                let mut spool = TarOut::temp_beside(&self.file)?;
                let size = decompress(&mut plain, &mut |r| {
                    let mut w = io::BufWriter::with_capacity(1 << 20, spool.as_file_mut());
                    let n = io::copy(r, &mut w).map_err(ImageError::io(self.name()))?;
                    w.into_inner()
                        .map_err(|e| ImageError::io(self.name())(e.into_error()))?;
                    Ok(n)
                })?;
                let mut state = self.state.lock().expect("unpoisoned");
                if state.size_of(&member).is_none() {
                    state.out.add_file(&member, size, spool.as_file_mut())?;
                }
                (state, size)
            }
            Err(std::sync::TryLockError::Poisoned(_)) => panic!("a writer panicked"),
        };
        if state.layers.len() <= index {
            state.layers.resize(index + 1, None);
        }
        state.layers[index] = Some((member, diff_id, size));
        Ok(())
    }

    fn zstd(&self) -> bool {
        self.file.extension().is_some_and(|e| e == "zst")
    }
}

impl Dest for DockerArchiveDest {
    fn name(&self) -> String {
        format!("docker-archive:{}", self.file.display())
    }
    fn has_blob(&self, _: &Descriptor) -> Result<bool, ImageError> {
        Ok(false) // put_blob skips what the archive has: it knows the member's name
    }
    fn holds_index(&self) -> bool {
        false
    }
    fn parallelism(&self) -> usize {
        2
    }
    fn put_blob(
        &self,
        d: &Descriptor,
        role: &Role,
        content: &mut (dyn Read + Send),
        _: Option<&(String, String)>,
    ) -> Result<(), ImageError> {
        match role {
            Role::Config => {
                let mut state = self.state.lock().expect("unpoisoned");
                let digest = digest(d)?;
                let member = format!("{}.json", digest.hex());
                if !state.out.has(&member) {
                    state.out.add(&member, d.size(), content)?;
                }
                state.config = Some((member, digest, d.size()));
            }
            Role::Layer { index, diff_id } => {
                let diff_id = diff_id.clone().ok_or_else(|| {
                    ImageError::format(self.name(), "the image config lists no diff_ids")
                })?;
                self.put_layer(*index, diff_id, content)?;
            }
        }
        Ok(())
    }
    fn put_manifest(&self, _: &[u8], _: &str) -> Result<(), ImageError> {
        Ok(()) // the archive's manifest.json is written at commit
    }
    fn commit(self: Box<Self>, _: &Top) -> Result<Digest, ImageError> {
        let zstd = self.zstd();
        let name = self.name();
        let mut state = self.state.into_inner().expect("unpoisoned");
        let (config, config_digest, config_size) = state
            .config
            .take()
            .ok_or_else(|| ImageError::format(&name, "no config was written"))?;
        let layers: Vec<(String, Digest, u64)> = state.layers.into_iter().flatten().collect();
        let entry = DockerImage {
            config,
            repo_tags: Some(self.name.iter().map(tag_of).collect()),
            layers: layers.iter().map(|l| l.0.clone()).collect(),
        };
        let bytes = serde_json::to_vec(&[entry]).expect("json serialises");
        state.out.add_bytes(DOCKER_MANIFEST_FILE, &bytes)?;
        let archive = state.out.finish()?;
        if zstd {
            compress(archive)?;
        } else {
            persist(archive)?;
        }
        let sizes: Vec<(Digest, u64)> = layers.into_iter().map(|(_, d, s)| (d, s)).collect();
        Ok(Digest::of(&synthesised_manifest(
            (&config_digest, config_size),
            &sizes,
        )))
    }
}

/// zstd-compresses the finished archive into place (all cores, level 3: zstd's default).
fn compress(plain: AtomicFile) -> Result<(), ImageError> {
    let dest = &plain.path().to_path_buf();
    let out = AtomicFile::create(dest)?;
    let mut encoder = zstd::stream::write::Encoder::new(out, 3).map_err(ImageError::io(dest))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    encoder.multithread(threads).map_err(ImageError::io(dest))?;
    let plain_file = std::fs::File::open(plain.temp_path()).map_err(ImageError::io(dest))?;
    let mut input = io::BufReader::with_capacity(1 << 20, plain_file);
    io::copy(&mut input, &mut encoder).map_err(ImageError::io(dest))?;
    let out = encoder.finish().map_err(ImageError::io(dest))?;
    persist(out)
}
