//! The copy itself: choose the manifest, copy config and layers (in parallel where
//! both ends allow), then manifests, then commit.

use super::progress::reporting;
use super::{convert, recompress};
use super::{Dest, Progress, Role, Source, Top};
use crate::digest::Digest;
use crate::error::ImageError;
use crate::layer::Compression;
use crate::layer_format::LayerFormat;
use crate::manifest::{self, Manifest, MAX_CONFIG};
use crate::platform::Platform;
use berth_format::stream::CountingReader;
use oci_spec::image::Descriptor;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    /// The platform to take from an index; `None`: the host's.
    pub platform: Option<Platform>,
    /// Copy a whole index, every platform.
    pub all: bool,
    /// Write layers in this format (skopeo's --dest-compress-format): their digests
    /// change, and manifests are written as OCI's.
    pub recompress: Option<LayerFormat>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct LayerReport {
    pub digest: String,
    pub size: u64,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The destination had it already.
    pub skipped: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CopyReport {
    /// The digest of the source's top manifest or index (what to pin).
    pub source_digest: String,
    /// The digest of what was copied (the chosen platform's manifest, or the index).
    pub digest: String,
    /// The digest a reader of the destination sees (differs only where the format
    /// rewrites manifests: docker-archive).
    pub dest_digest: String,
    pub platform: Option<String>,
    /// The image's config digest (its image id in docker and podman); for an
    /// index copied whole, the last image's.
    pub config_digest: Option<String>,
    pub layers: Vec<LayerReport>,
    /// Bytes of blobs copied (skipped ones not counted).
    pub bytes: u64,
}

/// Copies `source` to `dest`.
pub fn copy(
    source: &dyn Source,
    dest: Box<dyn Dest>,
    options: &CopyOptions,
    progress: &dyn Progress,
) -> Result<CopyReport, ImageError> {
    let top = source.top()?;
    let source_digest = top.digest.to_string();
    let mut report = CopyReport {
        source_digest: source_digest.clone(),
        digest: source_digest,
        dest_digest: String::new(),
        platform: None,
        config_digest: None,
        layers: Vec::new(),
        bytes: 0,
    };
    let what = format!("{} ({})", source.name(), top.digest);
    let chosen = match manifest::parse(&top.bytes, &what)? {
        Manifest::Image(_) => copy_image(source, &*dest, &top, options, progress, &mut report)?,
        Manifest::Index(index) if options.all => {
            if !dest.holds_index() {
                return Err(ImageError::Unsupported {
                    what: dest.name(),
                    why: "holds one image, not an index: choose one with --platform".into(),
                });
            }
            let mut stored = Vec::new();
            for d in index.manifests() {
                let child = child_top(source, d)?;
                stored.push(copy_image(
                    source,
                    &*dest,
                    &child,
                    options,
                    progress,
                    &mut report,
                )?);
            }
            // An image rewritten (recompressed, or made OCI's) changes its digest: the
            // index names the new one, and is OCI's then.
            let top = match dest.oci_only() && convert::needs_oci(&top)
                || stored
                    .iter()
                    .zip(index.manifests())
                    .any(|(s, d)| s.digest.to_string() != d.digest().to_string())
            {
                true => convert::index_to_oci(&top, &stored)?,
                false => top,
            };
            dest.put_manifest(&top.bytes, &top.media_type)?;
            top
        }
        Manifest::Index(_) => {
            let (child, platform) = choose_image(source, top, options.platform.as_ref())?;
            report.platform = platform;
            report.digest = child.digest.to_string();
            copy_image(source, &*dest, &child, options, progress, &mut report)?
        }
    };
    report.dest_digest = dest.commit(&chosen)?.to_string();
    Ok(report)
}

/// The image manifest `top` is, or the one of index `top` for `platform` (default:
/// the host's), with the platform chosen.
pub fn choose_image(
    source: &dyn Source,
    top: Top,
    platform: Option<&Platform>,
) -> Result<(Top, Option<String>), ImageError> {
    let what = format!("{} ({})", source.name(), top.digest);
    let Manifest::Index(index) = manifest::parse(&top.bytes, &what)? else {
        return Ok((top, None));
    };
    let wanted = platform.cloned().unwrap_or_else(Platform::host);
    let platforms: Vec<Option<Platform>> = index
        .manifests()
        .iter()
        .map(manifest::platform_of)
        .collect();
    let Some(i) = wanted.choose(&platforms) else {
        let available: Vec<String> = platforms
            .iter()
            .flatten()
            .map(Platform::to_string)
            .collect();
        return Err(ImageError::NoPlatform {
            image: what,
            wanted,
            available: available.join(", "),
        });
    };
    let child = child_top(source, &index.manifests()[i])?;
    Ok((child, platforms[i].as_ref().map(Platform::to_string)))
}

fn child_top(source: &dyn Source, d: &Descriptor) -> Result<Top, ImageError> {
    let bytes = source.manifest(d)?;
    Ok(Top::new(bytes, Some(d.media_type().to_string())))
}

/// A layer copy's result, once a worker has it: its descriptor at the destination,
/// whether it was skipped, and its compression.
type LayerOutcome = Mutex<Option<Result<(Descriptor, bool, Compression), ImageError>>>;

/// Copies one image's config and layers, then its manifest; returns the manifest as
/// stored (rewritten as OCI's where the destination holds only OCI types).
fn copy_image(
    source: &dyn Source,
    dest: &dyn Dest,
    top: &Top,
    options: &CopyOptions,
    progress: &dyn Progress,
    report: &mut CopyReport,
) -> Result<Top, ImageError> {
    let what = format!("{} ({})", source.name(), top.digest);
    let Manifest::Image(image) = manifest::parse(&top.bytes, &what)? else {
        return Err(ImageError::format(what, "an index inside an index"));
    };
    let config = image.config();
    report.config_digest = Some(config.digest().to_string());
    if config.size() > MAX_CONFIG {
        return Err(ImageError::format(
            what,
            format!("config of {} bytes, more than {MAX_CONFIG}", config.size()),
        ));
    }
    let mut config_bytes = Vec::with_capacity(config.size() as usize);
    source
        .blob(config)?
        .read_to_end(&mut config_bytes)
        .map_err(ImageError::io(format!("{what}: config")))?;
    // An artifact's config need not be an image config: diff ids are only checked
    // where the config has them.
    let diff_ids = manifest::diff_ids(&config_bytes, &what).ok();
    if !dest.has_blob(config)? {
        dest.put_blob(
            config,
            &Role::Config,
            &mut &config_bytes[..],
            source.origin().as_ref(),
        )?;
    }
    let layers = image.layers();
    if let Some(ids) = &diff_ids {
        if ids.len() != layers.len() {
            return Err(ImageError::format(
                what,
                format!(
                    "{} layers but the config lists {} diff_ids",
                    layers.len(),
                    ids.len()
                ),
            ));
        }
    }
    let results: Vec<LayerOutcome> = layers.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let origin = source.origin();
    let workers = source.parallelism().min(dest.parallelism()).clamp(1, 8);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::SeqCst);
        let Some(d) = layers.get(i) else { return };
        let role = Role::Layer {
            index: i,
            diff_id: diff_ids.as_ref().map(|ids| ids[i].clone()),
        };
        let outcome = match options.recompress {
            Some(format) if recompress::is_recompressible(d) => {
                recompress::copy_layer_as(source, dest, d, &role, format, progress)
            }
            _ => copy_blob(source, dest, d, &role, origin.as_ref(), progress)
                .map(|(skipped, compression)| (d.clone(), skipped, compression)),
        };
        let failed = outcome.is_err();
        *results[i].lock().expect("no panics while held") = Some(outcome);
        if failed {
            next.store(layers.len(), Ordering::SeqCst); // the others stop taking work
            return;
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..workers {
            scope.spawn(work);
        }
        work();
    });
    let mut stored_layers = Vec::new();
    for result in results {
        let (d, skipped, compression) = match result.into_inner().expect("no panics while held") {
            Some(outcome) => outcome?,
            None => continue, // not started: an earlier layer failed, reported above
        };
        if !skipped {
            report.bytes += d.size();
        }
        report.layers.push(LayerReport {
            digest: d.digest().to_string(),
            size: d.size(),
            media_type: d.media_type().to_string(),
            skipped,
        });
        stored_layers.push((d, compression));
    }
    let changed = stored_layers
        .iter()
        .zip(layers)
        .any(|((stored, _), d)| stored != d);
    let stored = match changed || dest.oci_only() && convert::needs_oci(top) {
        true => convert::manifest_to_oci(top, &stored_layers)?,
        false => top.clone(),
    };
    dest.put_manifest(&stored.bytes, &stored.media_type)?;
    Ok(stored)
}

