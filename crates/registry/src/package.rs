//! berth packages as OCI artifacts (what `berth push` writes): the types, finding a
//! package's one layer behind a reference, and its signature among the referrers.
//! Shared by `berth pull` and, behind its `registry` feature, berthd.

use crate::referrers;
use crate::RegistrySource;
use berth_image::artifact::{safe_title, TITLE};
use berth_image::copy::Source;
use berth_image::manifest::{self, Manifest};
use berth_image::{Digest, ImageError};
use oci_spec::image::Descriptor;
use std::io::Read;

/// A berth package, as an OCI artifact's `artifactType`.
pub const PACKAGE_TYPE: &str = "application/vnd.berth.package.v1";
/// The package file, as the artifact's one layer.
pub const PACKAGE_LAYER: &str = "application/vnd.berth.package.v1.tar+gzip";
/// A package's signature, as a referrer of the package's manifest.
pub const SIGNATURE_TYPE: &str = "application/vnd.berth.signature.v1";
/// Annotations on the package artifact's manifest.
pub const ID: &str = "org.berth.package.id";
pub const VERSION: &str = "org.berth.package.version";
pub const RUNTIME: &str = "org.berth.package.runtime";
/// A signature is a few hundred bytes; anything much larger is not one.
pub const MAX_SIGNATURE: u64 = 64 * 1024;

/// The package behind a reference.
pub struct PackageArtifact {
    /// The artifact manifest's digest (what its signature refers to).
    pub manifest_digest: Digest,
    /// The package file.
    pub layer: Descriptor,
    /// Its file name (the layer's title, checked to be a plain name).
    pub file_name: String,
    pub annotations: Option<std::collections::HashMap<String, String>>,
}

fn not_a_package(what: &str, why: String) -> ImageError {
    ImageError::format(what.to_string(), why)
}

impl PackageArtifact {
    /// Reads and checks the manifest `source` names: a berth package artifact with
    /// one titled layer.
    pub fn locate(source: &RegistrySource) -> Result<PackageArtifact, ImageError> {
        let top = source.top()?;
        let what = format!("{} ({})", source.name(), top.digest);
        let Manifest::Image(m) = manifest::parse(&top.bytes, &what)? else {
            return Err(not_a_package(&what, "an index, not a package".into()));
        };
        let kind = m
            .artifact_type()
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_default();
        if kind != PACKAGE_TYPE {
            return Err(not_a_package(
                &what,
                format!("artifactType {kind:?}, not a berth package ({PACKAGE_TYPE})"),
            ));
        }
        let [layer] = m.layers().as_slice() else {
            return Err(not_a_package(
                &what,
                format!("{} layers, a package artifact has one", m.layers().len()),
            ));
        };
        let title = layer
            .annotations()
            .as_ref()
            .and_then(|a| a.get(TITLE))
            .ok_or_else(|| not_a_package(&what, format!("the layer has no {TITLE}")))?;
        let file_name = safe_title(title)
            .map_err(|e| not_a_package(&what, e))?
            .to_string();
        Ok(PackageArtifact {
            manifest_digest: top.digest,
            layer: layer.clone(),
            file_name,
            annotations: m.annotations().clone(),
        })
    }

    /// The package's signature from its referrers (the first signature referrer
    /// whose file fetches), or none.
    pub fn signature(&self, source: &RegistrySource) -> Result<Option<Vec<u8>>, ImageError> {
        for referrer in referrers::list(source, &self.manifest_digest)? {
            if referrer.get("artifactType").and_then(|t| t.as_str()) != Some(SIGNATURE_TYPE) {
                continue;
            }
            let descriptor: Descriptor = serde_json::from_value(referrer).map_err(|e| {
                not_a_package(&source.name(), format!("a referrer's descriptor: {e}"))
            })?;
            let bytes = source.manifest(&descriptor)?;
            let what = format!("{} (signature {})", source.name(), descriptor.digest());
            let Manifest::Image(m) = manifest::parse(&bytes, &what)? else {
                continue;
            };
            let [file] = m.layers().as_slice() else {
                continue;
            };
            if file.size() > MAX_SIGNATURE {
                return Err(not_a_package(
                    &what,
                    format!(
                        "{} bytes, more than {MAX_SIGNATURE} for a signature",
                        file.size()
                    ),
                ));
            }
            let mut sig = Vec::new();
            source
                .blob(file)?
                .read_to_end(&mut sig)
                .map_err(ImageError::io(what))?;
            return Ok(Some(sig));
        }
        Ok(None)
    }
}
