//! Mounts: the platform's, then the app's; mount points created in the rootfs with
//! `-r` (a directory for `X-mount.mkdir`, else an empty file); `X-mount.no` mounts
//! only make their mount point.

use super::{Processor, APP, PLATFORM};
use crate::error::BundleError;
use serde_json::{json, Value};

/// `-r`: a directory for each mount umoci's spec has (but /etc/resolv.conf).
pub fn create_umoci_mount_points(p: &mut Processor) -> Result<(), BundleError> {
    let destinations: Vec<String> = p.config["mounts"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["destination"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    for d in destinations
        .iter()
        .filter(|d| d.as_str() != "/etc/resolv.conf")
    {
        p.rootfs.create_dir_all(d)?;
    }
    Ok(())
}

fn options_of(mount: &Value) -> Vec<String> {
    super::strings(&mount["options"])
}

/// One mount of a template or the metadata (`from` names which, for errors).
pub fn add_mount(p: &mut Processor, mount: &Value, from: &str) -> Result<(), BundleError> {
    let Some(object) = mount.as_object() else {
        return Err(BundleError::invalid(
            from,
            format!("a mount that is not an object: {mount}"),
        ));
    };
    let mut mount = Value::Object(object.clone());
    if let Some(source) = mount["source"].as_str() {
        let source = format_field(p, source, from)?;
        mount["source"] = json!(source);
    }
    let destination = mount["destination"]
        .as_str()
        .ok_or_else(|| {
            BundleError::invalid(from, format!("a mount without a destination: {mount}"))
        })?
        .to_string();
    let options = options_of(&mount);
    if p.options.create_mount_points {
        if options.iter().any(|o| o == "X-mount.mkdir") {
            p.rootfs.create_dir_all(&destination)?;
        } else {
            p.rootfs.write(&destination, b"", 0o644)?;
        }
    }
    if !options.iter().any(|o| o == "X-mount.no") {
        p.config_array(&["mounts"]).push(mount);
    }
    Ok(())
}

fn format_field(p: &Processor, text: &str, from: &str) -> Result<String, BundleError> {
    super::format_id(text, p.id())
        .map_err(|why| BundleError::invalid(from, format!("mount source: {why}")))
}

pub fn mounts(p: &mut Processor) -> Result<(), BundleError> {
    for m in p.pf("mounts").as_array().cloned().unwrap_or_default() {
        add_mount(p, &m, PLATFORM)?;
    }
    for m in p.app["mounts"].as_array().cloned().unwrap_or_default() {
        add_mount(p, &m, APP)?;
    }
    Ok(())
}
