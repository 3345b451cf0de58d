//! `berth push PKG docker://HOST/REPO:TAG`: a package as an OCI artifact.

use super::image::{failure, RegistryArgs};
use crate::exit::{chain, print, print_json, Failure};
use berth_image::artifact::{self, File as ArtifactFile};
use berth_image::{Digest, ImageRef, RegistryRef, VerifyingReader};
use berth_package::{read_package, Limits, ReadError, ReadOptions};
use berth_registry::{referrers, RegistryDest, RegistrySource};
use std::io::Read;
use std::path::PathBuf;

use berth_registry::package::{ID, PACKAGE_LAYER, PACKAGE_TYPE, RUNTIME, SIGNATURE_TYPE, VERSION};
use berth_registry::rollout::ROLLOUT;

/// Push a package to a registry as an OCI artifact (ORAS reads it).
///
/// The package is checked first (as `berth verify` checks it), then pushed unchanged
/// as the one layer of an OCI 1.1 artifact: artifactType application/vnd.berth.package.v1,
/// the layer titled with the file's name (org.opencontainers.image.title), and the
/// package's id, version and runtime as annotations (org.berth.package.id, .version,
/// .runtime). A signed package's signature is pushed too, as a referrer of the package
/// (artifactType application/vnd.berth.signature.v1), where `oras discover` and devices
/// find it.
///
/// The package is also pushed in parts, as a second referrer (artifactType
/// application/vnd.berth.parts.v1): its head, and its image layers (podman, docker)
/// or its bundle's files of 16 KiB or more (lxc, runc), uncompressed, each under its
/// own digest. A device upgrading from an older version fetches the head and only
/// the parts it lacks (docs/registry.md).
///
/// --rollout PERCENT stages the package: devices that follow the tag take it only
/// when their own draw (from their device id and the package's digest) falls within
/// PERCENT; `berth rollout` raises it later without uploading the package again
/// (docs/fleet-updates.md).
///
/// Examples:
///   berth push app_1.0.tar.gz docker://registry.example/apps/app:1.0
///   berth push app_2.0.tar.gz docker://registry.example/apps/app:stable --rollout 20
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    #[arg(value_name = "PKG")]
    package: PathBuf,
    /// docker://HOST/REPO:TAG
    #[arg(value_name = "DEST")]
    dest: String,
    /// Push FILE as the package's signature referrer instead of the signature inside
    /// the package (a signature made apart from the package: the content of
    /// checksums/sha256sums.txt.sig that `berth pack --sign` would write).
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// The percentage of following devices that take the package (0 to 100;
    /// default: every device).
    #[arg(long, value_name = "PERCENT", value_parser = super::rollout::percent_arg)]
    rollout: Option<u8>,
    /// Do not push the package in parts: devices then fetch the whole package on
    /// every upgrade.
    #[arg(long)]
    no_parts: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

pub fn registry_ref(text: &str) -> Result<RegistryRef, Failure> {
    match super::image::parse_ref(text)? {
        ImageRef::Registry(r) => Ok(r),
        _ => Err(Failure::bad_input(format!(
            "{text}: packages go to registries: write docker://HOST/REPO:TAG"
        ))),
    }
}

