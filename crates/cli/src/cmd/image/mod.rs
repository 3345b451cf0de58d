//! `berth image …`: copy, inspect and unpack images in skopeo's transport syntax.
//! Options shared by the commands that talk to registries, the progress bars, and
//! how image errors become exit codes.

pub mod build;
pub mod cache;
pub mod copy;
pub mod inspect;
pub mod unpack;

use crate::exit::{chain, Failure};
use berth_image::copy::Progress;
use berth_image::{ImageError, ImageRef};
use berth_registry::{Credentials, Options, RegistryError};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use oci_spec::image::Descriptor;
use std::io::IsTerminal;
use std::sync::Mutex;

/// Work with container images: build from a rootfs; copy between registries, archives and layouts; inspect; unpack.
///
/// References use skopeo's transports: docker://HOST/REPO:TAG|@DIGEST, oci:DIR[:TAG],
/// oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]. Isar's fetcher form
/// docker://NAME;digest=sha256:…;tag=T is accepted as a source.
#[derive(clap::Subcommand)]
pub enum ImageCommand {
    Build(Box<build::BuildArgs>),
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    Copy(copy::CopyArgs),
    Inspect(inspect::InspectArgs),
    Unpack(unpack::UnpackArgs),
}

pub fn run(command: ImageCommand) -> Result<(), Failure> {
    match command {
        ImageCommand::Build(a) => build::run(*a),
        ImageCommand::Cache(c) => cache::run(c),
        ImageCommand::Copy(a) => copy::run(a),
        ImageCommand::Inspect(a) => inspect::run(a),
        ImageCommand::Unpack(a) => unpack::run(a),
    }
}

/// How far an untrusted image's layers may expand (docs/security.md).
#[derive(clap::Args, Clone)]
pub struct ExpansionArgs {
    /// A layer may expand to N times its compressed size (plus 256 MiB); more is
    /// refused as a decompression bomb.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_expansion_ratio: u64,
    /// The image's layers may hold this many bytes of file data in all (suffixes K,
    /// M, G, T: powers of 1024).
    #[arg(long, value_name = "BYTES", default_value = "64G", value_parser = parse_bytes)]
    pub max_unpacked_size: u64,
}

impl ExpansionArgs {
    pub fn limits(&self) -> berth_image::unpack::ExpansionLimits {
        berth_image::unpack::ExpansionLimits {
            max_ratio: self.max_expansion_ratio,
            max_total: self.max_unpacked_size,
        }
    }
}

/// `123`, `64G`, `512M`, `10K`, `1T`.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.char_indices().last() {
        Some((i, 'K' | 'k')) => (&text[..i], 10),
        Some((i, 'M' | 'm')) => (&text[..i], 20),
        Some((i, 'G' | 'g')) => (&text[..i], 30),
        Some((i, 'T' | 't')) => (&text[..i], 40),
        _ => (text, 0),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| format!("{text:?}: a number of bytes, with K, M, G or T"))
}

/// How to reach registries.
#[derive(clap::Args, Clone)]
pub struct RegistryArgs {
    /// Credentials for the registry (else podman's/skopeo's auth.json, then docker's
    /// config.json are read).
    #[arg(long, value_name = "USER:PASS")]
    pub creds: Option<Credentials>,
    /// Verify TLS; false talks plain HTTP to the registry. Loopback registries
    /// (127.0.0.0/8, ::1, localhost) are always spoken to in plain HTTP.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Retries on HTTP 429, 5xx and dropped connections (backoff 2 s doubling, at
    /// most 60 s, or what Retry-After says).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub retries: u32,
}

impl RegistryArgs {
    pub fn options(&self) -> Options {
        Options {
            creds: self.creds.clone(),
            tls_verify: self.tls_verify,
            retries: self.retries,
            ..Options::default()
        }
    }
}

pub fn parse_ref(text: &str) -> Result<ImageRef, Failure> {
    text.parse::<ImageRef>()
        .map_err(|e| Failure::bad_input(format!("reference {e}")))
}

/// An image error as one line and its exit code: 2 for what the input got wrong
/// (malformed or hostile images, archives and registry answers, digests that do not
/// match, a platform the image lacks), 1 for what failed around it (I/O, network,
/// a registry's refusal).
pub fn failure(e: ImageError) -> Failure {
    let line = chain(&e);
    match &e {
        ImageError::Io { .. } | ImageError::Layout(berth_image::LayoutError::Io { .. }) => {
            Failure::failed(line)
        }
        // The host failing to write (a full disk), not the image breaking a rule.
        ImageError::Fs(e) | ImageError::Layout(berth_image::LayoutError::Fs(e))
            if !e.is_invalid() =>
        {
            Failure::failed(line)
        }
        ImageError::Remote(inner) => match inner.downcast_ref::<RegistryError>() {
            Some(RegistryError::Protocol { .. }) => Failure::bad_input(line),
            _ => Failure::failed(line),
        },
        _ => Failure::bad_input(line),
    }
}

/// Progress bars on a terminal (stderr), one per blob; nothing otherwise.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<Vec<ProgressBar>>,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        let on = !quiet && std::io::stderr().is_terminal();
        Bars {
            multi: on.then(MultiProgress::new),
            bars: Mutex::new(Vec::new()),
        }
    }
}

impl Progress for Bars {
    fn started(&self, d: &Descriptor, label: &str) -> usize {
        let Some(multi) = &self.multi else { return 0 };
        let bar = multi.add(ProgressBar::new(d.size()));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>9} {msg:.dim} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        let digest = d.digest().to_string();
        bar.set_message(digest.chars().skip(7).take(12).collect::<String>());
        let mut bars = self.bars.lock().expect("unpoisoned");
        bars.push(bar);
        bars.len() - 1
    }
    fn advanced(&self, blob: usize, bytes: u64) {
        if self.multi.is_some() {
            if let Some(b) = self.bars.lock().expect("unpoisoned").get(blob) {
                b.inc(bytes);
            }
        }
    }
    fn finished(&self, blob: usize, skipped: bool) {
        if self.multi.is_some() {
            if let Some(b) = self.bars.lock().expect("unpoisoned").get(blob) {
                b.finish_with_message(if skipped { "exists" } else { "done" });
            }
        }
    }
}
