//! `berth rootfs install`: packages placed in a device rootfs for berthd to install
//! at its start.

use super::failure;
use crate::exit::{chain, print, print_json, Failure};
use berth_rootfs::install::{place, DeviceTrust, InstallOptions, Placed};
use berth_rootfs::populate::{populate, Populated};
use berth_rootfs::{Root, RootfsError};
use std::path::PathBuf;

/// Place packages in a device rootfs; berthd installs them at its first start.
///
/// Each package is copied to WORKING_PATH/preinstalled/<id>.tar.gz in the rootfs and
/// the copy verified there (checksums, manifest, payload digest, and the signature
/// against the keys the device's berthd trusts: trust.keys of the rootfs's
/// berthd.conf, read inside the rootfs). At every start berthd installs a package
/// found there whose container is not registered, or that it has not installed from
/// there before while another version or build is registered (so a rootfs update
/// with a new package installs it once, and a container updated since is not
/// downgraded). A package that fails is reported and the others are still placed.
///
/// Exit codes: 0 all placed, 2 a package invalid or untrusted (or bad arguments),
/// 1 another failure.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct InstallArgs {
    /// The device's root filesystem.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    /// berthd's working path on the device [default: the rootfs's berthd.conf
    /// service.working_path, else /var/lib/berth].
    #[arg(long, value_name = "PATH")]
    working_path: Option<String>,
    /// berthd's configuration, as a path on the device.
    #[arg(long, value_name = "PATH", default_value = "/etc/berth/berthd.conf")]
    config: String,
    /// Let berthd delete each package once installed (Isar's
    /// CONTAINER_DELETE_AFTER_LOAD); by default it stays for a factory reset.
    #[arg(long)]
    delete_after_install: bool,
    /// Also write each package's image into the rootfs's container storage, for any
    /// architecture and without running anything: podman packages into
    /// containers/storage (graphroot and driver from /etc/containers/storage.conf),
    /// docker packages into Docker's data root (/etc/docker/daemon.json); overlay
    /// drivers. berthd's first start then finds every layer there.
    #[arg(long)]
    populate_storage: bool,
    /// Print what was placed as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    expansion: crate::cmd::image::ExpansionArgs,
    /// Packages (.tar.gz or .tar.zst).
    #[arg(value_name = "PKG", required = true)]
    packages: Vec<PathBuf>,
}

/// What the rootfs's berthd.conf says about working path and trust.
fn device_settings(root: &Root, config: &str) -> Result<(String, DeviceTrust), Failure> {
    let defaults = || {
        (
            "/var/lib/berth".to_string(),
            DeviceTrust {
                keys: Vec::new(),
                require_signature: false,
            },
        )
    };
    let path = root.path(config, true).map_err(failure)?;
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(defaults()),
        Err(e) => return Err(Failure::failed(format!("{}: {e}", path.display()))),
    };
    let (cfg, _warnings) = berth_daemon::config::parse(&bytes).map_err(|issues| {
        Failure::BadInput(
            issues
                .iter()
                .map(|i| format!("{} (the rootfs's {config}): {i}", path.display()))
                .collect(),
        )
    })?;
    let mut keys = Vec::new();
    for key in &cfg.trust.keys {
        let on_host = root.path(&key.to_string_lossy(), true).map_err(failure)?;
        let key = berth_package::sign::read_verifying_key(&on_host).map_err(|e| {
            Failure::bad_input(format!(
                "trust.keys in the rootfs's {config}: {}",
                chain(&e)
            ))
        })?;
        keys.push(key);
    }
    let working_path = cfg.service.working_path.to_string_lossy().into_owned();
    Ok((
        working_path,
        DeviceTrust {
            keys,
            require_signature: cfg.trust.require_signature,
        },
    ))
}

pub fn run(args: InstallArgs) -> Result<(), Failure> {
    let root = Root::open(&args.rootfs).map_err(failure)?;
    let (configured, trust) = device_settings(&root, &args.config)?;
    let opts = InstallOptions {
        working_path: args.working_path.clone().unwrap_or(configured),
        trust,
        delete_after_install: args.delete_after_install,
    };
    #[derive(serde::Serialize)]
    struct Done {
        #[serde(flatten)]
        placed: Placed,
        #[serde(skip_serializing_if = "Option::is_none")]
        populated: Option<Populated>,
    }
    let mut placed: Vec<Done> = Vec::new();
    let mut lines = String::new();
    let mut failures: Vec<Failure> = Vec::new();
    let place_one = |package: &PathBuf| -> Result<Done, RootfsError> {
        let placed = place(&root, &opts, package)?;
        let populated = match args.populate_storage {
            true => {
                let on_host = root.path(&placed.device_path, false)?;
                match populate(&root, &on_host, &args.expansion.limits()) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        // Not half done: the package goes again with its storage.
                        let _ = std::fs::remove_file(&on_host);
                        return Err(e);
                    }
                }
            }
            false => None,
        };
        Ok(Done { placed, populated })
    };
    for package in &args.packages {
        match place_one(package) {
            Ok(done) => {
                let p = &done.placed;
                lines += &format!(
                    "placed {} {} ({}, {}) at {}\n",
                    p.id, p.version, p.runtime, p.signature, p.device_path
                );
                if let Some(s) = &done.populated {
                    lines += &format!(
                        "  image {} in {} ({}, {}): {} of {} layers written\n",
                        s.image_id, s.root, s.store, s.driver, s.layers_written, s.layers
                    );
                }
                placed.push(done);
            }
            // A refused package does not stop the others; its lines come at the end.
            Err(e) => failures.push(failure(e)),
        }
    }
    if args.json {
        print_json(&placed)?;
    } else if !placed.is_empty() {
        print(&format!(
            "{lines}{} of {} packages placed under {} in {}\n",
            placed.len(),
            args.packages.len(),
            opts.working_path,
            args.rootfs.display()
        ))?;
    }
    Failure::all(failures).map_or(Ok(()), Err)
}
