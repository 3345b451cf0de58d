//! A package in parts: a referrer of the package artifact (artifactType
//! `application/vnd.berth.parts.v1`) whose first layer is the package's head — the
//! package with its image layers left out, as a delta package whose base is
//! "whatever the device holds" — and whose other layers are those image layers,
//! uncompressed, each addressed by its SHA-256 (its diff_id). A device that runs an
//! older version fetches the head and only the layers its engine lacks; the package
//! artifact itself is unchanged, so `berth pull`, ORAS and older berthd still get
//! the whole package (docs/registry.md).

use crate::RegistrySource;
use berth_image::artifact::{descriptor, EMPTY, TITLE};
use berth_image::copy::Source;
use berth_image::manifest::{self, Manifest, OCI_EMPTY, OCI_MANIFEST};
use berth_image::Digest;
use oci_spec::image::Descriptor;
use serde_json::{json, Value};

pub const PARTS_TYPE: &str = "application/vnd.berth.parts.v1";
/// The head: a gzip'd delta package (docs/package-format.md, "Delta packages").
pub const PARTS_HEAD: &str = "application/vnd.berth.parts.head.v1.tar+gzip";
/// A part: an uncompressed layer tar.
pub const PARTS_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// Parts looked at, at most.
pub const MAX_PARTS: usize = 4096;
/// The head is small: the image's config, its manifest and tar headers.
pub const MAX_HEAD: u64 = 64 << 20;

/// A package's parts, as its referrer lists them.
#[derive(Debug, Clone)]
pub struct Parts {
    /// The parts referrer's own digest.
    pub digest: Digest,
    pub head: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The parts referrer among `referrers` (a package's, as `referrers::list` gives
/// them), read and checked; `None` when there is none or it is not well formed (the
/// whole package is then fetched, as before parts existed).
pub fn find(source: &RegistrySource, referrers: &[Value]) -> Option<Parts> {
    let referrer = referrers
        .iter()
        .find(|r| r.get("artifactType").and_then(Value::as_str) == Some(PARTS_TYPE))?;
    let descriptor: Descriptor = serde_json::from_value(referrer.clone()).ok()?;
    let bytes = source.manifest(&descriptor).ok()?;
    let what = format!("{} (parts {})", source.name(), descriptor.digest());
    let Manifest::Image(m) = manifest::parse(&bytes, &what).ok()? else {
        return None;
    };
    let (head, layers) = m.layers().split_first()?;
    let media = |d: &Descriptor| d.media_type().to_string();
    if media(head) != PARTS_HEAD
        || head.size() > MAX_HEAD
        || layers.len() > MAX_PARTS
        || layers.iter().any(|l| media(l) != PARTS_LAYER)
    {
        return None;
    }
    Some(Parts {
        digest: Digest::of(&bytes),
        head: head.clone(),
        layers: layers.to_vec(),
    })
}

/// The parts referrer's manifest: `head` (digest, size) first, then the layers,
/// pointing at `subject` (the package artifact's manifest).
pub fn manifest_bytes(head: (&Digest, u64), layers: &[(Digest, u64)], subject: Value) -> Vec<u8> {
    let mut head_desc = descriptor(PARTS_HEAD, head.0, head.1);
    head_desc["annotations"] = json!({ TITLE: "head.tar.gz" });
    let mut all = vec![head_desc];
    all.extend(layers.iter().map(|(d, n)| descriptor(PARTS_LAYER, d, *n)));
    let m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": PARTS_TYPE,
        "config": descriptor(OCI_EMPTY, &Digest::of(EMPTY), EMPTY.len() as u64),
        "layers": all,
        "subject": subject,
    });
    serde_json::to_vec(&m).expect("json serialises")
}
