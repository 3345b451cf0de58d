//! The two image archive formats berth reads on both sides: a docker-archive's
//! `manifest.json` (`docker save`, `podman save`, skopeo) and an OCI layout's
//! `index.json` with the manifests it names. Only the fields berth uses are modelled;
//! others are ignored as their writers' readers ignore them.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A docker-archive's image list, at the archive's top.
pub const DOCKER_MANIFEST_FILE: &str = "manifest.json";
/// An OCI layout's index, at the layout's top.
pub const OCI_INDEX_FILE: &str = "index.json";
/// The file that marks an OCI layout.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";

/// The annotation an OCI index gives an image's name (`podman save --format oci-archive`).
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's annotation for the image's full reference (`ctr export`).
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// A malformed archive file: the file and the rule it breaks.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}: {why}")]
pub struct BadArchive {
    pub file: &'static str,
    pub why: String,
}

/// One image of a docker-archive: its config and layers as member names, in the
/// order Docker writes them (which skopeo and Docker's loader read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerImage {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default)]
    pub repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

impl DockerImage {
    /// Its tags (none when `RepoTags` is null or absent).
    pub fn tags(&self) -> &[String] {
        self.repo_tags.as_deref().unwrap_or_default()
    }
}

/// A docker-archive's `manifest.json`: a list of at least one image.
pub fn parse_docker_manifest(bytes: &[u8]) -> Result<Vec<DockerImage>, BadArchive> {
    let images: Vec<DockerImage> = serde_json::from_slice(bytes).map_err(|e| BadArchive {
        file: DOCKER_MANIFEST_FILE,
        why: format!("not a docker-archive's image list: {e}"),
    })?;
    if images.is_empty() {
        return Err(BadArchive {
            file: DOCKER_MANIFEST_FILE,
            why: "lists no image".into(),
        });
    }
    Ok(images)
}

/// An OCI descriptor: what a manifest or index says of a blob.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Descriptor {
    /// Absent in some writers' index entries: an image manifest is meant.
    #[serde(rename = "mediaType", default = "image_manifest_type")]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
}

fn image_manifest_type() -> String {
    crate::media_type::OCI_MANIFEST.into()
}

impl Descriptor {
    /// Where an OCI layout keeps the blob: `blobs/<algorithm>/<hex>`, or `None` when
    /// the digest is not `algorithm:hex` of safe characters (a name from a stranger
    /// must not climb out of `blobs/`).
    pub fn blob_path(&self) -> Option<String> {
        let (algorithm, hex) = self.digest.split_once(':')?;
        let safe = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
                && s != "."
                && s != ".."
        };
        (safe(algorithm) && safe(hex)).then(|| format!("blobs/{algorithm}/{hex}"))
    }

    /// The image's name from its annotations: containerd's full reference first,
    /// then the OCI ref name.
    pub fn image_name(&self) -> Option<&str> {
        [CONTAINERD_NAME, REF_NAME]
            .iter()
            .find_map(|key| self.annotations.get(*key))
            .map(String::as_str)
    }

    /// Whether it names an index (multi-platform) rather than one image's manifest.
    pub fn is_index(&self) -> bool {
        crate::media_type::is_index(&self.media_type)
    }
}

/// An OCI index (`index.json`, or a multi-platform image's index blob).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Index {
    pub manifests: Vec<Descriptor>,
}

/// An image manifest: its config and layers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// An OCI layout's `index.json`.
pub fn parse_oci_index(bytes: &[u8]) -> Result<Index, BadArchive> {
    serde_json::from_slice(bytes).map_err(|e| BadArchive {
        file: OCI_INDEX_FILE,
        why: format!("not an OCI index: {e}"),
    })
}

