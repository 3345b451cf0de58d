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

/// A package's file name as an artifact's title: a plain name (`safe_title`) that is
/// a package's, `NAME.tar.gz` or `NAME.tar.zst` without a leading dot. A registry's
/// title is a stranger's input, written as a file by `berth pull` (issue 21, finding
/// 3: a title `.bashrc` replaced the user's file); `berth push` holds itself to it.
pub fn package_file_name(title: &str) -> Result<&str, String> {
    let title = safe_title(title)?;
    let stem = title
        .strip_suffix(".tar.gz")
        .or_else(|| title.strip_suffix(".tar.zst"));
    match stem {
        Some(stem) if !stem.is_empty() && !title.starts_with('.') => Ok(title),
        _ => Err(format!(
            "{TITLE} {title:?} is not a package file name (NAME.tar.gz or NAME.tar.zst, \
             without a leading dot)"
        )),
    }
}

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
        Self::of(source, &source.top()?)
    }

    /// `locate`, over a manifest `source` already gave.
    pub fn of(
        source: &RegistrySource,
        top: &berth_image::copy::Top,
    ) -> Result<PackageArtifact, ImageError> {
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
        let file_name = package_file_name(title)
            .map_err(|e| not_a_package(&what, e))?
            .to_string();
        Ok(PackageArtifact {
            manifest_digest: top.digest.clone(),
            layer: layer.clone(),
            file_name,
            annotations: m.annotations().clone(),
        })
    }

    /// The package's signatures from its referrers: every signature referrer's
    /// file (at most `MAX_SIGNATURES` of them). One that cannot be fetched, is not
    /// a one-file artifact or is too large for a signature is passed over: a trusted
    /// signature listed after it must still count (issue 21, finding 11).
    pub fn signatures(&self, source: &RegistrySource) -> Result<Vec<Vec<u8>>, ImageError> {
        Ok(self.signatures_in(source, referrers::list(source, &self.manifest_digest)?))
    }

    /// `signatures`, from the referrers `list` already gave.
    pub fn signatures_in(
        &self,
        source: &RegistrySource,
        referrers: Vec<serde_json::Value>,
    ) -> Vec<Vec<u8>> {
        let mut found = Vec::new();
        for referrer in referrers {
            if referrer.get("artifactType").and_then(|t| t.as_str()) != Some(SIGNATURE_TYPE) {
                continue;
            }
            if found.len() == MAX_SIGNATURES {
                break;
            }
            if let Some(sig) = signature_of(source, referrer) {
                found.push(sig);
            }
        }
        found
    }
}

/// Signature referrers looked at, at most: a registry could list thousands.
pub const MAX_SIGNATURES: usize = 16;

/// A signature referrer's one file, if it is one.
fn signature_of(source: &RegistrySource, referrer: serde_json::Value) -> Option<Vec<u8>> {
    let descriptor: Descriptor = serde_json::from_value(referrer).ok()?;
    let bytes = source.manifest(&descriptor).ok()?;
    let what = format!("{} (signature {})", source.name(), descriptor.digest());
    let Manifest::Image(m) = manifest::parse(&bytes, &what).ok()? else {
        return None;
    };
    let [file] = m.layers().as_slice() else {
        return None;
    };
    if file.size() > MAX_SIGNATURE {
        return None;
    }
    let mut sig = Vec::new();
    source
        .blob(file)
        .ok()?
        .take(MAX_SIGNATURE)
        .read_to_end(&mut sig)
        .ok()?;
    Some(sig)
}

#[cfg(test)]
mod tests {
    use super::package_file_name;

    #[test]
    fn only_package_file_names_are_taken_from_a_registry() {
        for good in ["app-podman-dvk.tar.gz", "a.tar.zst", "a.b.tar.gz"] {
            assert_eq!(package_file_name(good), Ok(good));
        }
        for bad in [
            ".bashrc",
            ".x.tar.gz",
            ".tar.gz",
            "a.tar",
            "a.tgz",
            "a.tar.gz.sh",
            "tar.zst",
            "../a.tar.gz",
            "d/a.tar.gz",
            "-a.tar.gz",
        ] {
            assert!(package_file_name(bad).is_err(), "{bad}");
        }
    }
}
