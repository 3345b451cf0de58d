//! An image as a docker-archive written to a stream, for a consumer that must know
//! the archive's size before its first byte (a package's tar entry): skopeo's layout
//! (config `<hex>.json`, each layer uncompressed as `<diff_id hex>.tar`,
//! `manifest.json` last, as berthd's streaming loader wants it), with no file in
//! between. A layer's uncompressed size is in no standard descriptor field: a layer
//! berth built declares it (`manifest::LAYER_UNCOMPRESSED_SIZE`), and `write` checks
//! the declared size and the diff_id as it inflates the layer into the stream (a wrong
//! annotation fails the archive). Any other layer is inflated once by `plan`, checked
//! against its diff_id and kept in an unnamed spool file that `write` copies from,
//! while the spools fit in `SpoolLimit`; past it (or when the spool's disk fails) the
//! layer is only counted and inflated again by `write`. Every layer is inflated once
//! either way unless the spool limit is reached.

use super::docker_archive::{synthesised_manifest, tag_of};
use super::tar_out::header;
use crate::copy::chosen::{read_image, ChosenImage};
use crate::copy::engine::digest;
use crate::copy::Source;
use crate::digest::{Digest, VerifyingReader};
use crate::error::ImageError;
use crate::platform::Platform;
use crate::reference::RegistryRef;
use crate::{layer, manifest, pipe};
use berth_format::archive::DockerImage;
use oci_spec::image::Descriptor;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

/// Where `plan` keeps inflated layers, and how many bytes at most.
#[derive(Debug, Clone)]
pub struct SpoolLimit {
    pub dir: std::path::PathBuf,
    pub max_bytes: u64,
}

/// One distinct layer of the archive.
#[derive(Debug)]
struct PlannedLayer {
    descriptor: Descriptor,
    diff_id: Digest,
    size: u64,
    /// Its content, inflated and checked by `plan` (unnamed: gone with the plan).
    spooled: Option<File>,
}

/// What the archive will hold, with its exact size.
#[derive(Debug)]
pub struct ArchivePlan {
    config: (Digest, Vec<u8>),
    layers: Vec<PlannedLayer>,
    manifest_json: Vec<u8>,
    /// The archive's size in bytes.
    pub size: u64,
    /// The digest skopeo gives the archive's image (its synthesised manifest's).
    pub digest: Digest,
    /// The platform chosen from an index, if the source was one.
    pub platform: Option<String>,
}

fn member_len(size: u64) -> u64 {
    512 + size.next_multiple_of(512)
}

/// Reads the image's manifest and config and learns each layer's uncompressed size:
/// declared, or by inflating it into a spool within `spool` (or only counting it).
pub fn plan(
    source: &dyn Source,
    platform: Option<&Platform>,
    name: Option<&RegistryRef>,
    spool: Option<&SpoolLimit>,
) -> Result<ArchivePlan, ImageError> {
    let ChosenImage {
        platform,
        what,
        manifest: image,
        config: config_bytes,
        diff_ids,
        ..
    } = read_image(source, platform)?;
    let config_digest = digest(image.config())?;
    let mut layers: Vec<PlannedLayer> = Vec::new();
    let mut size = member_len(config_bytes.len() as u64);
    let mut spool_left = spool.map_or(0, |s| s.max_bytes);
    for (d, diff_id) in image.layers().iter().zip(&diff_ids) {
        if layers.iter().any(|l| &l.diff_id == diff_id) {
            continue; // the same layer twice: one member, listed twice
        }
        let (n, spooled) = match manifest::declared_uncompressed_size(d) {
            Some(n) => (n, None),
            None => {
                let fail = || ImageError::io(format!("{what}: layer {}", d.digest()));
                let plain = layer::decompressed_send(source.blob(d)?).map_err(fail())?;
                let mut checked = VerifyingReader::new(plain, diff_id.clone(), None);
                let dir = spool.map(|s| s.dir.as_path());
                let mut out = Spool::new(dir, spool_left);
                let n = io::copy(&mut checked, &mut out).map_err(fail())?;
                let spooled = out.finish();
                if spooled.is_some() {
                    spool_left -= n;
                }
                (n, spooled)
            }
        };
        size += member_len(n);
        layers.push(PlannedLayer {
            descriptor: d.clone(),
            diff_id: diff_id.clone(),
            size: n,
            spooled,
        });
    }
    let entry = DockerImage {
        config: format!("{}.json", config_digest.hex()),
        repo_tags: Some(name.into_iter().map(tag_of).collect()),
        layers: diff_ids
            .iter()
            .map(|d| format!("{}.tar", d.hex()))
            .collect(),
    };
    let manifest_json = serde_json::to_vec(&[entry]).expect("json serialises");
    size += member_len(manifest_json.len() as u64) + 1024;
    let sizes: Vec<(Digest, u64)> = diff_ids
        .iter()
        .map(|d| {
            let n = layers
                .iter()
                .find(|l| &l.diff_id == d)
                .map_or(0, |l| l.size);
            (d.clone(), n)
        })
        .collect();
    let digest = Digest::of(&synthesised_manifest(
        (&config_digest, config_bytes.len() as u64),
        &sizes,
    ));
    Ok(ArchivePlan {
        config: (config_digest, config_bytes),
        layers,
        manifest_json,
        size,
        digest,
        platform,
    })
}

