//! Staged rollouts without a server: the share of a fleet that takes a package is an
//! annotation on the package artifact (`org.berth.rollout`, 0 to 100), which `berth
//! push --rollout` writes and `berth rollout` changes without uploading the package
//! again; each device decides by itself, from its id and the package's digest,
//! whether it is in that share (berthd's update checks).

use crate::package::{PackageArtifact, SIGNATURE_TYPE};
use crate::{referrers, RegistryDest, RegistrySource};
use berth_image::copy::Source;
use berth_image::manifest::OCI_MANIFEST;
use berth_image::{Digest, ImageError};
use oci_spec::image::Descriptor;
use serde_json::Value;
use std::collections::HashMap;

/// The annotation: the percentage of devices that take the package.
pub const ROLLOUT: &str = "org.berth.rollout";

/// The percentage `annotations` give: 100 without the annotation (every device).
pub fn percent(annotations: Option<&HashMap<String, String>>) -> Result<u8, String> {
    match annotations.and_then(|a| a.get(ROLLOUT)) {
        None => Ok(100),
        Some(text) => parse_percent(text).ok_or_else(|| {
            format!("annotation {ROLLOUT} {text:?} is not a whole number from 0 to 100")
        }),
    }
}

/// "0" to "100", digits only.
pub fn parse_percent(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>().ok().filter(|p| *p <= 100)
}

/// Whether device `device_id` is among the `percent` % that take the package
/// `package_digest` (the package file's digest, which `berth rollout` does not
/// change): the first 8 bytes of sha256("<device id>\n<digest>"), big-endian, modulo
/// 100, below `percent`. A raised percentage keeps every device it held and adds
/// more; each package draws its own devices.
pub fn selects(device_id: &str, package_digest: &str, percent: u8) -> bool {
    position(device_id, package_digest) < u64::from(percent)
}

/// The device's place (0 to 99) in the package's draw.
pub fn position(device_id: &str, package_digest: &str) -> u64 {
    let d = Digest::of(format!("{device_id}\n{package_digest}").as_bytes());
    let hex = d.hex();
    u64::from_str_radix(&hex[..16], 16).expect("hex") % 100
}

/// What `set` did.
pub struct Changed {
    pub was: u8,
    pub digest: Digest,
    /// Signature referrers pointed at the new manifest.
    pub signatures: usize,
}

/// Sets the rollout of the package `source` names (by tag) to `percent`: the
/// artifact manifest is put again with the annotation changed — the package blob
/// stays where it is — and its signature referrers are pushed again with the new
/// manifest as their subject, before the tag moves, so a device that sees the new
/// manifest finds its signature.
pub fn set(
    source: &RegistrySource,
    dest: &RegistryDest,
    tag: &str,
    percent_now: u8,
) -> Result<Changed, ImageError> {
    // One read of the manifest: the one checked is the one changed.
    let top = source.top()?;
    let artifact = PackageArtifact::of(source, &top)?;
    let was = percent(artifact.annotations.as_ref())
        .map_err(|why| ImageError::format(source.name(), why))?;
    let mut manifest: Value = serde_json::from_slice(&top.bytes)
        .map_err(|e| ImageError::format(source.name(), e.to_string()))?;
    if !manifest["annotations"].is_object() {
        manifest["annotations"] = Value::Object(Default::default());
    }
    manifest["annotations"][ROLLOUT] = Value::String(percent_now.to_string());
    let bytes = serde_json::to_vec(&manifest).expect("json serialises");
    let digest = Digest::of(&bytes);
    dest.put_manifest_as(&digest.to_string(), &bytes, OCI_MANIFEST)?;
    let subject = berth_image::artifact::descriptor(OCI_MANIFEST, &digest, bytes.len() as u64);
    let mut signatures = 0;
    // The referrers devices read follow the package to its new manifest: its
    // signatures, and its parts.
    for referrer in referrers::list(source, &top.digest)? {
        let kind = referrer
            .get("artifactType")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if kind != SIGNATURE_TYPE && kind != crate::parts::PARTS_TYPE {
            continue;
        }
        let Ok(descriptor) = serde_json::from_value::<Descriptor>(referrer) else {
            continue;
        };
        let mut signature: Value = serde_json::from_slice(&source.manifest(&descriptor)?)
            .map_err(|e| ImageError::format(source.name(), e.to_string()))?;
        signature["subject"] = subject.clone();
        let signature = serde_json::to_vec(&signature).expect("json serialises");
        referrers::push(dest, source, &digest, &signature, &kind)?;
        if kind == SIGNATURE_TYPE {
            signatures += 1;
        }
    }
    dest.put_manifest_as(tag, &bytes, OCI_MANIFEST)?;
    Ok(Changed {
        was,
        digest,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_whole_numbers_up_to_100() {
        for (text, p) in [("0", Some(0)), ("20", Some(20)), ("100", Some(100))] {
            assert_eq!(parse_percent(text), p);
        }
        for bad in ["", "101", "-1", "+5", " 5", "5%", "2.5", "0100", "999"] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
        assert_eq!(percent(None), Ok(100));
        let a = HashMap::from([(ROLLOUT.to_string(), "x".to_string())]);
        assert!(percent(Some(&a)).unwrap_err().contains(ROLLOUT));
    }

    #[test]
    fn a_raised_percentage_keeps_every_device_it_held() {
        let pkg = "sha256:0123";
        let devices: Vec<String> = (0..1000).map(|i| format!("device-{i}")).collect();
        let mut before: Vec<&String> = Vec::new();
        for p in [0u8, 5, 20, 50, 100] {
            let now: Vec<&String> = devices.iter().filter(|d| selects(d, pkg, p)).collect();
            assert!(before.iter().all(|d| now.contains(d)), "{p}%");
            // About p % of a thousand devices (a fair draw).
            let share = now.len() as i64 * 100 / 1000;
            assert!((share - i64::from(p)).abs() <= 5, "{p}%: {}", now.len());
            before = now;
        }
        assert_eq!(before.len(), 1000);
    }

    #[test]
    fn each_package_draws_its_own_devices_and_the_draw_is_stable() {
        let first: Vec<u64> = (0..20)
            .map(|i| position(&format!("d{i}"), "sha256:a"))
            .collect();
        let other: Vec<u64> = (0..20)
            .map(|i| position(&format!("d{i}"), "sha256:b"))
            .collect();
        assert_ne!(first, other);
        assert_eq!(
            first,
            (0..20)
                .map(|i| position(&format!("d{i}"), "sha256:a"))
                .collect::<Vec<_>>()
        );
        // The documented rule, computed apart: sha256("d0\nsha256:a").
        let hex = Digest::of(b"d0\nsha256:a").hex().to_string();
        assert_eq!(first[0], u64::from_str_radix(&hex[..16], 16).unwrap() % 100);
    }
}
