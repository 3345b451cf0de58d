//! `--populate-storage`: a package's image written straight into the container
//! storage of the rootfs at build time — podman's containers/storage for `podman`
//! packages, Docker's data root for `docker` packages — with the overlay driver's
//! on-disk layout, for any target architecture: nothing of the image runs, so no
//! emulator and no VM (meta-virtualization boots a QEMU VM and runs the engine
//! there). At its first start berthd installs the package as usual; the engine
//! finds every layer present and copies none.

mod containers;
mod docker;
mod overlay;

use crate::bundled::Engine;
use crate::error::RootfsError;
use berth_fs::Root;
use berth_image::copy::chosen::{read_image, ChosenImage};
use berth_image::copy::Source;
use berth_image::unpack::ExpansionLimits;
use berth_image::{Digest, ImageRef};
use berth_package::{read_package_into, Manifest, PayloadSink, ReadOptions, SinkError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// What populating wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Populated {
    /// `containers-storage` or `docker`.
    pub store: &'static str,
    pub driver: String,
    /// The storage's root on the device.
    pub root: String,
    /// The image id (config digest).
    pub image_id: String,
    pub names: Vec<String>,
    /// Layers written (those already there are kept).
    pub layers_written: usize,
    pub layers: usize,
}

/// An image read from a package's payload, kept in a scratch file while it is
/// written out.
pub(crate) struct PayloadImage {
    pub source: Box<dyn Source>,
    pub image: ChosenImage,
    /// `RepoTags` of a docker-archive (names the engine would give it).
    pub names: Vec<String>,
    pub limits: ExpansionLimits,
}

impl PayloadImage {
    pub fn diff_ids(&self) -> &[Digest] {
        &self.image.diff_ids
    }

    /// Each layer's descriptor and diff_id, bottom first.
    pub fn layers(&self) -> impl Iterator<Item = (&oci_spec::image::Descriptor, &Digest)> {
        self.image
            .manifest
            .layers()
            .iter()
            .zip(&self.image.diff_ids)
    }

    pub fn config_digest(&self) -> Digest {
        self.image
            .manifest
            .config()
            .digest()
            .to_string()
            .parse()
            .expect("a checked manifest's config digest")
    }
}

/// Populates the storage of `root` with the image in `package`'s payload, its layers
/// expanding no further than `limits`.
pub fn populate(
    root: &Root,
    package: &Path,
    limits: &ExpansionLimits,
) -> Result<Populated, RootfsError> {
    let scratch = tempfile::Builder::new()
        .prefix(".berth-populate-")
        .tempdir_in(root.dir())
        .map_err(RootfsError::io(root.dir(), "cannot create a directory in"))?;
    let (runtime, payload) = payload_of(package, scratch.path())?;
    let mut image = open_image(&payload, package)?;
    image.limits = *limits;
    match runtime.as_str() {
        "podman" => containers::populate(root, &image),
        "docker" => docker::populate(root, &image),
        other => Err(RootfsError::invalid(
            package.display().to_string(),
            format!("--populate-storage fills podman's or Docker's storage; a {other} package has no image"),
        )),
    }
}

/// Populates the storage of `root` for `engine` with the image at `image` (`what`, as
/// the user wrote it; a local
/// transport: `oci:`, `oci-archive:`, `docker-archive:`; from an index the
/// manifest for `platform`, by default this host's), under `names`. This is
/// `berth rootfs populate`, for devices without berthd: meta-virtualization's
/// BUNDLED_CONTAINERS fill the engine's storage the same way, in a QEMU VM.
pub fn populate_image(
    root: &Root,
    engine: Engine,
    image: &ImageRef,
    what: &str,
    names: Vec<String>,
    platform: Option<&berth_image::Platform>,
    limits: &ExpansionLimits,
) -> Result<Populated, RootfsError> {
    let source = berth_image::transport::local_source(image)
        .map_err(|e| RootfsError::invalid(what, e.to_string()))?
        .ok_or_else(|| {
            RootfsError::invalid(
                what,
                "a registry image: copy it to oci:, oci-archive: or docker-archive: first (`berth image copy`)",
            )
        })?;
    let chosen =
        read_image(&*source, platform).map_err(|e| RootfsError::invalid(what, e.to_string()))?;
    let image = PayloadImage {
        source,
        image: chosen,
        names,
        limits: *limits,
    };
    match engine {
        Engine::Podman => containers::populate(root, &image),
        Engine::Docker => docker::populate(root, &image),
    }
}

