//! Storage: persistent storage as loopback images through Dobby's storage plugin
//! (`<storageDir>/<id>/<sha256 of the path>.img`, the same file across upgrades while
//! the path stays), temporary storage as tmpfs mounts, and `X-dobby.optional` mounts
//! as the plugin's dynamic mounts.

use super::plugins::INT32_MAX;
use super::{Processor, APP, PLATFORM};
use crate::error::BundleError;
use crate::size::parse_size;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub fn storage(p: &mut Processor) -> Result<(), BundleError> {
    let storage = p.app["storage"].clone();
    if p.options.crun {
        if super::truthy(&storage) {
            p.warnings
                .push("app metadata's storage section ignored for a plain bundle".into());
        }
        return Ok(());
    }
    let persistent = storage["persistent"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !persistent.is_empty() {
        let platform = p.pf("storage")["persistent"].clone();
        let fstype = platform["fstype"].as_str().unwrap_or("ext4").to_string();
        let dir = platform["storageDir"].as_str().ok_or_else(|| {
            BundleError::invalid(
                PLATFORM,
                "storage.persistent.storageDir is needed for persistent storage",
            )
        })?;
        let dir = dir.trim_end_matches('/').to_string();
        let mut loopback = Vec::new();
        for (i, entry) in persistent.iter().enumerate() {
            let path = entry["path"].as_str().ok_or_else(|| {
                BundleError::invalid(APP, format!("storage.persistent[{i}].path is needed"))
            })?;
            let size_text = entry["size"].as_str().unwrap_or_default();
            let size = parse_size(size_text).map_err(|why| {
                BundleError::invalid(APP, format!("storage.persistent[{i}].size: {why}"))
            })?;
            if size > INT32_MAX {
                return Err(BundleError::invalid(
                    APP,
                    format!("storage.persistent[{i}].size: {size_text} is {size} bytes, more than Dobby's int32 holds ({INT32_MAX})"),
                ));
            }
            let image = hex::encode(Sha256::digest(path.as_bytes()));
            loopback.push(json!({
                "destination": path,
                "flags": 14,
                "fstype": fstype,
                "source": format!("{dir}/{}/{image}.img", p.id()),
                "imgsize": size,
            }));
            p.rootfs.create_dir_all(path)?;
            if p.options.create_mount_points {
                p.rootfs.create_dir_all(&format!("{path}.temp"))?;
            }
        }
        p.config_object(&["rdkPlugins"]).insert(
            "storage".into(),
            json!({"required": true, "data": {"loopback": loopback}}),
        );
    }
    let user = p.config["process"]["user"].clone();
    for (i, entry) in storage["temp"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let path = entry["path"].as_str().ok_or_else(|| {
            BundleError::invalid(APP, format!("storage.temp[{i}].path is needed"))
        })?;
        let size = parse_size(entry["size"].as_str().unwrap_or_default())
            .map_err(|why| BundleError::invalid(APP, format!("storage.temp[{i}].size: {why}")))?;
        let mut options = vec![
            json!("nosuid"),
            json!("strictatime"),
            json!("mode=755"),
            json!(format!("size={size}")),
        ];
        // BundleGen leaves out uid=0 and gid=0 as if unset.
        if let Some(uid) = user["uid"].as_u64() {
            options.push(json!(format!("uid={uid}")));
        }
        if let Some(gid) = user["gid"].as_u64() {
            options.push(json!(format!("gid={gid}")));
        }
        p.config_array(&["mounts"]).push(json!({
            "destination": path, "type": "tmpfs", "source": "tmpfs", "options": options,
        }));
        p.rootfs.create_dir_all(path)?;
    }
    optional_mounts(p);
    Ok(())
}

/// Mounts marked `X-dobby.optional` move to the storage plugin's `dynamic` list
/// (without the mark): Dobby mounts them when their source exists.
fn optional_mounts(p: &mut Processor) {
    let is_optional = |m: &Value| {
        super::strings(&m["options"])
            .iter()
            .any(|o| o == "X-dobby.optional")
    };
    let mounts = p.config_array(&["mounts"]);
    let optional: Vec<Value> = mounts.iter().filter(|m| is_optional(m)).cloned().collect();
    if optional.is_empty() {
        return;
    }
    mounts.retain(|m| !is_optional(m));
    let dynamic: Vec<Value> = optional
        .into_iter()
        .map(|mut m| {
            if let Some(options) = m["options"].as_array_mut() {
                // Python's list.remove: the first occurrence only.
                if let Some(i) = options.iter().position(|o| o == "X-dobby.optional") {
                    options.remove(i);
                }
            }
            m
        })
        .collect();
    let plugins = p.config_object(&["rdkPlugins"]);
    let plugin = plugins
        .entry("storage")
        .or_insert_with(|| json!({"required": true, "data": {}}));
    plugin["data"]["dynamic"] = json!(dynamic);
}
