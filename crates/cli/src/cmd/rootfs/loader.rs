//! `berth rootfs loader`: Isar's container loader, images included.

use super::failure;
use crate::cmd::image::{parse_ref, Bars, RegistryArgs};
use crate::exit::{print, print_json, Failure};
use berth_image::{CopyOptions, ImageRef, Platform, RegistryRef};
use berth_rootfs::bundled::Engine;
use berth_rootfs::loader::{check_name, image_file_name, images_dir, write_loader, LoaderImage};
use berth_rootfs::Root;
use std::path::PathBuf;

/// Put images and Isar's loader for them into a device rootfs.
///
/// Each IMAGE (skopeo's syntax: docker://HOST/REPO:TAG|@DIGEST, Isar's
/// docker://NAME;digest=…;tag=T, oci:DIR[:TAG], oci-archive:, docker-archive:) is
/// copied as a zstd docker-archive to /usr/share/<name>/images/<NAME, / → .>:<TAG>.zst,
/// named NAME:TAG inside. Registry images take their name from the reference;
/// others need one: IMAGE=NAME:TAG. Then, as Isar lays them out:
///
///   /usr/share/<name>/image.list            `<file> <NAME>:<TAG>` per image
///   /usr/share/<name>/image.ids             `<file> <image id>` (berth's)
///   /usr/share/<name>/container-loader.sh   the loader
///   /lib/systemd/system/<name>.service      oneshot, after the engine, enabled
///
/// At boot the loader loads each image the engine lacks or holds another image under
/// its name (Isar's loads only absent names, so an image rebuilt under the same tag
/// never reaches the device), goes on past an image that fails, and exits 1 if any
/// did. With --delete-after-load it deletes each archive once loaded; by default
/// they stay for a factory reset.
///
/// Exit codes: 0 written, 2 a bad image or argument, 1 another failure.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct LoaderArgs {
    /// The device's root filesystem.
    #[arg(long, value_name = "DIR")]
    rootfs: PathBuf,
    /// The engine that loads them.
    #[arg(long, value_parser = ["docker", "podman"])]
    engine: String,
    /// The loader's name: its directory under /usr/share and its unit.
    #[arg(long, value_name = "NAME", default_value = "container-loader")]
    name: String,
    /// Delete each image archive once loaded (Isar's CONTAINER_DELETE_AFTER_LOAD=1).
    #[arg(long)]
    delete_after_load: bool,
    /// The platform to take from a multi-platform image (the device's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<Platform>,
    /// Print what was written as JSON.
    #[arg(long)]
    json: bool,
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Images: REF, or REF=NAME:TAG.
    #[arg(value_name = "IMAGE", required = true)]
    images: Vec<String>,
}

/// The source and the NAME, TAG an image is loaded as.
fn image_and_name(text: &str) -> Result<(ImageRef, String, String), Failure> {
    let bad = |why: &str| Failure::bad_input(format!("{text}: {why}"));
    // A NAME:TAG after the last '=' names the image (paths may hold '=' themselves).
    let named = text.rsplit_once('=').and_then(|(source, name)| {
        let r = RegistryRef::parse(name).ok()?;
        (name.contains(':') && r.digest.is_none()).then_some((source, name))
    });
    let (source_text, name_text) = match named {
        Some((s, n)) => (s, Some(n.to_string())),
        None => (text, None),
    };
    let source = parse_ref(source_text)?;
    let name_text = match (name_text, &source) {
        (Some(n), _) => n,
        (None, ImageRef::Registry(r)) => {
            // Isar names the image by the reference as written: host and path.
            let written = source_text.trim_start_matches("docker://");
            let written = written.split(';').next().unwrap_or(written);
            let written = written.split('@').next().unwrap_or(written);
            let last = written.rfind('/').map_or(0, |i| i + 1);
            let path = match written[last..].find(':') {
                Some(i) => &written[..last + i],
                None => written,
            };
            format!("{path}:{}", r.tag.as_deref().unwrap_or("latest"))
        }
        (None, _) => return Err(bad("name it: IMAGE=NAME:TAG")),
    };
    let last = name_text.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_text[last..].find(':') {
        Some(i) => (&name_text[..last + i], &name_text[last + i + 1..]),
        None => (name_text.as_str(), "latest"),
    };
    Ok((source, name.to_string(), tag.to_string()))
}

pub fn run(args: LoaderArgs) -> Result<(), Failure> {
    let engine = Engine::parse(&args.engine).expect("clap checked it");
    check_name(&args.name).map_err(failure)?;
    let root = Root::open(&args.rootfs).map_err(failure)?;
    let planned = args
        .images
        .iter()
        .map(|i| image_and_name(i))
        .collect::<Result<Vec<_>, _>>()?;
    let dir = root
        .create_dir_all(&images_dir(&args.name))
        .map_err(failure)?;
    let mut images = Vec::new();
    let copied = copy_images(&args, planned, &dir, &mut images).and_then(|()| {
        write_loader(&root, &args.name, engine, args.delete_after_load, &images).map_err(failure)
    });
    let files = match copied {
        Ok(files) => files,
        Err(e) => {
            // Not half done: the archives this run wrote go again.
            for image in &images {
                let _ = std::fs::remove_file(dir.join(&image.file));
            }
            return Err(e);
        }
    };
    if args.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            files: &'a berth_rootfs::loader::LoaderFiles,
            images: &'a [LoaderImage],
        }
        return print_json(&Out {
            files: &files,
            images: &images,
        });
    }
    let mut text = String::new();
    for image in &images {
        text.push_str(&format!(
            "{} ({}) in {}/{}\n",
            image.reference, image.image_id, files.images_dir, image.file
        ));
    }
    text.push_str(&format!(
        "loader {} and unit {} (enabled) for {}\n",
        files.script,
        files.unit,
        engine.as_str()
    ));
    print(&text)
}

/// Copies each planned image into `dir` as a zstd docker-archive, adding it to
/// `images` once it is there.
fn copy_images(
    args: &LoaderArgs,
    planned: Vec<(ImageRef, String, String)>,
    dir: &std::path::Path,
    images: &mut Vec<LoaderImage>,
) -> Result<(), Failure> {
    let options = args.registry.options();
    let bars = Bars::new(args.quiet || args.json);
    for (source_ref, name, tag) in planned {
        let file = image_file_name(&name, &tag);
        let named = RegistryRef::parse(&format!("{name}:{tag}"))
            .map_err(|why| Failure::bad_input(format!("{name}:{tag}: {why}")))?;
        let dest_ref = ImageRef::DockerArchive {
            file: dir.join(&file),
            name: Some(named.clone()),
        };
        let copy_options = CopyOptions {
            platform: args.platform.clone(),
            ..CopyOptions::default()
        };
        let report = berth_registry::source(&source_ref, &options)
            .and_then(|source| {
                let dest = berth_registry::dest(&dest_ref, &options)?;
                berth_image::copy(&*source, dest, &copy_options, &bars)
            })
            .map_err(crate::cmd::image::failure)?;
        let image_id = report
            .config_digest
            .ok_or_else(|| Failure::bad_input(format!("{name}:{tag}: no image config")))?;
        images.push(LoaderImage {
            file,
            // What the engine will call it: the archive's RepoTags entry.
            reference: named.to_string(),
            image_id,
        });
    }
    Ok(())
}
