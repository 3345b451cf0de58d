//! Checks that a payload is what its runtime needs, by streaming through it once:
//! podman payloads must be docker-archive or oci-archive tars (their image
//! references and layers are reported), LXC payloads gzip tarballs with `config` and
//! `rootfs/` at the top or in one top-level directory, runc payloads (OCI runtime
//! bundles) gzip tarballs with `config.json` — an OCI runtime spec whose `root.path`
//! names a directory the archive holds — likewise. Nothing is extracted.

use crate::limits::{ExpansionGuard, Limits};
use crate::manifest::RuntimeKind;
use berth_format::archive::{
    parse_docker_manifest, parse_oci_index, Descriptor, Index, Manifest, DOCKER_MANIFEST_FILE,
    OCI_INDEX_FILE, OCI_LAYOUT_FILE,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadKind {
    DockerArchive,
    OciArchive,
    LxcBundle,
    OciBundle,
}

impl PayloadKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PayloadKind::DockerArchive => "docker-archive",
            PayloadKind::OciArchive => "oci-archive",
            PayloadKind::LxcBundle => "lxc-bundle",
            PayloadKind::OciBundle => "oci-bundle",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Layer {
    pub name: String,
    pub size: u64,
}

/// What a payload holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PayloadSummary {
    pub kind: PayloadKind,
    /// Image references (`RepoTags` or `org.opencontainers.image.ref.name`).
    pub images: Vec<String>,
    pub layers: Vec<Layer>,
    /// For a bundle: the directory holding its config and root filesystem ("" = top).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_dir: Option<String>,
    /// For a bundle: `sha256:<hex>` of its tar, uncompressed (what a delta rebuilds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tar_digest: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("{name}: not a docker-archive or oci-archive (no manifest.json, or oci-layout and index.json, at its top level)")]
    NotAnImageArchive { name: String },
    #[error("{name}: {file} is not valid JSON of the expected shape: {why}")]
    BadImageJson {
        name: String,
        file: String,
        why: String,
    },
    #[error("{name}: {why}")]
    Unreadable { name: String, why: String },
    #[error("{name}: a {runtime} payload must be a .tar.gz file")]
    BundleName { name: String, runtime: RuntimeKind },
    #[error(
        "{name}: LXC bundle must hold config and rootfs/ at the top or in one top-level directory"
    )]
    LxcLayout { name: String },
    #[error("{name}: an OCI runtime bundle must hold config.json at the top or in one top-level directory")]
    OciLayout { name: String },
    #[error("{name}: {file}: {why}")]
    OciConfig {
        name: String,
        file: String,
        why: String,
    },
    #[error("{name}: more than {max} entries")]
    TooManyEntries { name: String, max: usize },
    /// Reading the payload itself failed (the package stream, the disk).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads the whole payload from `input` (to its end, so a hash around `input`
/// covers every byte) and reports what it is.
pub fn inspect_payload<R: Read>(
    runtime: RuntimeKind,
    name: &str,
    input: &mut R,
    limits: &Limits,
) -> Result<PayloadSummary, PayloadError> {
    let result = match runtime {
        RuntimeKind::Podman | RuntimeKind::Docker => {
            inspect_image_archive(name, &mut *input, limits)
        }
        RuntimeKind::Lxc | RuntimeKind::Runc => {
            // `.tar`: a bundle a delta rebuilt, uncompressed.
            if !name.ends_with(".tar.gz") && !name.ends_with(".tar") {
                return Err(PayloadError::BundleName {
                    name: name.into(),
                    runtime,
                });
            }
            let tree = read_bundle_tree(name, &mut *input, limits)?;
            let summary = if runtime == RuntimeKind::Lxc {
                lxc_bundle(name, &tree)
            } else {
                crate::oci_bundle::check(name, &tree, limits)
            };
            summary.map(|s| PayloadSummary {
                tar_digest: Some(tree.tar_digest.clone()),
                ..s
            })
        }
    }?;
    io::copy(input, &mut io::sink())?;
    Ok(result)
}

/// Normalises a tar entry name: no leading `./`, no trailing `/`.
fn entry_name(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let s = s.trim_start_matches("./");
    s.trim_end_matches('/').to_string()
}

/// Small JSON files kept while streaming, to resolve an archive's manifests after.
const MAX_JSON_FILE: u64 = 1024 * 1024;
const MAX_JSON_TOTAL: u64 = 16 * 1024 * 1024;

fn unreadable(name: &str, e: io::Error) -> PayloadError {
    // Errors from the package stream itself stay I/O errors; anything the tar parser
    // says about the payload's bytes is the payload's fault.
    // And what a delta's base said (content missing or changed, a registry that
    // failed): the device's side, not the payload's bytes.
    if crate::limits::is_source_error(&e)
        || crate::limits::is_guard_error(&e)
        || crate::limits::find_in_chain::<crate::delta::BaseError>(&e)
        || crate::limits::find_in_chain::<crate::delta::Unavailable>(&e)
    {
        PayloadError::Io(e)
    } else {
        PayloadError::Unreadable {
            name: name.into(),
            why: format!("not a readable tar archive: {e}"),
        }
    }
}