/// Copies one blob unless the destination has it; returns whether it was skipped, and
/// the compression its content starts with.
pub(super) fn copy_blob(
    source: &dyn Source,
    dest: &dyn Dest,
    d: &Descriptor,
    role: &Role,
    origin: Option<&(String, String)>,
    progress: &dyn Progress,
) -> Result<(bool, Compression), ImageError> {
    let label = match role {
        Role::Config => "config".to_string(),
        Role::Layer { index, .. } => format!("layer {}", index + 1),
    };
    let handle = progress.started(d, &label);
    if dest.has_blob(d)? {
        progress.finished(handle, true);
        // Only a manifest rewritten as OCI's needs the compression: read its head then.
        let mut head = [0u8; 4];
        let n = match dest.oci_only() {
            true => source.blob(d)?.read(&mut head).unwrap_or(0),
            false => 0,
        };
        return Ok((true, Compression::sniff(&head[..n])));
    }
    if let Some(file) = source.blob_file(d) {
        if dest.link_blob(d, &file, source.blob_files_checked())? {
            progress.finished(handle, false);
            let mut head = [0u8; 4];
            let n = std::fs::File::open(&file)
                .and_then(|mut f| f.read(&mut head))
                .unwrap_or(0);
            return Ok((false, Compression::sniff(&head[..n])));
        }
    }
    let blob = source.blob(d)?;
    // The first bytes that pass tell the content's compression.
    let mut head = Vec::with_capacity(4);
    let mut reader = CountingReader::new(reporting(blob, progress, handle), |chunk: &[u8]| {
        let want = 4usize.saturating_sub(head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..want]);
        Ok(())
    });
    dest.put_blob(d, role, &mut reader, origin)?;
    drop(reader);
    progress.finished(handle, false);
    Ok((false, Compression::sniff(&head)))
}

/// The digest `d` declares, as berth's type.
pub(crate) fn digest(d: &Descriptor) -> Result<Digest, ImageError> {
    Ok(manifest::digest_of(d, "descriptor")?)
}
