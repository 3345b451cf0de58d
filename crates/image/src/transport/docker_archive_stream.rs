//! An image as a docker-archive written to a stream, for a consumer that must know
//! the archive's size before its first byte (a package's tar entry): skopeo's layout
//! (config `<hex>.json`, each layer uncompressed as `<diff_id hex>.tar`,
//! `manifest.json` last, as berthd's streaming loader wants it), with no file in
//! between. A layer's uncompressed size is in no standard descriptor field: a layer
//! berth built declares it (`manifest::LAYER_UNCOMPRESSED_SIZE`), so the archive is
//! made in one pass; any other layer is inflated once by `plan` to count it (on every
//! core for berth's gzip) and again by `write`. `write` checks every layer's size and
//! diff_id as it inflates it, so a wrong annotation fails the archive.

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
use std::io::{self, Write};

/// What the archive will hold, with its exact size.
#[derive(Debug, Clone)]
pub struct ArchivePlan {
    config: (Digest, Vec<u8>),
    /// Per distinct layer: its descriptor, diff_id and uncompressed size.
    layers: Vec<(Descriptor, Digest, u64)>,
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

/// Reads the image's manifest and config and counts each layer's uncompressed bytes.
pub fn plan(
    source: &dyn Source,
    platform: Option<&Platform>,
    name: Option<&RegistryRef>,
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
    let mut layers: Vec<(Descriptor, Digest, u64)> = Vec::new();
    let mut size = member_len(config_bytes.len() as u64);
    for (d, diff_id) in image.layers().iter().zip(&diff_ids) {
        if layers.iter().any(|(_, seen, _)| seen == diff_id) {
            continue; // the same layer twice: one member, listed twice
        }
        let n = match manifest::declared_uncompressed_size(d) {
            Some(n) => n,
            None => {
                let mut plain = layer::decompressed_send(source.blob(d)?)
                    .map_err(ImageError::io(format!("{what}: layer {}", d.digest())))?;
                io::copy(&mut plain, &mut io::sink())
                    .map_err(ImageError::io(format!("{what}: layer {}", d.digest())))?
            }
        };
        size += member_len(n);
        layers.push((d.clone(), diff_id.clone(), n));
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
            let n = layers.iter().find(|l| &l.1 == d).map_or(0, |l| l.2);
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
    for (d, diff_id, size) in &plan.layers {
        let what = format!("layer {}", d.digest());
        entry(out, &format!("{}.tar", diff_id.hex()), *size).map_err(fail(&what))?;
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
