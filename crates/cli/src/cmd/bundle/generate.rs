//! `berth bundle generate`: a drop-in for `bundlegen generate`.

use super::failure;
use crate::cmd::image::{parse_ref, Bars, ExpansionArgs};
use crate::exit::{print, print_json, Failure};
use berth_bundle::process::{LibMode, Options};
use berth_bundle::GenerateRequest;
use berth_registry::Credentials;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
enum LibMatching {
    /// The copy with the most API versions (host when equal).
    Normal,
    /// The image's copy, when it has one.
    Image,
    /// Always the host's (bind-mounted; the image's removed).
    Host,
}

/// Generate a device bundle from an OCI image for a platform (as `bundlegen generate`).
///
/// OUTPUTDIR receives config.json and rootfs/, and OUTPUTDIR.tar.gz (or .ipk) is
/// written beside it. The platform's template (<platform>.json, and <platform>_libs.json
/// for library matching) is searched for below the search path; the app's metadata
/// comes from -a or the image's /appmetadata.json. Exit 1 on an error, 2 when the app
/// is incompatible with the platform (OUTPUTDIR is then not written).
///
/// Example:
///   berth bundle generate -p rpi3_reference -s templates/ docker://registry/app:1 out/app
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct GenerateArgs {
    /// The image: docker://, oci:, oci-archive:, docker-archive: (skopeo's syntax).
    #[arg(value_name = "IMAGE")]
    image: String,
    /// Where the bundle goes (config.json, rootfs/); the archive is written beside it.
    #[arg(value_name = "OUTPUTDIR")]
    output: PathBuf,
    /// The platform's name (its template is <name>.json).
    #[arg(short, long, env = "RDK_PLATFORM")]
    platform: String,
    /// Where to look for platform templates (repeatable; the variable may hold
    /// several, separated by ':').
    #[arg(
        short,
        long = "searchpath",
        env = "RDK_PLATFORM_SEARCHPATH",
        value_delimiter = ':',
        required = true
    )]
    searchpath: Vec<PathBuf>,
    /// Registry credentials, USER:PASS.
    #[arg(short, long, env = "RDK_OCI_REGISTRY_CREDS", value_name = "USER:PASS")]
    creds: Option<Credentials>,
    /// Write OUTPUTDIR.ipk instead of OUTPUTDIR.tar.gz.
    #[arg(short, long, env = "FILE_FORMAT_IPK")]
    ipk: bool,
    /// The app's metadata (else the image's /appmetadata.json).
    #[arg(short, long = "appmetadata", value_name = "FILE")]
    appmetadata: Option<PathBuf>,
    /// Replace OUTPUTDIR without asking.
    #[arg(short, long)]
    yes: bool,
    /// Do not walk libraries' dependencies.
    #[arg(short, long)]
    nodepwalking: bool,
    /// Which copy of a library both host and image have is used.
    #[arg(short = 'm', long, value_enum, default_value = "normal")]
    libmatchingmode: LibMatching,
    /// Create mount points in the rootfs (platforms with a read-only rootfs).
    #[arg(short = 'r', long)]
    createmountpoints: bool,
    /// The app's id, instead of the metadata's.
    #[arg(short = 'x', long)]
    appid: Option<String>,
    /// A plain OCI bundle for crun or runc: no Dobby, no rdkPlugins.
    #[arg(short = 'u', long, alias = "plain")]
    crun: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    expansion: ExpansionArgs,
}

pub fn run(args: GenerateArgs) -> Result<(), Failure> {
    if args.output.exists() && !args.yes {
        let asked = std::io::stdin().is_terminal() && {
            eprint!(
                "{} exists: its content will be replaced. Continue? [y/N] ",
                args.output.display()
            );
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).is_ok()
                && matches!(answer.trim(), "y" | "Y" | "yes")
        };
        if !asked {
            return Err(Failure::failed(format!(
                "{} exists: -y replaces it",
                args.output.display()
            )));
        }
    }
    let reference = parse_ref(&args.image)?;
    let options = berth_registry::Options {
        creds: args.creds.clone(),
        ..berth_registry::Options::default()
    };
    let epoch = crate::cmd::epoch_seconds()?;
    let source = berth_registry::source(&reference, &options).map_err(|e| failure(e.into()))?;
    let req = GenerateRequest {
        platform: args.platform.clone(),
        search_paths: args.searchpath.clone(),
        app_metadata: args.appmetadata.clone(),
        app_id: args.appid.clone(),
        ipk: args.ipk,
        options: Options {
            crun: args.crun,
            create_mount_points: args.createmountpoints,
            dep_walking: !args.nodepwalking,
            lib_mode: match args.libmatchingmode {
                LibMatching::Normal => LibMode::Normal,
                LibMatching::Image => LibMode::Image,
                LibMatching::Host => LibMode::Host,
            },
        },
        epoch,
        limits: args.expansion.limits(),
    };
    let bars = Bars::new(args.json);
    let report = berth_bundle::generate(&*source, &args.output, &req, &bars).map_err(failure)?;
    for w in &report.warnings {
        eprintln!("berth: warning: {w}");
    }
    if args.json {
        return print_json(&report);
    }
    print(&format!(
        "generated {} for {} from {} ({}): {}\n",
        report.app_id,
        report.platform,
        args.image,
        report.image_digest,
        report.archive.display()
    ))
}