fn inspect_image_archive<R: Read>(
    name: &str,
    input: R,
    limits: &Limits,
) -> Result<PayloadSummary, PayloadError> {
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut json_files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut json_total = 0u64;
    let mut archive = tar::Archive::new(input);
    let entries = archive.entries().map_err(|e| unreadable(name, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| unreadable(name, e))?;
        if sizes.len() >= limits.max_payload_entries {
            return Err(PayloadError::TooManyEntries {
                name: name.into(),
                max: limits.max_payload_entries,
            });
        }
        let path = entry_name(&entry.path_bytes());
        let size = entry
            .header()
            .entry_size()
            .map_err(|e| unreadable(name, e))?;
        let wanted = path == DOCKER_MANIFEST_FILE
            || path == OCI_INDEX_FILE
            || path == "oci-layout"
            || path.starts_with("blobs/")
            || path.ends_with(".json");
        if wanted
            && entry.header().entry_type().is_file()
            && size <= MAX_JSON_FILE
            && json_total + size <= MAX_JSON_TOTAL
        {
            let mut buf = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut buf)
                .map_err(|e| unreadable(name, e))?;
            json_total += size;
            json_files.insert(path.clone(), buf);
        }
        sizes.insert(path, size);
    }
    let mut input = archive.into_inner();
    io::copy(&mut input, &mut io::sink()).map_err(|e| unreadable(name, e))?;

    let bad_json = |file: &str, why: &str| PayloadError::BadImageJson {
        name: name.into(),
        file: file.into(),
        why: why.into(),
    };
    let bytes_of = |file: &str| {
        json_files
            .get(file)
            .map(Vec::as_slice)
            .ok_or_else(|| bad_json(file, "missing or too large"))
    };
    let layer = |file: &str, member: &str| -> Result<Layer, PayloadError> {
        let size = *sizes
            .get(&entry_name(member.as_bytes()))
            .ok_or_else(|| bad_json(file, &format!("layer {member} is not in the archive")))?;
        Ok(Layer {
            name: member.into(),
            size,
        })
    };

    if sizes.contains_key(DOCKER_MANIFEST_FILE) {
        let manifest = parse_docker_manifest(bytes_of(DOCKER_MANIFEST_FILE)?)
            .map_err(|e| bad_json(e.file, &e.why))?;
        let (mut images, mut layers) = (Vec::new(), Vec::new());
        for image in &manifest {
            images.extend(image.tags().iter().cloned());
            for member in &image.layers {
                layers.push(layer(DOCKER_MANIFEST_FILE, member)?);
            }
        }
        return Ok(PayloadSummary {
            kind: PayloadKind::DockerArchive,
            images,
            layers,
            bundle_dir: None,
            tar_digest: None,
        });
    }

    if sizes.contains_key(OCI_LAYOUT_FILE) && sizes.contains_key(OCI_INDEX_FILE) {
        let index =
            parse_oci_index(bytes_of(OCI_INDEX_FILE)?).map_err(|e| bad_json(e.file, &e.why))?;
        let blob_of = |file: &str, desc: &Descriptor| {
            desc.blob_path()
                .ok_or_else(|| bad_json(file, &format!("digest {:?} names no blob", desc.digest)))
        };
        let parse = |file: &str, desc: &Descriptor| -> Result<(String, Vec<u8>), PayloadError> {
            let path = blob_of(file, desc)?;
            let bytes = bytes_of(&path)?.to_vec();
            Ok((path, bytes))
        };
        let (mut images, mut layers) = (Vec::new(), Vec::new());
        for desc in &index.manifests {
            images.extend(desc.image_name().map(String::from));
            // An index may point at a nested index (multi-platform); list its layers too.
            let manifests = if desc.is_index() {
                let (path, bytes) = parse(OCI_INDEX_FILE, desc)?;
                let nested: Index =
                    serde_json::from_slice(&bytes).map_err(|e| bad_json(&path, &e.to_string()))?;
                nested
                    .manifests
                    .iter()
                    .map(|d| parse(&path, d))
                    .collect::<Result<Vec<_>, _>>()?
            } else {
                vec![parse(OCI_INDEX_FILE, desc)?]
            };
            for (path, bytes) in manifests {
                let manifest: Manifest =
                    serde_json::from_slice(&bytes).map_err(|e| bad_json(&path, &e.to_string()))?;
                for desc in &manifest.layers {
                    layers.push(layer(&path, &blob_of(&path, desc)?)?);
                }
            }
        }
        return Ok(PayloadSummary {
            kind: PayloadKind::OciArchive,
            images,
            layers,
            bundle_dir: None,
            tar_digest: None,
        });
    }
    Err(PayloadError::NotAnImageArchive { name: name.into() })
}

