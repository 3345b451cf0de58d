//! `berth image build`.

use super::{failure, parse_ref, RegistryArgs};
use crate::exit::{print, print_json, Failure};
use berth_image::build::{build, BuildSpec, ConfigOptions, LayerSpec};
use berth_image::layer_format::LayerFormat;
use berth_image::{ImageRef, Platform};
use std::path::PathBuf;

/// Build an OCI image from a root filesystem, reproducibly.
///
/// Without --layer, one layer of the whole rootfs. With --layer NAME:TYPE:CONTENT
/// (meta-virtualization's OCI_LAYERS syntax, in order, items joined by +), the rootfs
/// splits into named layers; a file no layer takes is left out unless --rest-layer
/// collects it. Types:
///   directories  /opt/app+/etc/app   those directories and everything below
///   files        /etc/app.conf       exactly those paths
///   host         SRC:DST+SRC:DST     files from outside the rootfs, put at DST
///   packages     busybox+libc6       the files these packages own, read from the
///                                    rootfs's dpkg, opkg or rpm (sqlite) database
/// With --base REF, the base's layers come first and its config is the start.
///
/// The same rootfs and options give the same digest on any machine and thread count:
/// entries sorted, numeric ownership as in the rootfs, no user or group names, mtimes
/// clamped to SOURCE_DATE_EPOCH (0 when unset), a fixed compression and level.
///
/// Examples:
///   berth image build --rootfs rootfs --cmd '/bin/app --serve' oci:out:1
///   berth image build --rootfs rootfs --compression zstd:9 oci:out:1
///   berth image build --rootfs rootfs --layer base:packages:busybox+libc6 \
///       --layer app:directories:/opt/app --rest-layer rest docker-archive:app.tar:app:1
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct BuildArgs {
    /// Where the image goes (any transport).
    #[arg(value_name = "DEST")]
    dest: String,
    /// The root filesystem the files come from.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    /// A named layer, NAME:TYPE:CONTENT (repeatable, in order).
    #[arg(long = "layer", value_name = "NAME:TYPE:CONTENT")]
    layers: Vec<LayerSpec>,
    /// A layer of everything no --layer took.
    #[arg(long, value_name = "NAME")]
    rest_layer: Option<String>,
    /// A base image (any transport): its layers first, its config the start.
    #[arg(long, value_name = "REF")]
    base: Option<String>,
    /// CMD: a JSON array, or a string split as sh does. Replaced by run arguments.
    #[arg(long)]
    cmd: Option<String>,
    /// ENTRYPOINT: always runs, with the CMD (or the run's arguments) appended.
    #[arg(long)]
    entrypoint: Option<String>,
    /// The entrypoint's default arguments, as meta-virtualization's
    /// OCI_IMAGE_ENTRYPOINT_ARGS: the image's CMD, replaced by run arguments (so
    /// another name for --cmd; give one of them).
    #[arg(long, conflicts_with = "cmd")]
    entrypoint_args: Option<String>,
    /// KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    env: Vec<String>,
    #[arg(long, value_name = "DIR")]
    workdir: Option<String>,
    #[arg(long, value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    label: Vec<String>,
    /// PORT[/PROTO] (repeatable).
    #[arg(long, value_name = "PORT[/PROTO]")]
    port: Vec<String>,
    /// A volume path (repeatable).
    #[arg(long, value_name = "PATH")]
    volume: Vec<String>,
    #[arg(long, value_name = "SIGNAL")]
    stop_signal: Option<String>,
    #[arg(long)]
    author: Option<String>,
    /// The image's OS (default: this host's).
    #[arg(long)]
    os: Option<String>,
    /// The image's architecture (default: this host's).
    #[arg(long)]
    arch: Option<String>,
    #[arg(long)]
    variant: Option<String>,
    /// The layer cache (default: $XDG_CACHE_HOME/berth or ~/.cache/berth). A layer is
    /// taken from it when every entry's name, metadata and content hash (and the
    /// compression and epoch) are what they were; safe with builds running at once.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Build every layer; neither read nor write the cache.
    #[arg(long)]
    no_cache: bool,
    /// Bytes the cache keeps at most; least recently used layers go first.
    #[arg(long, value_name = "BYTES", default_value_t = 10 << 30)]
    cache_max_size: u64,
    /// Layers built at once, and each one's compression threads (the output does not
    /// depend on it).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// How layers are compressed: gzip[:LEVEL] (1-12, default 5; every reader takes
    /// it) or zstd[:LEVEL] (1-19, default 3; faster and smaller, read by podman and
    /// Docker 23 and later, skopeo, umoci, and berth: see docs/image.md).
    #[arg(long, value_name = "FORMAT[:LEVEL]", default_value = "gzip")]
    compression: LayerFormat,
    /// Also tag the image TAG at the destination (repeatable; an OCI layout or a
    /// registry: an archive holds the one name DEST gives it).
    #[arg(long, value_name = "TAG")]
    tag: Vec<String>,
    /// Print {"digest", "layers": [{"name", "digest", "size", "cached"}]}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    registry: RegistryArgs,
}