/// Writes the payload of `package` to a file in `dir`; returns the runtime too.
fn payload_of(package: &Path, dir: &Path) -> Result<(String, PathBuf), RootfsError> {
    struct ToFile {
        path: PathBuf,
        runtime: Option<String>,
    }
    impl PayloadSink for ToFile {
        fn open(
            &mut self,
            manifest: &Manifest,
            _name: &str,
            _size: u64,
            _listed: Option<&str>,
        ) -> Result<Box<dyn Write>, SinkError> {
            self.runtime = Some(manifest.runtime.to_string());
            Ok(Box::new(std::io::BufWriter::new(std::fs::File::create(
                &self.path,
            )?)))
        }
    }
    let mut sink = ToFile {
        path: dir.join("payload"),
        runtime: None,
    };
    let file = std::fs::File::open(package).map_err(RootfsError::io(package, "cannot open"))?;
    read_package_into(file, &ReadOptions::default(), Some(&mut sink)).map_err(|e| {
        RootfsError::invalid(
            package.display().to_string(),
            e.to_string().replace('\n', "; "),
        )
    })?;
    let runtime = sink.runtime.unwrap_or_default();
    Ok((runtime, sink.path))
}

/// The payload as an image: a docker-archive, else an oci-archive.
fn open_image(payload: &Path, package: &Path) -> Result<PayloadImage, RootfsError> {
    let what = package.display().to_string();
    let names = repo_tags(payload, &what)?;
    let docker = ImageRef::DockerArchive {
        file: payload.to_path_buf(),
        name: None,
    };
    let oci = ImageRef::OciArchive {
        file: payload.to_path_buf(),
        tag: None,
    };
    let source = berth_image::transport::local_source(&docker)
        .or_else(|_| berth_image::transport::local_source(&oci))
        .map_err(|e| RootfsError::invalid(&what, format!("payload: {e}")))?
        .expect("a local reference");
    let image = read_image(&*source, None)
        .map_err(|e| RootfsError::invalid(&what, format!("payload: {e}")))?;
    Ok(PayloadImage {
        source,
        image,
        names,
        limits: ExpansionLimits::default(),
    })
}

/// The first image's `RepoTags` in a docker-archive's manifest.json; none for an
/// OCI archive. A manifest.json that does not read is the payload's error.
fn repo_tags(payload: &Path, what: &str) -> Result<Vec<String>, RootfsError> {
    use berth_format::archive::{parse_docker_manifest, DOCKER_MANIFEST_FILE};
    let bad = |why: String| RootfsError::invalid(what, format!("payload: {why}"));
    let file =
        std::fs::File::open(payload).map_err(RootfsError::io(payload, "opening the payload"))?;
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        if entry.path_bytes().as_ref() != DOCKER_MANIFEST_FILE.as_bytes() {
            continue;
        }
        if entry.size() > MAX_MANIFEST {
            return Err(bad(format!(
                "{DOCKER_MANIFEST_FILE}: larger than {MAX_MANIFEST} bytes"
            )));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| bad(e.to_string()))?;
        let images = parse_docker_manifest(&bytes).map_err(|e| bad(e.to_string()))?;
        return Ok(images[0].tags().to_vec());
    }
    Ok(Vec::new())
}

/// A docker-archive's manifest.json larger than this is refused (real ones are a
/// few hundred bytes per image).
const MAX_MANIFEST: u64 = 1 << 20;

/// Now (or SOURCE_DATE_EPOCH), as the stores write times.
pub(crate) fn timestamp() -> Result<String, RootfsError> {
    let secs = match berth_format::epoch::source_date_epoch() {
        Ok(Some(secs)) => secs,
        Ok(None) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        Err(e) => {
            return Err(RootfsError::invalid(
                berth_format::epoch::VAR,
                e.to_string(),
            ))
        }
    };
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    Ok(humantime::format_rfc3339_seconds(t).to_string())
}
