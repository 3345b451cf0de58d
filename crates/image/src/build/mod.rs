//! `berth image build`: an image from a root filesystem, in process and
//! reproducibly — one layer of the whole rootfs, or named layers
//! (meta-virtualization's `OCI_LAYERS`, `select`), on top of a base image or not,
//! with a config from options (`config`). Layers are written as deterministic tars
//! (`layer_tar`) and compressed on every core, gzip in parallel 1 MiB blocks
//! (berth-compress, as packages are) or zstd (`layer_format`), whose output is the
//! same for any thread count: so is the digest.
//! The image is assembled in a temporary OCI layout and copied to its destination
//! by the copy engine.

pub mod cache;
pub mod config;
pub mod layer_tar;
pub mod rpmdb;
pub mod select;
mod writeback;
pub mod xattrs;

pub use config::ConfigOptions;
pub use select::{LayerKind, LayerSpec};

use crate::copy::{copy, CopyOptions, Dest, NoProgress, Source};
use crate::digest::{Digest, HashingWriter};
use crate::error::ImageError;
use crate::layer_format::LayerFormat;
use crate::layout::{descriptor, Layout};
use crate::manifest::{self, Manifest, MAX_CONFIG};
use crate::platform::Platform;
use crate::transport::{LayoutDest, OciSource};
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Debug, Clone)]
pub struct BuildSpec {
    pub rootfs: PathBuf,
    pub layers: Vec<LayerSpec>,
    pub rest_layer: Option<String>,
    pub config: ConfigOptions,
    /// Seconds since 1970: mtimes are clamped to it and it is the image's date
    /// (`SOURCE_DATE_EPOCH`; 0 when unset).
    pub epoch: i64,
    pub threads: usize,
    /// How the layers are compressed (gzip or zstd, and the level).
    pub format: LayerFormat,
    /// The layer cache's directory; `None`: no cache.
    pub cache: Option<PathBuf>,
    /// Bytes the cache keeps at most (least recently used entries go first).
    pub cache_max: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BuiltLayer {
    pub name: String,
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    /// The tar's length (unknown for a layer from an older cache entry).
    #[serde(skip)]
    pub uncompressed_size: Option<u64>,
    pub cached: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildReport {
    pub digest: String,
    pub base_layers: usize,
    pub layers: Vec<BuiltLayer>,
}

/// Builds the image and copies it to `dest`.
pub fn build(
    spec: &BuildSpec,
    base: Option<&dyn Source>,
    dest: Box<dyn Dest>,
) -> Result<BuildReport, ImageError> {
    let work = tempfile::Builder::new()
        .prefix("berth-build-")
        .tempdir()
        .map_err(ImageError::io(std::env::temp_dir()))?;
    let layout_dir = work.path().join("layout");
    let layout = Layout::create(&layout_dir)?;
    let platform = Platform {
        os: spec.config.os.clone(),
        architecture: spec.config.architecture.clone(),
        variant: spec.config.variant.clone(),
    };

    // The base: copied into the work layout, its manifest and config read back.
    let (mut layers, base_config) = match base {
        None => (Vec::new(), None),
        Some(source) => {
            let options = CopyOptions {
                platform: Some(platform),
                ..CopyOptions::default()
            };
            let report = copy(
                source,
                Box::new(LayoutDest::new(&layout_dir, Some("base".into()))?),
                &options,
                &NoProgress,
            )?;
            let digest: Digest = report
                .dest_digest
                .parse()
                .map_err(|e| ImageError::format("base", format!("{e}")))?;
            let bytes = layout.read_blob(&digest, manifest::MAX_MANIFEST)?;
            let Manifest::Image(m) = manifest::parse(&bytes, &source.name())? else {
                return Err(ImageError::format(source.name(), "the base is an index"));
            };
            let config_digest = manifest::digest_of(m.config(), "base")?;
            let config: serde_json::Value = serde_json::from_slice(
                &layout.read_blob(&config_digest, MAX_CONFIG)?,
            )
            .map_err(|e| ImageError::format(format!("{}: config", source.name()), e.to_string()))?;
            (m.layers().clone(), Some(config))
        }
    };
    let base_layers = layers.len();

    let cache = spec
        .cache
        .as_deref()
        .map(|dir| cache::Cache::open(dir, spec.cache_max))
        .transpose()?;
    let selection = select::select(&spec.rootfs, &spec.layers, spec.rest_layer.as_deref())
        .map_err(|why| ImageError::format(spec.rootfs.display().to_string(), why))?;
    let built: Vec<Mutex<Option<Result<BuiltLayer, ImageError>>>> =
        selection.layers.iter().map(|_| Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work_on = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let Some(layer) = selection.layers.get(i) else {
            return;
        };
        let result = build_layer(
            spec,
            &layout,
            cache.as_ref(),
            &layer.name,
            &layer.paths,
            &layer.host,
        );
        *built[i].lock().expect("unpoisoned") = Some(result);
    };
    std::thread::scope(|s| {
        for _ in 1..spec.threads.clamp(1, selection.layers.len().max(1)) {
            s.spawn(work_on);
        }
        work_on();
    });
    let mut report_layers = Vec::new();
    for slot in built {
        let layer = slot
            .into_inner()
            .expect("unpoisoned")
            .expect("every layer built")?;
        let mut d = descriptor(
            spec.format.media_type(),
            &layer.digest.parse().expect("a digest"),
            layer.size,
        );
        if let Some(n) = layer.uncompressed_size {
            d.set_annotations(Some(
                [(manifest::LAYER_UNCOMPRESSED_SIZE.to_string(), n.to_string())].into(),
            ));
        }
        layers.push(d);
        report_layers.push(layer);
    }

    let created = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(spec.epoch.max(0) as u64),
    )
    .to_string();
    let added: Vec<(String, String)> = report_layers
        .iter()
        .map(|l| (l.name.clone(), l.diff_id.clone()))
        .collect();
    let config = config::image_config(base_config, &spec.config, &added, &created)
        .map_err(|why| ImageError::format("image config", why))?;
    let (config_digest, config_size) =
        layout.put_bytes(&serde_json::to_vec(&config).expect("json"))?;
    let manifest = oci_spec::image::ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(oci_spec::image::MediaType::ImageManifest)
        .config(descriptor(
            oci_spec::image::MediaType::ImageConfig,
            &config_digest,
            config_size,
        ))
        .layers(layers)
        .build()
        .map_err(|e| ImageError::format("manifest", e.to_string()))?;
    let bytes = serde_json::to_vec(&manifest).expect("json");
    let (digest, size) = layout.put_bytes(&bytes)?;
    layout.tag(
        "build",
        descriptor(oci_spec::image::MediaType::ImageManifest, &digest, size),
    )?;
    if let Some(cache) = &cache {
        cache.save()?;
    }
    let source = OciSource::built_layout(&layout_dir, Some("build".into()))?;
    copy(&source, dest, &CopyOptions::default(), &NoProgress)?;
    Ok(BuildReport {
        digest: digest.to_string(),
        base_layers,
        layers: report_layers,
    })
}

/// One layer: tar → diff_id hash → gzip or zstd → digest hash → a temporary file, then
/// into the layout.
fn build_layer(
    spec: &BuildSpec,
    layout: &Layout,
    cache: Option<&cache::Cache>,
    name: &str,
    paths: &[PathBuf],
    host: &[(PathBuf, PathBuf)],
) -> Result<BuiltLayer, ImageError> {
    let mut items: Vec<layer_tar::Item> = paths
        .iter()
        .map(|p| layer_tar::Item {
            source: spec.rootfs.join(p),
            name: p.clone(),
        })
        .collect();
    for (src, dst) in host {
        items.extend(layer_tar::host_items(src, dst).map_err(ImageError::io(src))?);
    }
    let key = match cache {
        Some(c) => Some(
            c.key(
                &items,
                spec.epoch,
                &format!("{}-epoch-{}", spec.format.encoder_id(), spec.epoch),
            )
            .map_err(|e| ImageError::format(format!("layer {name}"), e.to_string()))?,
        ),
        None => None,
    };
    if let (Some(c), Some(key)) = (cache, &key) {
        if let Some(hit) = c.get(key, layout) {
            return Ok(BuiltLayer {
                name: name.to_string(),
                digest: hit.digest,
                diff_id: hit.diff_id,
                size: hit.size,
                uncompressed_size: hit.uncompressed_size,
                cached: true,
            });
        }
    }
    // Written among the layout's blobs and named by the digest hashed on the way: the
    // layer is not read back, copied or hashed a second time.
    let mut temp = layout.blob_temp()?;
    let writeback =
        writeback::EarlyWriteback::new(temp.as_file_mut()).map_err(ImageError::io(layout.dir()))?;
    let compressed = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, writeback));
    // On every core; the output is the same for any thread count.
    let encoder = spec
        .format
        .encoder(compressed, spec.threads)
        .map_err(ImageError::io(layout.dir()))?;
    let plain = HashingWriter::new(encoder);
    let plain = layer_tar::write(&items, spec.epoch, plain)
        .map_err(|e| ImageError::format(format!("layer {name}"), e.to_string()))?;
    let (diff_id, tar_size, encoder) = plain.finish();
    let compressed = encoder.finish().map_err(ImageError::io(layout.dir()))?;
    let (digest, size, buffered) = compressed.finish();
    buffered
        .into_inner()
        .map_err(|e| ImageError::io(layout.dir())(e.into_error()))?;
    layout.place_written(temp, &digest, size)?;
    if let (Some(c), Some(key)) = (cache, &key) {
        let entry = cache::Entry {
            digest: digest.to_string(),
            diff_id: diff_id.to_string(),
            size,
            uncompressed_size: Some(tar_size),
        };
        c.put(key, &layout.blob_path(&digest), &entry)?;
    }
    Ok(BuiltLayer {
        name: name.to_string(),
        digest: digest.to_string(),
        diff_id: diff_id.to_string(),
        size,
        uncompressed_size: Some(tar_size),
        cached: false,
    })
}
