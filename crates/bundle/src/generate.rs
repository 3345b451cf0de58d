//! `berth bundle generate`: BundleGen's `generate`, in process. The image is unpacked
//! (rootless, as `umoci unpack --rootless`), its metadata read, the app checked
//! against the platform, config.json processed and written, and the bundle put in
//! place with its tarball or ipk. All the work happens in a directory beside
//! OUTPUTDIR, renamed to it at the end: a failure or an incompatible app leaves no
//! OUTPUTDIR, and an existing one is replaced only by a complete bundle.

use crate::error::BundleError;
use crate::libs::LibMatcher;
use crate::output::{self, TarOptions};
use crate::process::{self, Options, Processor};
use crate::template::{self, Template};
use berth_fs::Root;
use berth_image::copy::Progress;
use berth_image::unpack::{unpack, UnpackOptions};
use berth_image::Source;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub platform: String,
    pub search_paths: Vec<PathBuf>,
    pub app_metadata: Option<PathBuf>,
    pub app_id: Option<String>,
    pub ipk: bool,
    pub options: Options,
    /// Clamp for the archive's mtimes (SOURCE_DATE_EPOCH), if any.
    pub epoch: Option<i64>,
    /// How far the image's layers may expand.
    pub limits: berth_image::unpack::ExpansionLimits,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct GenerateReport {
    pub bundle: PathBuf,
    pub archive: PathBuf,
    pub app_id: String,
    pub image_digest: String,
    pub platform: String,
    pub warnings: Vec<String>,
}

/// The image platform BundleGen asks skopeo for: the template's os/arch/variant;
/// none (the host's) when the template names no architecture. One it names that
/// does not read as a platform is the template's error, never the host's platform.
fn image_platform(p: &Template) -> Result<Option<berth_image::Platform>, BundleError> {
    let Some(arch) = p.config.get("arch") else {
        return Ok(None);
    };
    let bad = |why: String| BundleError::invalid(process::PLATFORM, format!("arch: {why}"));
    let os = p
        .config
        .get("os")
        .and_then(Value::as_str)
        .unwrap_or("linux");
    let name = arch["arch"]
        .as_str()
        .ok_or_else(|| bad(format!("arch.arch must be a string, got {}", arch["arch"])))?;
    let mut text = format!("{os}/{name}");
    if let Some(v) = arch["variant"].as_str().filter(|v| !v.is_empty()) {
        text.push('/');
        text.push_str(v);
    }
    text.parse().map(Some).map_err(|e| bad(format!("{e}")))
}

pub fn load_template(req: &GenerateRequest) -> Result<Template, BundleError> {
    template::find(&req.platform, &req.search_paths)
}

pub fn generate(
    source: &dyn Source,
    out: &Path,
    req: &GenerateRequest,
    progress: &dyn Progress,
) -> Result<GenerateReport, BundleError> {
    let platform = load_template(req)?;
    let image_platform = image_platform(&platform)?;
    let out = std::path::absolute(out).map_err(BundleError::io(out))?;
    let parent = out.parent().unwrap_or(Path::new("/"));
    fs::create_dir_all(parent).map_err(BundleError::io(parent))?;
    let work = tempfile::Builder::new()
        .prefix(".berth-bundle-")
        .tempdir_in(parent)
        .map_err(BundleError::io(parent))?;
    let bundle = work.path().join("bundle");
    let unpack_options = UnpackOptions {
        platform: image_platform,
        rootless: true,
        limits: req.limits,
    };
    let unpacked = unpack(source, &bundle, &unpack_options, progress)?;
    let rootfs = Root::open(&bundle.join("rootfs"))?;
    let metadata =
        crate::metadata::load(req.app_metadata.as_deref(), &rootfs, req.app_id.as_deref())?;
    let config_path = bundle.join("config.json");
    let config = template::read_json(&config_path)?;
    let libs = LibMatcher::new(
        platform.config.get("libs").unwrap_or(&Value::Null),
        req.options.dep_walking,
        req.options.lib_mode,
    );
    let mut processor = Processor {
        platform: &platform.config,
        platform_name: platform.name.clone(),
        app: metadata.value,
        config,
        rootfs,
        options: req.options.clone(),
        libs,
        warnings: Vec::new(),
    };
    process::check_compatibility(&mut processor)?;
    processor.run()?;
    let mut warnings = std::mem::take(&mut processor.warnings);
    warnings.append(&mut processor.libs.warnings);
    let app_id = processor.id().to_string();
    fs::write(&config_path, output::config_json(&processor.config))
        .map_err(BundleError::io(&config_path))?;

    // The archive, from the bundle as it will be.
    let archive = PathBuf::from(format!(
        "{}.{}",
        out.display(),
        if req.ipk { "ipk" } else { "tar.gz" }
    ));
    let mut temp = berth_fs::AtomicFile::create(&archive)?;
    if req.ipk {
        let control = output::control_file(&processor.app, &platform.config);
        output::write_ipk(&bundle, &control, temp.file(), req.epoch.unwrap_or(0))
            .map_err(BundleError::io(&archive))?;
    } else {
        let tarball = &platform.config.get("tarball").cloned().unwrap_or_default();
        let mut options = TarOptions {
            epoch: req.epoch,
            ..TarOptions::default()
        };
        if process::truthy(&tarball["fileOwnershipSameAsUser"]) {
            let (uid, gid) = crate::process::real_uid_gid(&processor);
            options.uid = uid;
            options.gid = gid;
        }
        if let Some(mask) = tarball["fileMask"].as_str() {
            options.mode_mask = Some(
                output::parse_mask(mask)
                    .map_err(|why| BundleError::invalid(process::PLATFORM, why))?,
            );
        }
        output::write_tgz(&bundle, temp.file(), &options).map_err(BundleError::io(&archive))?;
    }

    // In place: the old OUTPUTDIR goes only now.
    if fs::symlink_metadata(&out).is_ok() {
        fs::remove_dir_all(&out).map_err(BundleError::io(&out))?;
    }
    fs::rename(&bundle, &out).map_err(BundleError::io(&out))?;
    use std::os::unix::fs::PermissionsExt;
    // As umoci leaves a bundle directory: the owner's only.
    fs::set_permissions(&out, fs::Permissions::from_mode(0o700)).map_err(BundleError::io(&out))?;
    temp.commit(0o644)?;
    Ok(GenerateReport {
        bundle: out,
        archive,
        app_id,
        image_digest: unpacked.digest,
        platform: platform.name,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(config: Value) -> Template {
        Template {
            name: "t".into(),
            config: config.as_object().unwrap().clone(),
            files: Vec::new(),
        }
    }

    #[test]
    fn the_templates_arch_is_the_images_platform_and_a_bad_one_is_its_error() {
        let p = image_platform(&template(json!({"arch": {"arch": "arm", "variant": "v7"}})));
        assert_eq!(p.unwrap().unwrap().to_string(), "linux/arm/v7");
        assert!(image_platform(&template(json!({"os": "linux"})))
            .unwrap()
            .is_none());
        for bad in [
            json!({"arch": {"arch": 7}}),
            json!({"arch": {"arch": "arm/x/y/z"}}),
        ] {
            let e = image_platform(&template(bad.clone()))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("platform template: arch: "), "{bad}: {e}");
        }
    }
}
