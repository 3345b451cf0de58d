//! `inspect` and `verify`: both read the whole package in one streaming pass and
//! apply every check; inspect then shows what is inside.

use crate::exit::{chain, print, print_json, Failure};
use berth_package::sign::read_verifying_key;
use berth_package::{read_package, Limits, PackageReport, ReadError, ReadOptions};
use std::fmt::Write as _;
use std::fs::File;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// The package file, or - for standard input.
    #[arg(value_name = "PKG")]
    package: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Require a valid signature by this public key (repeatable: any of them).
    #[arg(long, value_name = "PUBKEY")]
    trust: Vec<PathBuf>,
    /// Refuse streams that expand more than N times their compressed size (beyond a
    /// first 256 MiB): a guard against decompression bombs.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_expansion_ratio)]
    max_expansion: u64,
}

/// Show what a package holds, after checking all of it.
///
/// Reads the package once: manifest, payload kind, image references, layers and their
/// sizes, metadata files, signature status. An invalid package is refused exactly as
/// `verify` refuses it. PKG may be - for standard input.
#[derive(clap::Args)]
pub struct InspectArgs {
    #[command(flatten)]
    args: CheckArgs,
}

/// Check a package: every checksum, the payload's digest and size against the
/// manifest, the manifest's rules, the signature.
///
/// Exit status: 0 valid, 2 invalid (each reason on its own line), 1 the package
/// could not be read. With --trust, a valid signature by one of the keys is required;
/// without it, unsigned packages are valid but a signature present must be valid.
#[derive(clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    args: CheckArgs,
}

fn check(opts: &CheckArgs) -> Result<PackageReport, Failure> {
    let package = &opts.package;
    let mut read_opts = ReadOptions {
        limits: Limits::build_host(),
        ..ReadOptions::default()
    };
    read_opts.limits.max_expansion_ratio = opts.max_expansion;
    for path in &opts.trust {
        read_opts
            .trusted_keys
            .push(read_verifying_key(path).map_err(|e| Failure::bad_input(chain(&e)))?);
    }
    let name = package.display().to_string();
    let result = if package.as_os_str() == "-" {
        read_package(std::io::stdin(), &read_opts)
    } else {
        // Unreadable input, a missing file included, is exit 1 (docs/cli.md).
        let file = File::open(package)
            .map_err(|e| Failure::failed(format!("{name}: cannot open: {e}")))?;
        read_opts.compressed_len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        read_package(file, &read_opts)
    };
    result.map_err(|e| match e {
        ReadError::Invalid(problems) => {
            Failure::BadInput(problems.0.iter().map(|p| format!("{name}: {p}")).collect())
        }
        ReadError::Io(e) => Failure::failed(format!("{name}: {}", chain(&e))),
        ReadError::Refused(e) => Failure::failed(format!("{name}: {}", chain(&*e))),
    })
}

fn warn(report: &PackageReport) {
    for w in &report.warnings {
        eprintln!("berth: warning: {w}");
    }
}

pub fn verify(VerifyArgs { args }: VerifyArgs) -> Result<(), Failure> {
    let report = check(&args)?;
    warn(&report);
    if args.json {
        return print_json(&serde_json::json!({
            "valid": true,
            "package_id": report.package_id,
            "version": report.version,
            "digest": report.payload.digest,
            "signature": report.signature,
        }));
    }
    print(&format!(
        "{}: valid ({} {}, payload {}, signature {})\n",
        args.package.display(),
        report.package_id,
        report.version,
        report.payload.digest,
        report.signature
    ))
}

pub fn inspect(InspectArgs { args }: InspectArgs) -> Result<(), Failure> {
    let report = check(&args)?;
    warn(&report);
    if args.json {
        return print_json(&report);
    }
    print(&render(&report))
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

fn render(r: &PackageReport) -> String {
    let m = &r.manifest;
    let field = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("-").to_string();
    let mut s = String::new();
    let _ = writeln!(s, "package:     {} {}", r.package_id, r.version);
    if let Some(name) = m.get("name").and_then(|v| v.as_str()) {
        let _ = writeln!(s, "name:        {name}");
    }
    let _ = writeln!(s, "runtime:     {} ({})", r.runtime, field("artifact_type"));
    let devices: Vec<&str> = m
        .get("device_types")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|d| d.as_str()).collect())
        .unwrap_or_default();
    let _ = writeln!(s, "devices:     {}", devices.join(", "));
    let _ = writeln!(s, "created:     {}", field("created_at"));
    let _ = writeln!(
        s,
        "size:        {} ({})",
        human(r.compressed_bytes),
        r.compression.as_str()
    );
    let _ = writeln!(s, "signature:   {}", r.signature);
    if let Some(args) = m.get("create_args").and_then(|v| v.as_str()) {
        let _ = writeln!(s, "create_args: {args}");
    }
    if let Some(rd) = m.get("registration_defaults") {
        let b = |k: &str| rd.get(k).map(|v| v.to_string()).unwrap_or_default();
        let rs = rd.get("restart").cloned().unwrap_or_default();
        let i = |k: &str| rs.get(k).map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            s,
            "defaults:    autostart {}, monitor {}, restart {} (max_retries {}, window {}s, retry_delay {}s)",
            b("autostart"),
            b("monitor"),
            i("enabled"),
            i("max_retries"),
            i("window"),
            i("retry_delay")
        );
    }
    let p = &r.payload;
    let _ = writeln!(
        s,
        "payload:     payload/{} ({}, {})",
        p.name,
        p.summary.kind.as_str(),
        human(p.size)
    );
    let _ = writeln!(s, "digest:      {}", p.digest);
    for image in &p.summary.images {
        let _ = writeln!(s, "image:       {image}");
    }
    if let Some(dir) = &p.summary.bundle_dir {
        let shown = if dir.is_empty() { "(top level)" } else { dir };
        let _ = writeln!(s, "bundle:      {shown}");
    }
    for (i, layer) in p.summary.layers.iter().enumerate() {
        let _ = writeln!(s, "layer {i:<5} {} ({})", layer.name, human(layer.size));
    }
    for f in &r.metadata {
        let _ = writeln!(s, "metadata:    {} ({})", f.name, human(f.size));
    }
    s
}
