//! `berth pack --image REF`: one image into either package kind. podman and docker
//! packages get the image as a docker-archive written straight into the package
//! while it streams out (no archive file in between); lxc packages an LXC bundle made
//! from the image (rootfs from its layers, config from its config), as Digi's
//! `dey-image-dcp` makes both kinds from one image.

use super::image::{failure, parse_ref, Bars, RegistryArgs};
use crate::exit::Failure;
use berth_image::lxc_bundle::{lxc_bundle, LxcNetwork, LxcOptions};
use berth_image::transport::docker_archive_stream;
use berth_image::{CopyOptions, ImageRef, Platform, RegistryRef, Source};
use berth_package::manifest::{Manifest, RuntimeKind, Stage};
use berth_package::{pack, pack_stream, PackError, PackReport, PackRequest};
use std::path::Path;

/// What `--image` needs besides the request.
pub struct ImageInput<'a> {
    pub reference: &'a str,
    pub platform: Option<&'a Platform>,
    pub image_name: Option<&'a str>,
    pub lxc_network: Option<LxcNetwork>,
    pub registry: &'a RegistryArgs,
    pub quiet: bool,
}

/// Packs `req` with the image as its payload; `req.payload` is ignored.
pub fn pack_image(
    req: &mut PackRequest,
    input: &ImageInput,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Result<PackReport, PackError>, Failure> {
    let manifest_bytes = std::fs::read(&req.manifest)
        .map_err(|e| Failure::failed(format!("{}: cannot read: {e}", req.manifest.display())))?;
    let manifest = Manifest::parse(&manifest_bytes, Stage::Source)
        .map_err(|issues| Failure::bad_input_lines(&issues.to_string()))?;
    let reference = parse_ref(input.reference)?;
    std::fs::create_dir_all(&req.output_dir).map_err(|e| {
        Failure::failed(format!("{}: cannot create: {e}", req.output_dir.display()))
    })?;
    // Scratch space (a fetched image, a bundle) beside the package, removed at the end.
    let scratch = tempfile::Builder::new()
        .prefix(".berth-pack-image-")
        .tempdir_in(&req.output_dir)
        .map_err(|e| Failure::failed(format!("{}: {e}", req.output_dir.display())))?;
    let source = open_source(&reference, input, scratch.path())?;
    if manifest.runtime.runs_an_image() {
        if input.lxc_network.is_some() {
            return Err(Failure::bad_input(
                "--lxc-network is for runtime lxc; this manifest's runtime is an image runtime",
            ));
        }
        let name = image_name(&reference, input.image_name, &manifest)?;
        // Layers without a declared size are inflated once into the scratch directory
        // (on the package's filesystem), within half of its free space.
        let free = rustix::fs::statvfs(scratch.path())
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
            .unwrap_or(0);
        let spool = docker_archive_stream::SpoolLimit {
            dir: scratch.path().to_path_buf(),
            max_bytes: free / 2,
        };
        let plan = docker_archive_stream::plan(&*source, input.platform, Some(&name), Some(&spool))
            .map_err(failure)?;
        req.payload = input.reference.into();
        let (write_pipe, mut read_pipe) = berth_image::pipe::pipe();
        return std::thread::scope(|scope| {
            let writer = scope.spawn(|| {
                let mut write_pipe = write_pipe;
                docker_archive_stream::write(&plan, &*source, &mut write_pipe)?;
                write_pipe
                    .finish()
                    .map_err(berth_image::ImageError::io("the package writer"))
            });
            let packed = pack_stream(req, &mut read_pipe, plan.size, progress);
            drop(read_pipe); // a writer still writing stops
            let written = writer.join().expect("the archive writer panicked");
            match written {
                // The package writer stopped reading first: its error is the cause.
                Err(e) if stopped_reading(&e) && packed.is_err() => Ok(packed),
                // The archive's own error (a layer that is not its diff_id) says
                // more than what the package writer saw of it (a cut stream).
                Err(e) => Err(failure(e)),
                Ok(()) => Ok(packed),
            }
        });
    }
    if manifest.runtime != RuntimeKind::Lxc {
        return Err(Failure::bad_input(format!(
            "--image makes podman, docker and lxc payloads; this manifest's runtime is {}",
            manifest.runtime
        )));
    }
    if input.image_name.is_some() {
        return Err(Failure::bad_input(
            "--image-name names the image in a podman or docker package; an lxc package has none",
        ));
    }
    let id = manifest
        .package_id
        .clone()
        .or(manifest.name.clone())
        .unwrap_or_else(|| "bundle".into());
    let bundle = scratch.path().join(format!("{id}.tar.gz"));
    let options = LxcOptions {
        platform: input.platform.cloned(),
        network: input.lxc_network.clone().unwrap_or(LxcNetwork::Empty),
        name: id,
        epoch: (req.created_at_ms / 1000) as i64,
        level: req.level,
        threads: req.threads,
    };
    let bars = Bars::new(input.quiet);
    lxc_bundle(&*source, &bundle, &options, &bars).map_err(failure)?;
    req.payload = bundle;
    Ok(pack(req, progress))
}

/// `localhost/<id>:<version>`, with what a repository or tag may not hold replaced:
/// repositories are lowercase `[a-z0-9._-]`, tags `[A-Za-z0-9_.-]` not starting with
/// `.` or `-`, at most 128 characters.
fn default_name(id: &str, version: &str) -> String {
    let repo: String = id
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let repo = repo.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut tag: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    if tag.is_empty() || tag.starts_with(['.', '-']) {
        tag.insert(0, '_');
        tag.truncate(128);
    }
    let repo = if repo.is_empty() { "image" } else { repo };
    format!("localhost/{repo}:{tag}")
}

fn stopped_reading(e: &berth_image::ImageError) -> bool {
    matches!(e, berth_image::ImageError::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
}

/// The image's source. A registry image is fetched into `scratch` first (as served,
/// compressed): the archive needs each layer's size before its first byte, and
/// fetching once and reading twice costs less than fetching twice.
fn open_source(
    reference: &ImageRef,
    input: &ImageInput,
    scratch: &Path,
) -> Result<Box<dyn Source>, Failure> {
    let options = input.registry.options();
    let source = berth_registry::source(reference, &options).map_err(failure)?;
    if !matches!(reference, ImageRef::Registry(_)) {
        return Ok(source);
    }
    let layout = scratch.join("fetched");
    let local: ImageRef = format!("oci:{}:image", layout.display())
        .parse()
        .map_err(|e| Failure::failed(format!("{e}")))?;
    let dest = berth_registry::dest(&local, &options).map_err(failure)?;
    let copy_options = CopyOptions {
        platform: input.platform.cloned(),
        ..CopyOptions::default()
    };
    let bars = Bars::new(input.quiet);
    berth_image::copy(&*source, dest, &copy_options, &bars).map_err(failure)?;
    berth_registry::source(&local, &options).map_err(failure)
}

/// The name the image is loaded under (the archive's RepoTags): `--image-name`, else
/// a registry reference's own, else `localhost/<package id>:<version>` (berthd runs
/// the payload's image whatever its name, unless create_args names one).
fn image_name(
    reference: &ImageRef,
    given: Option<&str>,
    manifest: &Manifest,
) -> Result<RegistryRef, Failure> {
    let text = match (given, reference) {
        (Some(name), _) => name.to_string(),
        (None, ImageRef::Registry(r)) => return Ok(r.clone()),
        (None, _) => {
            let id = manifest.package_id.as_ref().or(manifest.name.as_ref());
            default_name(id.map_or("image", |s| s.as_str()), &manifest.version)
        }
    };
    RegistryRef::parse(&text).map_err(|e| Failure::bad_input(format!("--image-name {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::default_name;

    #[test]
    fn default_names_are_valid_references() {
        assert_eq!(default_name("web-app", "1.0.0"), "localhost/web-app:1.0.0");
        assert_eq!(
            default_name("Web App!", "1.0+build 7"),
            "localhost/web-app:1.0_build_7"
        );
        assert_eq!(default_name("--", ".1"), "localhost/image:_.1");
        for (id, version) in [("A", "v"), ("x.y", "-rc"), ("", "")] {
            let name = default_name(id, version);
            assert!(berth_image::RegistryRef::parse(&name).is_ok(), "{name}");
        }
    }
}
