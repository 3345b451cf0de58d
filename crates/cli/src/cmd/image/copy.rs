//! `berth image copy SRC DEST`.

use super::{failure, parse_ref, Bars, RegistryArgs};
use crate::exit::{print, print_json, Failure};
use berth_image::layer_format::LayerFormat;
use berth_image::{CopyOptions, Digest, ImageRef, Platform, RegistryRef};
use berth_registry::RegistrySource;

/// Copy an image between registries, OCI layouts and archives, digests preserved.
///
/// Manifests are copied byte for byte, so the destination has the digests the source
/// has (skopeo's --preserve-digests), except docker-archive, whose format stores no
/// manifest (its layers are stored uncompressed, as skopeo and docker save do), and
/// with --dest-compress-format, which writes the layers anew. From an
/// index, the manifest for --platform (default: this host's) is copied, or with --all
/// the whole index. A DEST docker-archive:FILE.zst is written zstd-compressed, as Isar
/// stores images.
///
/// A registry source should be pinned by digest: without one, berth warns and names
/// the digest to pin (--strict makes it an error); with both a tag and a digest
/// (docker://NAME;digest=sha256:…;tag=T, Isar's fetcher syntax, or NAME:T@sha256:…),
/// the tag must point at that digest (else exit 2, naming both and the reference to
/// use).
///
/// Examples:
///   berth image copy docker://127.0.0.1:5000/app:1 oci:./layout:1
///   berth image copy 'docker://reg/app;digest=sha256:…;tag=1' docker-archive:app.tar.zst:app:1
///   berth image copy --all docker://reg/app:1 oci-archive:app.tar
///   berth image copy --dest-compress-format zstd oci:./layout:1 docker://reg/app:1-zstd
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct CopyArgs {
    /// Where the image comes from.
    #[arg(value_name = "SRC")]
    source: String,
    /// Where it goes.
    #[arg(value_name = "DEST")]
    dest: String,
    /// The platform to copy from an index: OS/ARCH[/VARIANT]; Debian's armhf and
    /// armel mean arm/v7 and arm/v6. ARM variants fall back v8 → v7 → v6 → v5.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    /// Copy every platform of an index.
    #[arg(long, conflicts_with = "platform")]
    all: bool,
    /// Compress the layers again as FORMAT: gzip or zstd (skopeo's option; a layer
    /// already in FORMAT is kept). Layer digests change and manifests are written as
    /// OCI's. Not for a docker-archive, whose layers are stored uncompressed.
    #[arg(long, value_name = "FORMAT", value_parser = ["gzip", "zstd"])]
    dest_compress_format: Option<String>,
    /// The level for --dest-compress-format: gzip 1-12 (default 5), zstd 1-19
    /// (default 3).
    #[arg(long, value_name = "LEVEL", requires = "dest_compress_format")]
    dest_compress_level: Option<u32>,
    /// Refuse a registry source that is not pinned by digest.
    #[arg(long)]
    strict: bool,
    /// Print a JSON report (digests, platform, layers, bytes) instead of text.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// Isar's rule for a registry source: a tag and a digest must agree; no digest is
/// a warning (with --strict an error) naming the digest to pin. Returns the digest
/// the copy takes, so that it copies exactly what the warning named even if the tag
/// moves meanwhile.
fn check_pin(r: &RegistryRef, text: &str, args: &CopyArgs) -> Result<Digest, Failure> {
    let options = args.registry.options();
    let name = format!("docker://{}/{}", r.registry, r.repository);
    match (&r.tag, &r.digest) {
        (Some(tag), Some(digest)) => {
            let source = RegistrySource::new(r.clone(), &options);
            let actual = source.tag_digest(tag).map_err(|e| failure(e.into()))?;
            if &actual != digest {
                return Err(Failure::bad_input(format!(
                    "{text}: tag {tag} points at {actual}, not {digest}; to take what the tag has now, use {name};digest={actual};tag={tag}"
                )));
            }
            Ok(actual)
        }
        (tag, None) => {
            let tag = tag.clone().unwrap_or_else(|| "latest".into());
            let source = RegistrySource::new(r.clone(), &options);
            let actual = source.tag_digest(&tag).map_err(|e| failure(e.into()))?;
            let line = format!(
                "{text} is not pinned: tag {tag} is {actual} now; pin it with {name};digest={actual};tag={tag}"
            );
            if args.strict {
                return Err(Failure::bad_input(line));
            }
            eprintln!("berth: warning: {line}");
            Ok(actual)
        }
        (None, Some(digest)) => Ok(digest.clone()),
    }
}

pub fn run(args: CopyArgs) -> Result<(), Failure> {
    let mut source_ref = parse_ref(&args.source)?;
    let dest_ref = parse_ref(&args.dest)?;
    if let ImageRef::Registry(r) = &mut source_ref {
        r.digest = Some(check_pin(r, &args.source, &args)?);
    }
    let options = args.registry.options();
    let source = berth_registry::source(&source_ref, &options).map_err(failure)?;
    // A layout this copy creates is removed again if the copy fails (archives are
    // written to a temporary file and appear only when whole).
    let new_layout = match &dest_ref {
        ImageRef::OciLayout { dir, .. } if !dir.exists() => Some(dir.clone()),
        _ => None,
    };
    let recompress = match &args.dest_compress_format {
        None => None,
        Some(_) if matches!(dest_ref, ImageRef::DockerArchive { .. }) => {
            return Err(Failure::bad_input(format!(
                "--dest-compress-format: {} stores layers uncompressed (docker load's format); copy to oci:, oci-archive: or docker://",
                args.dest
            )))
        }
        Some(format) => {
            let text = match args.dest_compress_level {
                Some(level) => format!("{format}:{level}"),
                None => format.clone(),
            };
            Some(text.parse::<LayerFormat>().map_err(|why| {
                Failure::bad_input(format!("--dest-compress-level: {why}"))
            })?)
        }
    };
    let copy_options = CopyOptions {
        platform: args.platform.clone(),
        all: args.all,
        recompress,
    };
    let bars = Bars::new(args.quiet || args.json);
    let copied = berth_registry::dest(&dest_ref, &options)
        .and_then(|dest| berth_image::copy(&*source, dest, &copy_options, &bars));
    let report = match copied {
        Ok(report) => report,
        Err(e) => {
            if let Some(dir) = new_layout {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(failure(e));
        }
    };
    if args.json {
        return print_json(&report);
    }
    let copied = report.layers.iter().filter(|l| !l.skipped).count();
    let mut text = format!(
        "copied {} to {}: {}{}, {} layers ({} copied, {} already there), {} bytes\n",
        args.source,
        args.dest,
        report.digest,
        report
            .platform
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default(),
        report.layers.len(),
        copied,
        report.layers.len() - copied,
        report.bytes
    );
    if report.dest_digest != report.digest {
        text.push_str(&format!(
            "the destination's format rewrites the manifest: it reads back as {}\n",
            report.dest_digest
        ));
    }
    print(&text)
}
