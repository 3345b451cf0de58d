//! `berth rootfs loader`: Isar's container loader, for devices that run docker or
//! podman without berthd. The layout is Isar's: `/usr/share/NAME/images/` holds the
//! images as zstd docker-archives named `<name, / → .>:<tag>.zst`,
//! `/usr/share/NAME/image.list` has a `<file> <name>:<tag>` line per image,
//! `/usr/share/NAME/container-loader.sh` loads them, and a oneshot
//! `NAME.service` after the engine runs it at boot.
//!
//! Unlike Isar's script, berth's loads an image when the engine lacks it *or holds
//! another image under its name* (the image ids, which are the config digests, are
//! listed in `image.ids` beside `image.list`), so an image rebuilt under the same
//! tag is loaded; and it goes on past an image that fails to load, reports each,
//! and exits 1 if any failed (Isar's stops at the first).

use crate::bundled::Engine;
use crate::error::RootfsError;
use crate::units::WANTS_DIR;
use berth_fs::Root;

/// One image the loader loads.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoaderImage {
    /// File name under `images/`.
    pub file: String,
    /// `name:tag`, as the engine will know it.
    pub reference: String,
    /// The image id (`sha256:<hex>`, the config digest).
    pub image_id: String,
}

/// What was written, as paths on the device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoaderFiles {
    pub images_dir: String,
    pub image_list: String,
    pub script: String,
    pub unit: String,
    pub wants: String,
}

/// Isar's file name for an image: `/` → `.`, then `:<tag>.zst`.
pub fn image_file_name(name: &str, tag: &str) -> String {
    format!("{}:{tag}.zst", name.replace('/', "."))
}

/// Checks a loader's name: it names a directory and a unit.
pub fn check_name(name: &str) -> Result<(), RootfsError> {
    let ok = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && name.len() <= 200;
    if ok {
        Ok(())
    } else {
        Err(RootfsError::invalid(
            format!("--name {name:?}"),
            "a loader's name is letters, digits, '.', '_' and '-', starting with a letter or digit",
        ))
    }
}

pub fn share_dir(name: &str) -> String {
    format!("/usr/share/{name}")
}

pub fn images_dir(name: &str) -> String {
    format!("{}/images", share_dir(name))
}

/// Writes list, ids, script, unit and its wants link (the images are already in
/// `images_dir`).
pub fn write_loader(
    root: &Root,
    name: &str,
    engine: Engine,
    delete_after_load: bool,
    images: &[LoaderImage],
) -> Result<LoaderFiles, RootfsError> {
    check_name(name)?;
    let share = share_dir(name);
    let mut list = String::new();
    let mut ids = String::new();
    for image in images {
        list.push_str(&format!("{} {}\n", image.file, image.reference));
        ids.push_str(&format!("{} {}\n", image.file, image.image_id));
    }
    let image_list = format!("{share}/image.list");
    root.write(&image_list, list.as_bytes(), 0o644)?;
    root.write(&format!("{share}/image.ids"), ids.as_bytes(), 0o644)?;
    let script = format!("{share}/container-loader.sh");
    root.write(
        &script,
        script_text(engine, delete_after_load).as_bytes(),
        0o755,
    )?;
    let unit = format!("/lib/systemd/system/{name}.service");
    root.write(&unit, unit_text(engine, &script).as_bytes(), 0o644)?;
    let wants = format!("{WANTS_DIR}/{name}.service");
    root.symlink(&wants, &unit)?;
    Ok(LoaderFiles {
        images_dir: images_dir(name),
        image_list,
        script,
        unit,
        wants,
    })
}

fn unit_text(engine: Engine, script: &str) -> String {
    let after = match engine {
        Engine::Docker => "After=docker.service\nRequires=docker.service\n",
        Engine::Podman => "After=local-fs.target\n",
    };
    format!(
        "[Unit]\n\
         Description=Load container images into {engine}\n\
         {after}\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         ExecStart={script}\n\
         \n\
         [Install]\n\
         WantedBy=multi-user.target\n",
        engine = engine.as_str()
    )
}

/// The loader script. It takes no input but the files beside it, which berth wrote
/// from checked names; it still quotes every expansion.
fn script_text(engine: Engine, delete_after_load: bool) -> String {
    format!(
        r#"#!/bin/sh
# Written by `berth rootfs loader`: loads the images of image.list into {engine}
# when {engine} lacks them or holds another image under their name, goes on past a
# failure, and exits 1 if any image failed.
set -u
engine={engine}
delete_after_load={delete}
here=$(dirname "$(readlink -f "$0")")
failed=0
while read -r file ref; do
    [ -n "$file" ] || continue
    want=
    while read -r f id; do
        [ "$f" = "$file" ] && want=${{id#sha256:}}
    done < "$here/image.ids"
    have=$("$engine" image inspect --format '{{{{.Id}}}}' "$ref" 2>/dev/null)
    have=${{have#sha256:}}
    path="$here/images/$file"
    if [ -n "$have" ] && [ "$have" = "$want" ]; then
        echo "$ref: present"
    elif [ ! -f "$path" ]; then
        echo "$ref: failed: $path is missing" >&2
        failed=1
        continue
    elif zstd -dc "$path" | "$engine" load >/dev/null; then
        echo "$ref: loaded"
    else
        echo "$ref: failed to load $path" >&2
        failed=1
        continue
    fi
    if [ "$delete_after_load" = 1 ] && [ -f "$path" ]; then
        rm -f "$path" && echo "$ref: deleted $path"
    fi
done < "$here/image.list"
exit "$failed"
"#,
        engine = engine.as_str(),
        delete = u8::from(delete_after_load),
    )
}
