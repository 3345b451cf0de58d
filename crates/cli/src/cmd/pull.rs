//! `berth pull docker://HOST/REPO:TAG|@DIGEST`: a package pushed by `berth push`.

use super::image::{failure, RegistryArgs};
use super::push::{checked_package, registry_ref};
use crate::exit::{print, print_json, Failure};
use berth_fs::{AtomicFile, FsError};
use berth_image::copy::Source;
use berth_image::ImageError;
use berth_registry::package::PackageArtifact;
use berth_registry::RegistrySource;
use std::path::PathBuf;

/// Pull a package that `berth push` (or ORAS) put in a registry.
///
/// The package arrives byte for byte as pushed, under the file name it was pushed
/// with (the layer's org.opencontainers.image.title), which must be a package's:
/// `NAME.tar.gz` or `NAME.tar.zst`, no directory, no leading dot. It is written to a
/// temporary file in the output directory, its digest checked, read as a package
/// (checksums, manifest, payload digest, a signature if it has one), and only then
/// put in place; an existing file of that name is kept unless --force. A failed pull
/// leaves nothing.
#[derive(clap::Args)]
pub struct PullArgs {
    /// docker://HOST/REPO:TAG or docker://HOST/REPO@sha256:…
    #[arg(value_name = "REF")]
    reference: String,
    /// Where to put the package.
    #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
    output_dir: PathBuf,
    /// Replace a file of the same name in the output directory.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn run(args: PullArgs) -> Result<(), Failure> {
    let reference = registry_ref(&args.reference)?;
    let source = RegistrySource::new(reference, &args.registry.options());
    let artifact = PackageArtifact::locate(&source).map_err(failure)?;
    // locate() took the file name only if it is a package's (package_file_name).
    let (layer, name) = (&artifact.layer, artifact.file_name.as_str());
    let dir = &args.output_dir;
    std::fs::create_dir_all(dir).map_err(|e| Failure::failed(format!("{}: {e}", dir.display())))?;
    let io_fail = |e: std::io::Error| failure(ImageError::io(dir.clone())(e));
    let fs_fail = |e: FsError| failure(ImageError::Fs(e));
    let path = dir.join(name);
    let mut file = AtomicFile::create(&path).map_err(fs_fail)?;
    let mut blob = source.blob(layer).map_err(failure)?;
    let size = std::io::copy(&mut blob, file.file()).map_err(io_fail)?;
    // The bytes are what the registry said; now check they are a package at all.
    checked_package(file.temp_path(), &format!("{} ({name})", args.reference))?;
    let placed = match args.force {
        true => file.commit(0o644),
        false => file.commit_new(0o644),
    };
    placed.map_err(|e| match &e {
        FsError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            Failure::failed(format!(
                "{}: exists; pass --force to replace it",
                path.display()
            ))
        }
        _ => fs_fail(e),
    })?;
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