/// Where a runtime bundle sits in its archive: at the top (`Some(None)`), or in the
/// archive's one top-level directory (`Some(Some(dir))`) — the rule berth pack,
/// berth verify and berthd's unpack share. `holds` says whether a place (`None` =
/// the top) has the bundle's marker file.
pub fn locate_bundle<T>(top_dirs: Vec<T>, holds: impl Fn(Option<&T>) -> bool) -> Option<Option<T>> {
    if holds(None) {
        return Some(None);
    }
    match <[T; 1]>::try_from(top_dirs) {
        Ok([one]) if holds(Some(&one)) => Some(Some(one)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_manifest_reads_as_docker_and_podman_write_it() {
        let images = parse_docker_manifest(
            br#"[{"Config":"c.json","RepoTags":["a:1","b:2"],"Layers":["l1/layer.tar","l2.tar"]},
                 {"Config":"d.json","RepoTags":null,"Layers":[]}]"#,
        )
        .unwrap();
        assert_eq!(images[0].tags(), ["a:1", "b:2"]);
        assert_eq!(images[0].layers, ["l1/layer.tar", "l2.tar"]);
        assert!(images[1].tags().is_empty());
    }

    #[test]
    fn a_docker_manifest_that_is_not_a_list_of_images_is_refused_naming_the_file() {
        for bad in [
            &b"{}"[..],
            b"[]",
            b"[{\"Config\":\"c\"}]",
            b"[{\"Config\":1,\"Layers\":[]}]",
        ] {
            let e = parse_docker_manifest(bad).unwrap_err();
            assert_eq!(e.file, "manifest.json", "{bad:?}");
            assert!(e.to_string().starts_with("manifest.json: "), "{e}");
        }
    }

    #[test]
    fn it_writes_the_fields_in_dockers_order() {
        let image = DockerImage {
            config: "c.json".into(),
            repo_tags: Some(vec!["a:1".into()]),
            layers: vec!["l.tar".into()],
        };
        assert_eq!(
            serde_json::to_string(&image).unwrap(),
            r#"{"Config":"c.json","RepoTags":["a:1"],"Layers":["l.tar"]}"#
        );
    }

    #[test]
    fn blob_paths_stay_inside_blobs() {
        let d = |digest: &str| Descriptor {
            media_type: image_manifest_type(),
            digest: digest.into(),
            size: 0,
            annotations: HashMap::new(),
        };
        assert_eq!(
            d("sha256:ab12").blob_path().as_deref(),
            Some("blobs/sha256/ab12")
        );
        for bad in [
            "sha256:../x",
            "..:ab",
            "sha256:a/b",
            "nocolon",
            "sha256:",
            ":ab",
            "sha256:..",
        ] {
            assert_eq!(d(bad).blob_path(), None, "{bad}");
        }
    }

    #[test]
    fn an_index_entry_without_a_media_type_is_an_image_manifest_and_names_come_from_annotations() {
        let index = parse_oci_index(
            br#"{"schemaVersion":2,"manifests":[
                {"digest":"sha256:aa","size":3,"annotations":{"org.opencontainers.image.ref.name":"1.0"}},
                {"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:bb","size":4,
                 "annotations":{"io.containerd.image.name":"docker.io/x/y:2","org.opencontainers.image.ref.name":"2"}}]}"#,
        )
        .unwrap();
        assert!(!index.manifests[0].is_index());
        assert_eq!(index.manifests[0].image_name(), Some("1.0"));
        assert!(index.manifests[1].is_index());
        assert_eq!(index.manifests[1].image_name(), Some("docker.io/x/y:2"));
        assert_eq!(parse_oci_index(b"[]").unwrap_err().file, "index.json");
    }

    #[test]
    fn a_bundle_is_at_the_top_or_in_the_one_top_directory() {
        let at = |dirs: &[&'static str], marked: &[Option<&str>]| {
            locate_bundle(dirs.to_vec(), |d| marked.contains(&d.copied()))
        };
        assert_eq!(at(&["a"], &[None, Some("a")]), Some(None));
        assert_eq!(at(&["a"], &[Some("a")]), Some(Some("a")));
        assert_eq!(at(&["a", "b"], &[Some("a")]), None);
        assert_eq!(at(&[], &[]), None);
        assert_eq!(at(&["a"], &[]), None);
    }
}