fn entry(out: &mut dyn Write, name: &str, size: u64) -> io::Result<()> {
    out.write_all(header(name, size, tar::EntryType::Regular)?.as_bytes())
}

fn pad(out: &mut dyn Write, size: u64) -> io::Result<()> {
    out.write_all(&[0u8; 512][..(size.next_multiple_of(512) - size) as usize])
}

/// Writes the archive `plan` describes: exactly `plan.size` bytes, or an error (a
/// layer that changed since the plan, or whose content is not its diff_id's).
pub fn write(
    plan: &ArchivePlan,
    source: &dyn Source,
    out: &mut dyn Write,
) -> Result<(), ImageError> {
    let fail = |what: &str| ImageError::io(format!("{}: {what}", source.name()));
    let (config_digest, config) = &plan.config;
    let name = format!("{}.json", config_digest.hex());
    entry(out, &name, config.len() as u64).map_err(fail("config"))?;
    out.write_all(config).map_err(fail("config"))?;
    pad(out, config.len() as u64).map_err(fail("config"))?;
    for layer in &plan.layers {
        let (d, diff_id, size) = (&layer.descriptor, &layer.diff_id, &layer.size);
        let what = format!("layer {}", d.digest());
        entry(out, &format!("{}.tar", diff_id.hex()), *size).map_err(fail(&what))?;
        if let Some(mut spooled) = layer.spooled.as_ref() {
            // Checked against its diff_id when spooled; berth's own unnamed file since.
            spooled.rewind().map_err(fail(&what))?;
            let copied = io::copy(&mut spooled.take(*size), out).map_err(fail(&what))?;
            if copied != *size {
                return Err(ImageError::format(what, "the spool file was cut short"));
            }
            pad(out, *size).map_err(fail(&what))?;
            continue;
        }
        let mut plain = layer::decompressed_send(source.blob(d)?).map_err(fail(&what))?;
        // Two stages on two cores: fetching and inflating in one thread, hashing the
        // diff_id and writing in this one.
        let copied = pipe::pipelined(&mut plain, |plain| {
            let mut checked = VerifyingReader::new(plain, diff_id.clone(), Some(*size));
            io::copy(&mut checked, out)
        })
        .map_err(fail(&what))?;
        if copied != *size {
            return Err(ImageError::format(
                what,
                format!("inflated to {copied} bytes, {size} before"),
            ));
        }
        pad(out, *size).map_err(fail(&what))?;
    }
    entry(out, "manifest.json", plan.manifest_json.len() as u64).map_err(fail("manifest.json"))?;
    out.write_all(&plan.manifest_json)
        .map_err(fail("manifest.json"))?;
    pad(out, plan.manifest_json.len() as u64).map_err(fail("manifest.json"))?;
    out.write_all(&[0u8; 1024]).map_err(fail("end"))?;
    out.flush().map_err(fail("end"))
}

/// Keeps what is written in an unnamed file under `dir` while it stays within `max`
/// bytes and the disk takes it; then only counts (`finish` gives no file).
struct Spool {
    file: Option<io::BufWriter<File>>,
    left: u64,
}

impl Spool {
    fn new(dir: Option<&Path>, max: u64) -> Spool {
        let file = dir
            .filter(|_| max > 0)
            .and_then(|dir| tempfile::tempfile_in(dir).ok())
            .map(|f| io::BufWriter::with_capacity(1 << 20, f));
        Spool { file, left: max }
    }

    fn finish(self) -> Option<File> {
        self.file?.into_inner().ok()
    }
}

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(file) = &mut self.file {
            let fits = buf.len() as u64 <= self.left;
            if !fits || file.write_all(buf).is_err() {
                self.file = None; // over the limit, or the disk is full: count only
            } else {
                self.left -= buf.len() as u64;
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