/// `dest` with tag `tag` instead of its own.
fn retagged(dest: &ImageRef, tag: &str) -> Result<ImageRef, Failure> {
    // Written out and parsed again, so the tag meets the reference parser's rules.
    let text = match dest {
        ImageRef::OciLayout { dir, .. } => format!("oci:{}:{tag}", dir.display()),
        ImageRef::Registry(r) => r.docker_tag(tag),
        _ => {
            return Err(Failure::bad_input(
                "--tag: an archive holds the one name its reference gives; tag an OCI layout or a registry",
            ))
        }
    };
    text.parse::<ImageRef>()
        .map_err(|e| Failure::bad_input(format!("--tag {tag:?}: {}", e.why)))
}

pub fn run(args: BuildArgs) -> Result<(), Failure> {
    // Unset: 0, so that a build is reproducible without it (docs/image.md).
    let epoch = crate::cmd::epoch_seconds()?.unwrap_or(0);
    let dest_ref = parse_ref(&args.dest)?;
    let options = args.registry.options();
    let base = match &args.base {
        Some(text) => Some(berth_registry::source(&parse_ref(text)?, &options).map_err(failure)?),
        None => None,
    };
    let host = Platform::host();
    let spec = BuildSpec {
        rootfs: args.rootfs.clone(),
        layers: args.layers.clone(),
        rest_layer: args.rest_layer.clone(),
        config: ConfigOptions {
            cmd: args.cmd.clone(),
            entrypoint: args.entrypoint.clone(),
            entrypoint_args: args.entrypoint_args.clone(),
            env: args.env.clone(),
            workdir: args.workdir.clone(),
            user: args.user.clone(),
            labels: args.label.clone(),
            ports: args.port.clone(),
            volumes: args.volume.clone(),
            stop_signal: args.stop_signal.clone(),
            author: args.author.clone(),
            os: args.os.clone().unwrap_or(host.os),
            architecture: args.arch.clone().unwrap_or(host.architecture),
            variant: args.variant.clone().or(if args.arch.is_none() {
                host.variant
            } else {
                None
            }),
        },
        epoch,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        format: args.compression,
        cache: (!args.no_cache).then(|| {
            args.cache_dir
                .clone()
                .unwrap_or_else(berth_image::build::cache::default_dir)
        }),
        cache_max: args.cache_max_size,
    };
    if !spec.rootfs.is_dir() {
        return Err(Failure::bad_input(format!(
            "--rootfs {}: not a directory",
            spec.rootfs.display()
        )));
    }
    let extra_tags = args
        .tag
        .iter()
        .map(|t| retagged(&dest_ref, t))
        .collect::<Result<Vec<_>, _>>()?;
    let dest = berth_registry::dest(&dest_ref, &options).map_err(failure)?;
    let report = build(&spec, base.as_deref(), dest).map_err(failure)?;
    // The other tags: a copy from the destination to itself under each, which finds
    // every blob there and writes only the tag.
    let built = berth_registry::source(&dest_ref, &options).map_err(failure)?;
    for tagged in &extra_tags {
        let dest = berth_registry::dest(tagged, &options).map_err(failure)?;
        berth_image::copy(
            &*built,
            dest,
            &berth_image::CopyOptions::default(),
            &berth_image::copy::NoProgress,
        )
        .map_err(failure)?;
    }
    if args.json {
        return print_json(&report);
    }
    let mut text = format!(
        "built {} ({}) from {}\n",
        args.dest,
        report.digest,
        spec.rootfs.display()
    );
    for l in &report.layers {
        text.push_str(&format!(
            "  layer {:<12} {} {:>12} bytes{}\n",
            l.name,
            l.digest,
            l.size,
            if l.cached { " (cached)" } else { "" }
        ));
    }
    print(&text)
}
