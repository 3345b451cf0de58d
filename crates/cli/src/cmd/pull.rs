//! `berth pull docker://HOST/REPO:TAG|@DIGEST`: a package pushed by `berth push`.

use super::image::{failure, RegistryArgs};
use super::push::registry_ref;
use crate::exit::{print, print_json, Failure};
use berth_image::copy::Source;
use berth_image::ImageError;
use berth_registry::package::PackageArtifact;
use berth_registry::RegistrySource;
use std::path::PathBuf;

/// Pull a package that `berth push` (or ORAS) put in a registry.
///
/// The package arrives byte for byte as pushed, under the file name it was pushed
/// with (the layer's org.opencontainers.image.title, which must be a plain file
/// name). It is written to a temporary file in the output directory, its digest
/// checked, and only then renamed into place: a failed pull leaves nothing.
#[derive(clap::Args)]
pub struct PullArgs {
    /// docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:…
    #[arg(value_name = "REF")]
    reference: String,
    /// Where to put the package.
    #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
    output_dir: PathBuf,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: PullArgs) -> Result<(), Failure> {
    let reference = registry_ref(&args.reference)?;
    let source = RegistrySource::new(reference, &args.registry.options());
    let artifact = PackageArtifact::locate(&source).map_err(failure)?;
    let (layer, name) = (&artifact.layer, artifact.file_name.as_str());
    let dir = &args.output_dir;
    std::fs::create_dir_all(dir).map_err(|e| Failure::failed(format!("{}: {e}", dir.display())))?;
    let io_fail = |e: std::io::Error| failure(ImageError::io(dir.clone())(e));
    let mut temp = tempfile::Builder::new()
        .prefix(".berth-pull-")
        .tempfile_in(dir)
        .map_err(io_fail)?;
    let mut blob = source.blob(layer).map_err(failure)?;
    let size = std::io::copy(&mut blob, &mut temp).map_err(io_fail)?;
    temp.as_file().sync_all().map_err(io_fail)?;
    let path = dir.join(name);
    temp.persist(&path).map_err(|e| io_fail(e.error))?;
    if args.json {
        return print_json(&serde_json::json!({
            "path": path,
            "digest": artifact.manifest_digest.to_string(),
            "package_digest": layer.digest().to_string(),
            "size": size,
            "annotations": artifact.annotations,
        }));
    }
    print(&format!(
        "pulled {} ({} bytes, {}) from {}\n",
        path.display(),
        size,
        layer.digest(),
        args.reference
    ))
}
