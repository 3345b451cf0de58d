//! `berth rootfs populate`: an image written into the engine's storage of a device
//! rootfs, for devices without berthd (with `berth rootfs units`, what
//! meta-virtualization's BUNDLED_CONTAINERS do in a QEMU VM).

use super::failure;
use crate::cmd::image::parse_ref;
use crate::exit::{print, print_json, Failure};
use berth_image::{Platform, RegistryRef};
use berth_rootfs::bundled::Engine;
use berth_rootfs::populate::populate_image;
use berth_rootfs::Root;
use std::path::PathBuf;

/// Write an image into a device rootfs's container storage, ready at first boot.
///
/// For devices without berthd: IMAGE (oci:DIR[:TAG], oci-archive:FILE[:TAG],
/// docker-archive:FILE[:NAME:TAG]; copy a registry image to one of those first with
/// `berth image copy`, pinned by digest) goes into the storage of the engine that
/// runs it, for any architecture and without running anything:
///
///   podman  containers/storage, graphroot and driver from the rootfs's
///           /etc/containers/storage.conf (default /var/lib/containers/storage)
///   docker  Docker's data root from the rootfs's /etc/docker/daemon.json
///           (default /var/lib/docker)
///
/// both with the overlay driver's layout. Layers already there are kept. The image is
/// named NAME[:TAG] (tag latest by default); podman keeps a name without a registry
/// as localhost/NAME, as `podman build` does. `berth rootfs units` then writes the
/// units that run it.
///
/// Exit codes: 0 written, 2 a bad image, name or storage configuration, 1 another
/// failure.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PopulateArgs {
    /// The device's root filesystem.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    /// The engine whose storage receives the image.
    #[arg(long, value_parser = ["docker", "podman"])]
    engine: String,
    /// The name the engine knows the image by, NAME[:TAG] (repeatable).
    #[arg(long, value_name = "NAME[:TAG]", required = true)]
    name: Vec<String>,
    /// The platform to take from a multi-platform image (the device's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    expansion: crate::cmd::image::ExpansionArgs,
    /// The image.
    #[arg(value_name = "IMAGE")]
    image: String,
}

pub fn run(args: PopulateArgs) -> Result<(), Failure> {
    let engine = Engine::parse(&args.engine).expect("clap checked the engine");
    let names = args
        .name
        .iter()
        .map(|n| storage_name(engine, n))
        .collect::<Result<Vec<_>, _>>()?;
    let image = parse_ref(&args.image)?;
    let root = Root::open(&args.rootfs).map_err(failure)?;
    let populated = populate_image(
        &root,
        engine,
        &image,
        &args.image,
        names,
        args.platform.as_ref(),
        &args.expansion.limits(),
    )
    .map_err(failure)?;
    if args.json {
        return print_json(&populated);
    }
    print(&format!(
        "image {} as {} in {} ({}, {}): {} of {} layers written\n",
        populated.image_id,
        populated.names.join(", "),
        populated.root,
        populated.store,
        populated.driver,
        populated.layers_written,
        populated.layers
    ))
}

/// NAME[:TAG] as the engine stores it: tag `latest` when none; for podman a name
/// without a registry under `localhost/`.
fn storage_name(engine: Engine, text: &str) -> Result<String, Failure> {
    let bad = |why: String| Failure::bad_input(format!("--name {text:?}: {why}"));
    let parsed = RegistryRef::parse(text).map_err(bad)?;
    if parsed.digest.is_some() {
        return Err(bad("a name is NAME[:TAG], not a digest".into()));
    }
    let tag = parsed.tag.as_deref().unwrap_or("latest");
    let first = text.split('/').next().unwrap_or_default();
    let has_registry =
        text.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let last_slash = text.rfind('/').map_or(0, |i| i + 1);
    let path = match text[last_slash..].find(':') {
        Some(i) => &text[..last_slash + i],
        None => text,
    };
    Ok(match (engine, has_registry) {
        (_, true) => format!("{}/{}:{tag}", parsed.registry, parsed.repository),
        (Engine::Podman, false) => format!("localhost/{path}:{tag}"),
        (Engine::Docker, false) => format!("{path}:{tag}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stored_as_the_engines_store_them() {
        let name = |e, t| storage_name(e, t).unwrap();
        assert_eq!(name(Engine::Podman, "app"), "localhost/app:latest");
        assert_eq!(
            name(Engine::Podman, "team/app:1.2"),
            "localhost/team/app:1.2"
        );
        assert_eq!(
            name(Engine::Podman, "registry.local:5000/app:1"),
            "registry.local:5000/app:1"
        );
        assert_eq!(name(Engine::Docker, "app"), "app:latest");
        assert_eq!(
            name(Engine::Docker, "docker.io/library/app:2"),
            "docker.io/library/app:2"
        );
        assert_eq!(name(Engine::Podman, "localhost/app:3"), "localhost/app:3");
    }

    #[test]
    fn digests_and_malformed_names_are_refused() {
        let digest = format!("app@sha256:{}", "a".repeat(64));
        assert!(storage_name(Engine::Podman, &digest).is_err());
        assert!(storage_name(Engine::Docker, "App:1").is_err());
        assert!(storage_name(Engine::Docker, "app:bad tag").is_err());
    }
}
