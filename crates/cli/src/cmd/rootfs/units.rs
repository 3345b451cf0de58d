//! `berth rootfs units`: systemd units for containers on devices without berthd.

use super::failure;
use crate::exit::{print, print_json, Failure};
use berth_rootfs::bundled::Bundled;
use berth_rootfs::units::write_units;
use berth_rootfs::Root;
use std::path::PathBuf;

/// Write systemd units that run containers on a device without berthd.
///
/// Each --bundled entry is meta-virtualization's BUNDLED_CONTAINERS syntax,
/// NAME:RUNTIME[:POLICY][:external], with NAME an image reference
/// ([HOST[:PORT]/]PATH[:TAG], tag latest by default) whose image the engine holds
/// (see `berth rootfs loader`), RUNTIME docker or podman.
///
///   docker: /lib/systemd/system/container-<name>.service, which runs
///           `docker run --rm --name <name> <image>`, and its link in
///           /etc/systemd/system/multi-user.target.wants when it starts at boot
///   podman: a Quadlet /etc/containers/systemd/<name>.container, with an [Install]
///           section when it starts at boot
///
/// <name> is the image path's last component. POLICY: autostart, always and
/// unless-stopped start at boot with Restart=always (a unit stopped on purpose stays
/// stopped, which is docker's unless-stopped); on-failure with Restart=on-failure;
/// no, or no POLICY, is not started at boot and has Restart=no. `external` marks an
/// image not built with the rootfs; it is not a policy.
///
/// Exit codes: 0 written, 2 a bad entry or unit file, 1 another failure.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct UnitsArgs {
    /// The device's root filesystem.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    /// A container: NAME:RUNTIME[:POLICY][:external]. Repeat for more.
    #[arg(long, value_name = "ENTRY", required = true)]
    bundled: Vec<String>,
    /// Install FILE as <name>'s unit instead of the generated one (a .service with
    /// [Service] for docker, a Quadlet .container with [Container] for podman).
    #[arg(long, value_name = "NAME=FILE")]
    service_file: Vec<String>,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: UnitsArgs) -> Result<(), Failure> {
    let root = Root::open(&args.rootfs).map_err(failure)?;
    let bundled = args
        .bundled
        .iter()
        .map(|b| Bundled::parse(b))
        .collect::<Result<Vec<_>, _>>()
        .map_err(failure)?;
    let mut custom = Vec::new();
    for entry in &args.service_file {
        let Some((name, file)) = entry.split_once('=') else {
            return Err(Failure::bad_input(format!(
                "--service-file {entry:?}: write NAME=FILE"
            )));
        };
        custom.push((name.to_string(), PathBuf::from(file)));
    }
    let written = write_units(&root, &bundled, &custom).map_err(failure)?;
    if args.json {
        return print_json(&written);
    }
    let mut text = String::new();
    for unit in &written {
        text.push_str(&format!(
            "{} ({}): {}{}{}\n",
            unit.name,
            unit.engine.as_str(),
            unit.unit,
            if unit.custom {
                " (from --service-file)"
            } else {
                ""
            },
            match (&unit.wants, unit.autostart) {
                (Some(link), _) => format!(", enabled by {link}"),
                (None, true) => ", enabled by its [Install] section".into(),
                (None, false) => ", not started at boot".into(),
            }
        ));
    }
    print(&text)
}
