//! `berth image unpack`: an image's layers applied in order to `DIR/rootfs` and the
//! runtime spec written to `DIR/config.json`, as `umoci unpack` lays them out. The
//! work happens in a sibling directory renamed to DIR only when complete: a failure
//! at any step leaves no DIR. Every entry is kept inside the rootfs (`inside`).

mod diff;
mod spec;
#[cfg(test)]
mod tests;

pub use berth_fs::inside;
pub use berth_fs::layer::LayerLimits;
pub use diff::{extract_layer_diff, LayerDiff};
pub use spec::runtime_spec;

use berth_fs::layer as apply;

use crate::copy::chosen::{read_image, ChosenImage};
use crate::copy::{engine::digest, Progress, Source};
use crate::error::ImageError;
use crate::layer;
use crate::platform::Platform;
use crate::VerifyingReader;
use std::fs;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    pub platform: Option<Platform>,
    /// As a user without privileges: no ownership, no device nodes, and umoci's
    /// rootless runtime spec. Implied when not running as root.
    pub rootless: bool,
    pub limits: ExpansionLimits,
}

/// How far an untrusted image's layers may expand (docs/security.md): each layer to
/// `max_ratio` times its compressed size plus `ALLOWANCE`, the image to `max_total`
/// bytes of entry data in all.
#[derive(Debug, Clone, Copy)]
pub struct ExpansionLimits {
    pub max_ratio: u64,
    pub max_total: u64,
}

impl ExpansionLimits {
    /// What any layer may expand to beyond the ratio (small layers of zeros).
    pub const ALLOWANCE: u64 = 256 << 20;

    /// The limits of a layer of `compressed` bytes, `used` bytes of the image's total
    /// being taken by the layers before it.
    pub fn layer(&self, compressed: u64, used: u64) -> LayerLimits {
        let by_ratio = compressed
            .saturating_mul(self.max_ratio)
            .saturating_add(Self::ALLOWANCE);
        LayerLimits {
            raise_with: " (raise it with --max-expansion-ratio or --max-unpacked-size)",
            ..LayerLimits::expanding_to(by_ratio.min(self.max_total.saturating_sub(used)))
        }
    }
}

impl Default for ExpansionLimits {
    fn default() -> Self {
        ExpansionLimits {
            max_ratio: 100,
            max_total: 64 << 30,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct UnpackReport {
    pub digest: String,
    pub platform: Option<String>,
    pub layers: usize,
    pub entries: u64,
    pub rootless: bool,
    /// The image config's `architecture` and `variant` (GOARCH terms).
    pub architecture: Option<String>,
    pub variant: Option<String>,
}

/// One untrusted layer's tar stream applied to `root` as `image unpack` applies it
/// (as root when `privileged`), within `limits`: the entries applied, or the entry
/// and rule it broke. The fuzz target's way in.
pub fn apply_layer(
    root: &Path,
    layer: impl std::io::Read,
    privileged: bool,
    limits: LayerLimits,
) -> Result<u64, String> {
    let options = apply::Options {
        privileged,
        whiteouts: apply::Whiteouts::Apply,
        xattrs: true,
        limits,
    };
    apply::apply(root, layer, &options)
        .map(|a| a.entries)
        .map_err(|e| format!("{}: {}", e.entry, e.why))
}

/// Unpacks `source` into `dir` (which must not exist, or be an empty directory).
pub fn unpack(
    source: &dyn Source,
    dir: &Path,
    options: &UnpackOptions,
    progress: &dyn Progress,
) -> Result<UnpackReport, ImageError> {
    let label = dir.display().to_string();
    if let Ok(mut entries) = fs::read_dir(dir) {
        if entries.next().is_some() {
            return Err(ImageError::format(label, "exists and is not empty"));
        }
    }
    let rootless = options.rootless || !rustix::process::geteuid().is_root();
    let ChosenImage {
        top,
        platform,
        what,
        manifest: image,
        config: config_bytes,
        diff_ids,
    } = read_image(source, options.platform.as_ref())?;

    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::create_dir_all(parent).map_err(ImageError::io(parent))?;
    // DIR is 0700, as umoci makes it: the rootfs holds the image's device nodes and
    // setuid files, which no other local user should reach (issue 21, finding 6).
    let work = tempfile::Builder::new()
        .prefix(".berth-unpack-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir_in(parent)
        .map_err(ImageError::io(parent))?;
    let rootfs = work.path().join("rootfs");
    fs::create_dir(&rootfs).map_err(ImageError::io(&rootfs))?;
    let mut apply_options = apply::Options {
        privileged: !rootless,
        whiteouts: apply::Whiteouts::Apply,
        xattrs: true,
        limits: options.limits.layer(0, 0),
    };
    let mut entries = 0;
    let mut expanded = 0;
    for (i, (d, diff_id)) in image.layers().iter().zip(&diff_ids).enumerate() {
        let handle = progress.started(d, &format!("layer {}", i + 1));
        let layer_digest = digest(d)?;
        apply_options.limits = options.limits.layer(d.size(), expanded);
        let counted = crate::copy::reporting(source.blob(d)?, progress, handle);
        let mut plain = layer::decompressed_send(counted).map_err(ImageError::io(&label))?;
        // Reading and decompressing in one thread, hashing and applying in this one.
        entries += crate::pipe::pipelined(&mut plain, |plain| {
            // The uncompressed stream must be what the config says (diff_id), the
            // compressed one what the manifest says (the source checks that).
            let mut checked = VerifyingReader::new(plain, diff_id.clone(), None);
            let applied = apply::apply(&rootfs, &mut checked, &apply_options).map_err(|e| {
                ImageError::Layer {
                    layer: layer_digest.clone(),
                    why: format!("{}: {}", e.entry, e.why),
                }
            })?;
            // Whatever the tar stream left unread (padding, trailing data) is hashed too.
            std::io::copy(&mut checked, &mut std::io::sink()).map_err(ImageError::io(&label))?;
            Ok::<_, ImageError>(applied)
        })
        .map(|applied| {
            expanded += applied.expanded;
            applied.entries
        })?;
        progress.finished(handle, false);
    }
    let spec = runtime_spec(&config_bytes, &rootfs, rootless)
        .map_err(|why| ImageError::format(format!("{what}: config"), why))?;
    let config_path = work.path().join("config.json");
    let mut file = fs::File::create(&config_path).map_err(ImageError::io(&config_path))?;
    serde_json::to_writer_pretty(&mut file, &spec).expect("json serialises");
    file.write_all(b"\n")
        .map_err(ImageError::io(&config_path))?;
    file.sync_all().map_err(ImageError::io(&config_path))?;
    let _ = fs::remove_dir(dir); // an empty directory given as DIR
    let kept = work.keep();
    fs::rename(&kept, dir).map_err(|e| {
        let _ = fs::remove_dir_all(&kept);
        ImageError::io(dir)(e)
    })?;
    let config_json: serde_json::Value = serde_json::from_slice(&config_bytes).unwrap_or_default();
    let field = |k: &str| config_json[k].as_str().map(str::to_string);
    Ok(UnpackReport {
        digest: top.digest.to_string(),
        platform,
        layers: image.layers().len(),
        entries,
        rootless,
        architecture: field("architecture"),
        variant: field("variant"),
    })
}