pub fn run(args: PushArgs) -> Result<(), Failure> {
    let reference = registry_ref(&args.dest)?;
    let path = &args.package;
    let io_fail = |e: std::io::Error| Failure::failed(format!("{}: {e}", path.display()));
    let report = checked_package(path, &path.display().to_string())?;
    let size = std::fs::metadata(path).map_err(io_fail)?.len();
    let digest = {
        let file = std::fs::File::open(path).map_err(io_fail)?;
        let mut hashing = berth_image::digest::HashingReader::new(file);
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(io_fail)?;
        hashing.digest()
    };
    let title = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        Failure::bad_input(format!("{}: needs a file name in UTF-8", path.display()))
    })?;
    berth_registry::package::package_file_name(title).map_err(Failure::bad_input)?;
    let options = args.registry.options();
    let dest = RegistryDest::new(reference.clone(), &options);
    let source = RegistrySource::new(reference.clone(), &options);
    upload(
        &dest,
        &Digest::of(artifact::EMPTY),
        artifact::EMPTY.len() as u64,
        &mut &artifact::EMPTY[..],
    )?;
    let file = std::fs::File::open(path).map_err(io_fail)?;
    upload(
        &dest,
        &digest,
        size,
        &mut VerifyingReader::new(file, digest.clone(), Some(size)),
    )?;
    let mut annotations = serde_json::Map::new();
    annotations.insert(ID.into(), report.package_id.clone().into());
    annotations.insert(VERSION.into(), report.version.clone().into());
    annotations.insert(RUNTIME.into(), report.runtime.clone().into());
    if let Some(p) = args.rollout {
        annotations.insert(ROLLOUT.into(), p.to_string().into());
    }
    let layer = ArtifactFile {
        media_type: PACKAGE_LAYER,
        digest: &digest,
        size,
        title,
    };
    let manifest = artifact::manifest(PACKAGE_TYPE, &layer, None, annotations);
    let manifest_digest = Digest::of(&manifest);
    let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
    dest.put_manifest_as(&tag, &manifest, berth_image::manifest::OCI_MANIFEST)
        .map_err(failure)?;
    let mut signature_digest = None;
    let signature = match &args.signature {
        Some(file) => Some(detached_signature(file)?),
        None => report.signature_file.clone(),
    };
    if let Some(sig) = signature {
        let sig_digest = Digest::of(&sig);
        upload(&dest, &sig_digest, sig.len() as u64, &mut &sig[..])?;
        let file = ArtifactFile {
            media_type: SIGNATURE_TYPE,
            digest: &sig_digest,
            size: sig.len() as u64,
            title: "sha256sums.txt.sig",
        };
        let subject = artifact::descriptor(
            berth_image::manifest::OCI_MANIFEST,
            &manifest_digest,
            manifest.len() as u64,
        );
        let referrer =
            artifact::manifest(SIGNATURE_TYPE, &file, Some(subject), serde_json::Map::new());
        signature_digest = Some(
            referrers::push(&dest, &source, &manifest_digest, &referrer, SIGNATURE_TYPE)
                .map_err(failure)?,
        );
    }
    let parts = if !args.no_parts {
        let subject = artifact::descriptor(
            berth_image::manifest::OCI_MANIFEST,
            &manifest_digest,
            manifest.len() as u64,
        );
        push_parts(&dest, &source, path, &manifest_digest, subject)?
    } else {
        None
    };
    let name = reference.docker_tag(&tag);
    if args.json {
        return print_json(&serde_json::json!({
            "reference": name,
            "digest": manifest_digest.to_string(),
            "package_digest": digest.to_string(),
            "size": size,
            "package_id": report.package_id,
            "version": report.version,
            "runtime": report.runtime,
            "signature": signature_digest.map(|d| d.to_string()),
            "rollout": args.rollout.unwrap_or(100),
            "parts": parts.as_ref().map(|p| serde_json::json!({
                "digest": p.digest.to_string(),
                "head_size": p.head_size,
                "layers": p.layers,
            })),
        }));
    }
    print(&format!(
        "pushed {} to {name}@{manifest_digest}{}\n",
        path.display(),
        if signature_digest.is_some() {
            " (with its signature as a referrer)"
        } else {
            ""
        }
    ))
}

/// What `push_parts` pushed.
struct PushedParts {
    digest: Digest,
    head_size: u64,
    layers: usize,
}

