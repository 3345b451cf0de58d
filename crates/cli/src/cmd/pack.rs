use super::image::RegistryArgs;
use super::pack_image::{pack_image, ImageInput};
use crate::exit::{chain, print, print_json, Failure};
use berth_image::lxc_bundle::LxcNetwork;
use berth_image::Platform;
use berth_package::sign::read_signing_key;
use berth_package::{pack, Compression, Limits, PackError, PackRequest};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
enum CompressionArg {
    /// The DCP default; every reader understands it.
    Gzip,
    /// berth's extension: faster, smaller; needs berth (or zstd-aware tools) to read.
    Zstd,
}

/// Write a package from a manifest and a payload.
///
/// The payload follows the manifest's runtime: for podman and docker an image archive
/// (`podman save` or `docker save` docker-archive, or an oci-archive; stored as
/// payload/image.tar); for lxc a bundle .tar.gz with config and rootfs/; for runc an
/// OCI runtime bundle .tar.gz with config.json (`runc spec`, `umoci unpack`) and the
/// root filesystem it names (bundles are stored under their own name). The manifest is
/// validated, every problem is reported, and the payload is checked while it is
/// streamed, once, into the package.
/// Prints the package's absolute path.
///
/// Set SOURCE_DATE_EPOCH for a reproducible package: the same inputs then give a
/// byte-identical file.
#[derive(clap::Args)]
pub struct PackArgs {
    /// The package manifest (JSON).
    #[arg(long, value_name = "FILE")]
    manifest: PathBuf,
    /// The payload: an image archive (podman, docker) or BUNDLE.tar.gz (lxc, runc).
    #[arg(long, value_name = "FILE", required_unless_present = "image")]
    payload: Option<PathBuf>,
    /// Make the payload from this image (any transport: docker://, oci:, oci-archive:,
    /// docker-archive:) instead: for podman and docker a docker-archive written
    /// straight into the package; for lxc an LXC bundle (rootfs from the layers,
    /// config from the image config; needs root to keep the files' owners).
    #[arg(long, value_name = "REF", conflicts_with = "payload")]
    image: Option<String>,
    /// With --image from an index: the platform, OS/ARCH[/VARIANT] (default: this
    /// host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", requires = "image")]
    platform: Option<Platform>,
    /// With --image, podman or docker: the name the image is loaded under (default:
    /// a docker:// reference's own, else localhost/<package id>:<version>).
    #[arg(long, value_name = "NAME[:TAG]", requires = "image")]
    image_name: Option<String>,
    /// With --image, lxc: the container's network: empty (loopback only, the
    /// default), none (the host's), or veth:BRIDGE.
    #[arg(long, value_name = "MODE", requires = "image")]
    lxc_network: Option<LxcNetwork>,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Where to write the package (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    output_dir: PathBuf,
    /// metadata/README.txt (default: a summary of the package).
    #[arg(long, value_name = "FILE")]
    readme: Option<PathBuf>,
    /// metadata/changelog.txt (default: a one-line note).
    #[arg(long, value_name = "FILE")]
    changelog: Option<PathBuf>,
    /// Sign with this secret key (from `berth keygen`).
    #[arg(long, value_name = "KEY")]
    sign: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "gzip")]
    compression: CompressionArg,
    /// Compression level: gzip 1-12 (libdeflate's levels; default 5, smaller than
    /// gzip -6's output), zstd 1-19 (default 3).
    #[arg(long, value_name = "N")]
    level: Option<u32>,
    /// Compression threads (default: one per CPU). The output does not depend on it.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Also write a delta package against OLD, an older package of the same id: the
    /// image layers (podman, docker) or bundle files (lxc, runc) OLD has are left
    /// out; a device running OLD's version rebuilds the full payload from its own
    /// images or bundle and checks it against this package's signed checksums and
    /// manifest. Written beside the package as
    /// `<package>.delta-from-<OLD's version>.tar.gz`.
    #[arg(long, value_name = "OLD")]
    delta_from: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// `created_at` in ms: SOURCE_DATE_EPOCH when set, else now.