/// A bundle tarball's names, read in one pass: its files, its directories (every
/// ancestor of an entry counts, whether or not the tar has an entry for it), its
/// top-level directories, and the bytes of each small `config.json`.
pub(crate) struct BundleTree {
    pub files: BTreeSet<String>,
    pub dirs: BTreeSet<String>,
    pub top_dirs: BTreeSet<String>,
    pub configs: BTreeMap<String, Vec<u8>>,
    /// `sha256:<hex>` of the tar, uncompressed.
    pub tar_digest: String,
}

impl BundleTree {
    /// The directory ("" = top, or the one top-level directory) for which `holds`
    /// is true.
    pub fn bundle_dir(&self, holds: impl Fn(&str) -> bool) -> Option<String> {
        let top_dirs = self.top_dirs.iter().cloned().collect();
        berth_format::archive::locate_bundle(top_dirs, |dir| match dir {
            None => holds(""),
            Some(dir) => holds(&format!("{dir}/")),
        })
        .map(Option::unwrap_or_default)
    }
}

/// An OCI config.json larger than this is refused (real ones are a few KiB).
pub(crate) const MAX_OCI_CONFIG: u64 = 1024 * 1024;

fn read_bundle_tree<R: Read>(
    name: &str,
    input: &mut R,
    limits: &Limits,
) -> Result<BundleTree, PayloadError> {
    let compressed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = crate::limits::counted(&mut *input, std::sync::Arc::clone(&compressed));
    let buffered = io::BufReader::with_capacity(256 * 1024, counted);
    let decoded: Box<dyn Read + '_> = if name.ends_with(".tar.gz") {
        Box::new(ExpansionGuard::new(
            berth_compress::ParallelGunzip::new(buffered),
            compressed,
            limits.max_expansion_ratio,
        ))
    } else {
        Box::new(buffered)
    };
    let mut archive = tar::Archive::new(berth_format::stream::HashingReader::new(decoded));
    let mut tree = BundleTree {
        files: BTreeSet::new(),
        dirs: BTreeSet::new(),
        top_dirs: BTreeSet::new(),
        configs: BTreeMap::new(),
        tar_digest: String::new(),
    };
    let mut count = 0usize;
    let entries = archive.entries().map_err(|e| unreadable(name, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| unreadable(name, e))?;
        count += 1;
        if count > limits.max_payload_entries {
            return Err(PayloadError::TooManyEntries {
                name: name.into(),
                max: limits.max_payload_entries,
            });
        }
        let path = entry_name(&entry.path_bytes());
        if path.is_empty() {
            continue;
        }
        let mut parts = path.splitn(2, '/');
        let first = parts.next().unwrap_or_default().to_string();
        let nested = parts.next();
        if nested.is_some() || entry.header().entry_type().is_dir() {
            tree.top_dirs.insert(first);
        }
        let mut prefix = path.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            tree.dirs.insert(parent.to_string());
            prefix = parent;
        }
        if entry.header().entry_type().is_dir() {
            tree.dirs.insert(path);
        } else if entry.header().entry_type().is_file() {
            // config.json at the top or one directory down: kept to be checked.
            if path.rsplit('/').next() == Some("config.json") && path.matches('/').count() <= 1 {
                if entry.size() > MAX_OCI_CONFIG {
                    return Err(PayloadError::OciConfig {
                        name: name.into(),
                        file: path,
                        why: format!("larger than {MAX_OCI_CONFIG} bytes"),
                    });
                }
                let mut bytes = Vec::new();
                entry
                    .read_to_end(&mut bytes)
                    .map_err(|e| unreadable(name, e))?;
                tree.configs.insert(path.clone(), bytes);
            }
            tree.files.insert(path);
        }
    }
    let mut inner = archive.into_inner();
    io::copy(&mut inner, &mut io::sink()).map_err(|e| unreadable(name, e))?;
    let (digest, _) = inner.finish();
    tree.tar_digest = format!("sha256:{}", digest.hex());
    Ok(tree)
}

fn lxc_bundle(name: &str, tree: &BundleTree) -> Result<PayloadSummary, PayloadError> {
    let bundle_dir = tree.bundle_dir(|prefix| {
        tree.files.contains(&format!("{prefix}config"))
            && tree.dirs.contains(&format!("{prefix}rootfs"))
    });
    match bundle_dir {
        Some(dir) => Ok(PayloadSummary {
            kind: PayloadKind::LxcBundle,
            images: vec![],
            layers: vec![],
            bundle_dir: Some(dir),
            tar_digest: None,
        }),
        None => Err(PayloadError::LxcLayout { name: name.into() }),
    }
}