/// Pushes the package at `path` in parts, as a referrer of `manifest_digest`;
/// `None` (with a warning) for a bundle packed by an older berth, which cannot be
/// rebuilt from parts.
fn push_parts(
    dest: &RegistryDest,
    source: &RegistrySource,
    path: &std::path::Path,
    manifest_digest: &Digest,
    subject: serde_json::Value,
) -> Result<Option<PushedParts>, Failure> {
    use berth_package::delta::Base;
    let label = path.display().to_string();
    let dir =
        tempfile::tempdir().map_err(|e| Failure::failed(format!("a scratch directory: {e}")))?;
    let head_path = dir.path().join("head.tar.gz");
    let mut head =
        match berth_package::delta::write_parts_head(path, &head_path, &Limits::build_host()) {
            Ok(head) => head,
            Err(e @ berth_package::delta::DeltaPackageError::Invalid { .. }) => {
                eprintln!("berth: warning: not pushed in parts: {}", chain(&e));
                return Ok(None);
            }
            Err(e) => return Err(Failure::failed(format!("{label}: {}", chain(&e)))),
        };
    let io_fail = |e: std::io::Error| Failure::failed(format!("{label}: {e}"));
    let head_bytes = std::fs::read(&head_path).map_err(io_fail)?;
    let head_digest = Digest::of(&head_bytes);
    upload(
        dest,
        &head_digest,
        head_bytes.len() as u64,
        &mut &head_bytes[..],
    )?;
    let mut layers = Vec::new();
    for (digest, size) in std::mem::take(&mut head.parts) {
        let d: Digest = digest
            .parse()
            .map_err(|e| Failure::failed(format!("{label}: {digest}: {e}")))?;
        let content = head.content.open(&digest, size, None).map_err(io_fail)?;
        upload(
            dest,
            &d,
            size,
            &mut VerifyingReader::new(content, d.clone(), Some(size)),
        )?;
        layers.push((d, size));
    }
    let bytes = berth_registry::parts::manifest_bytes(
        (&head_digest, head_bytes.len() as u64),
        &layers,
        subject,
    );
    let digest = referrers::push(
        dest,
        source,
        manifest_digest,
        &bytes,
        berth_registry::parts::PARTS_TYPE,
    )
    .map_err(failure)?;
    Ok(Some(PushedParts {
        digest,
        head_size: head_bytes.len() as u64,
        layers: layers.len(),
    }))
}

/// A signature file given with --signature: small, read whole.
fn detached_signature(file: &PathBuf) -> Result<Vec<u8>, Failure> {
    use berth_registry::package::MAX_SIGNATURE;
    let bytes =
        std::fs::read(file).map_err(|e| Failure::bad_input(format!("{}: {e}", file.display())))?;
    if bytes.is_empty() || bytes.len() as u64 > MAX_SIGNATURE {
        return Err(Failure::bad_input(format!(
            "{}: {} bytes: not a signature (1 to {MAX_SIGNATURE} bytes)",
            file.display(),
            bytes.len()
        )));
    }
    Ok(bytes)
}

fn upload(
    dest: &RegistryDest,
    digest: &Digest,
    size: u64,
    content: &mut dyn Read,
) -> Result<(), Failure> {
    use berth_image::copy::Dest;
    let d = berth_image::layout::descriptor("application/octet-stream".into(), digest, size);
    if dest.has_blob(&d).map_err(failure)? {
        return Ok(());
    }
    dest.upload(digest, size, content, None).map_err(failure)
}

/// Reads the package file at `path` with every build-host check; a problem is one
/// line per rule, each starting with `label`.
pub fn checked_package(
    path: &std::path::Path,
    label: &str,
) -> Result<berth_package::PackageReport, Failure> {
    let io_fail = |e: std::io::Error| Failure::failed(format!("{label}: {e}"));
    let file = std::fs::File::open(path).map_err(io_fail)?;
    let size = file.metadata().map_err(io_fail)?.len();
    let options = ReadOptions {
        limits: Limits::build_host(),
        compressed_len: Some(size),
        ..ReadOptions::default()
    };
    read_package(file, &options).map_err(|e| match e {
        ReadError::Invalid(p) => {
            Failure::BadInput(p.0.iter().map(|l| format!("{label}: {l}")).collect())
        }
        other => Failure::failed(format!("{label}: {}", chain(&other))),
    })
}