fn created_at_ms() -> Result<u64, Failure> {
    match super::epoch_seconds()? {
        Some(secs) => Ok(secs as u64 * 1000),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)),
    }
}

pub fn run(args: PackArgs) -> Result<(), Failure> {
    let compression = match args.compression {
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
    };
    let level = args.level.unwrap_or(compression.default_level());
    if !compression.level_range().contains(&level) {
        let r = compression.level_range();
        return Err(Failure::bad_input(format!(
            "--level must be {}-{} for {}, got {level}",
            r.start(),
            r.end(),
            compression.as_str()
        )));
    }
    let signing_key = match &args.sign {
        Some(path) => Some(read_signing_key(path).map_err(|e| Failure::bad_input(chain(&e)))?),
        None => None,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut req = PackRequest {
        manifest: args.manifest.clone(),
        payload: args.payload.clone().unwrap_or_default(),
        output_dir: args.output_dir,
        readme: args.readme,
        changelog: args.changelog,
        signing_key,
        compression,
        level,
        threads,
        created_at_ms: created_at_ms()?,
        limits: Limits::build_host(),
    };

    let bar = if std::io::stderr().is_terminal() && !args.json {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} packing {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut progress = |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let result = match &args.image {
        Some(reference) => {
            let input = ImageInput {
                reference,
                platform: args.platform.as_ref(),
                image_name: args.image_name.as_deref(),
                lxc_network: args.lxc_network.clone(),
                registry: &args.registry,
                quiet: args.json,
            };
            pack_image(&mut req, &input, &mut progress)?
        }
        None => pack(&req, &mut progress),
    };
    bar.finish_and_clear();
    let report = result.map_err(|e| match &e {
        PackError::Manifest(issues) => Failure::bad_input_lines(&issues.to_string()),
        e if e.is_bad_input() => Failure::bad_input(chain(e)),
        e => Failure::failed(chain(e)),
    })?;
    for w in &report.warnings {
        eprintln!("berth: warning: {w}");
    }
    let delta = match &args.delta_from {
        Some(old) => Some(write_delta(old, &report.path)?),
        None => None,
    };
    if args.json {
        return match delta {
            Some(d) => print_json(&serde_json::json!({"package": report, "delta": d})),
            None => print_json(&report),
        };
    }
    print(&format!("{}\n", report.path.display()))?;
    if let Some(d) = delta {
        eprintln!(
            "berth: delta from {}: {} bytes ({} bytes of the payload reused, {} sent)",
            d.base_version, d.size_bytes, d.delta.reused_bytes, d.delta.data_bytes
        );
        print(&format!("{}\n", d.path.display()))?;
    }
    Ok(())
}

/// The delta of the package just written against `old`, beside it.
fn write_delta(
    old: &std::path::Path,
    full: &std::path::Path,
) -> Result<berth_package::delta::DeltaReport, Failure> {
    let file = std::fs::File::open(old)
        .map_err(|e| Failure::bad_input(format!("{}: {e}", old.display())))?;
    let head = berth_package::read_head(file, &Default::default())
        .map_err(|e| Failure::bad_input(format!("{}: {}", old.display(), chain(&e))))?;
    let version: String = head
        .manifest
        .version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = full.file_name().unwrap_or_default().to_string_lossy();
    let stem = name.split_once(".tar.").map_or(&*name, |(stem, _)| stem);
    let out = full.with_file_name(format!("{stem}.delta-from-{version}.tar.gz"));
    berth_package::delta::write_delta_package(old, full, &out, &Limits::build_host()).map_err(|e| {
        match &e {
            berth_package::delta::DeltaPackageError::Invalid { .. } => {
                Failure::bad_input(chain(&e))
            }
            _ => Failure::failed(chain(&e)),
        }
    })
}
