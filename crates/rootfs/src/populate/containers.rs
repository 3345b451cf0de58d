//! podman's containers/storage, overlay driver: `overlay/` (the layers),
//! `overlay-layers/layers.json`, `overlay-images/images.json` and each image's
//! "big data" (config, manifest) in `overlay-images/<id>/`. The graph root and the
//! driver come from the rootfs's `/etc/containers/storage.conf` (defaults
//! `/var/lib/containers/storage`, overlay). Layer ids follow containers/image: the
//! first layer's is its diff_id, each next one `sha256(parent + "+" + diff_id)`; so
//! a later pull of the same image on the device finds them.

use super::overlay::{Overlay, StoreDir};
use super::{timestamp, PayloadImage, Populated};
use crate::error::RootfsError;
use berth_fs::Root;
use serde_json::{json, Map, Value};
use sha2::Digest as _;

pub const STORAGE_CONF: &str = "/etc/containers/storage.conf";
const DEFAULT_GRAPHROOT: &str = "/var/lib/containers/storage";

/// `driver` and `graphroot` of storage.conf's `[storage]` table (its other settings
/// do not change where images live).
fn storage_conf(text: &str) -> Result<(Option<String>, Option<String>), String> {
    let mut table = String::new();
    let (mut driver, mut graphroot) = (None, None);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            table = line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            continue;
        }
        if table != "storage" {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key != "driver" && key != "graphroot" {
            continue;
        }
        let value = value.split(" #").next().unwrap_or("").trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .ok_or_else(|| format!("line {}: {key} must be a quoted string", n + 1))?;
        match key {
            "driver" => driver = Some(unquoted.to_string()),
            _ => graphroot = Some(unquoted.to_string()),
        }
    }
    Ok((driver, graphroot))
}

/// containers/image's layer ids for these diff_ids.
pub fn layer_ids(diff_ids: &[berth_image::Digest]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for diff_id in diff_ids {
        let id = match ids.last() {
            None => diff_id.hex().to_string(),
            Some(parent) => hex(&sha2::Sha256::digest(format!("{parent}+{}", diff_id.hex()))),
        };
        ids.push(id);
    }
    ids
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// containers/storage's file name for an image's big-data key.
fn big_data_name(key: &str) -> String {
    use base64::Engine as _;
    let plain = key
        .bytes()
        .all(|b| b == b'.' || b.is_ascii_digit() || b.is_ascii_lowercase());
    if plain {
        key.to_string()
    } else {
        format!("={}", base64::engine::general_purpose::STANDARD.encode(key))
    }
}

fn read_array(store: &StoreDir, sub: &str) -> Result<Vec<Value>, RootfsError> {
    match store.read(sub)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            RootfsError::invalid(
                format!("{}/{sub}", store.base),
                format!("not a JSON array: {e}"),
            )
        }),
        None => Ok(Vec::new()),
    }
}

pub fn populate(root: &Root, image: &PayloadImage) -> Result<Populated, RootfsError> {
    let (driver, graphroot) = match root.read_regular(STORAGE_CONF, 1 << 20)? {
        Some(bytes) => storage_conf(&String::from_utf8_lossy(&bytes))
            .map_err(|why| RootfsError::invalid(format!("the rootfs's {STORAGE_CONF}"), why))?,
        None => (None, None),
    };
    let driver = driver.unwrap_or_else(|| "overlay".into());
    if driver != "overlay" {
        return Err(RootfsError::invalid(
            format!("the rootfs's {STORAGE_CONF}"),
            format!("driver {driver:?}: --populate-storage writes the overlay driver's layout"),
        ));
    }
    let graphroot = graphroot.unwrap_or_else(|| DEFAULT_GRAPHROOT.into());
    let mut overlay = Overlay::open(root, format!("{graphroot}/overlay"))?;
    let layers_dir = StoreDir {
        root,
        base: format!("{graphroot}/overlay-layers"),
    };
    let images_dir = StoreDir {
        root,
        base: format!("{graphroot}/overlay-images"),
    };
    let mut layers = read_array(&layers_dir, "layers.json")?;
    let ids = layer_ids(image.diff_ids());
    let created = timestamp()?;
    let mut written = 0;
    for (i, (d, diff_id)) in image.layers().enumerate() {
        let id = &ids[i];
        if overlay.has(id) && layers.iter().any(|l| l["id"] == id.as_str()) {
            continue;
        }
        let lower: Vec<String> = ids[..i].iter().rev().cloned().collect();
        let diff = overlay.add(id, &lower, &*image.source, d, diff_id, &image.limits)?;
        layers_dir.write(&format!("{id}.tar-split.gz"), &diff.tar_split)?;
        written += 1;
        layers.retain(|l| l["id"] != id.as_str());
        let mut entry = json!({
            "id": id,
            "created": created,
            "compressed-diff-digest": d.digest().to_string(),
            "compressed-size": d.size(),
            "diff-digest": diff_id.to_string(),
            "diff-size": diff.size,
        });
        if i > 0 {
            entry["parent"] = Value::String(ids[i - 1].clone());
        }
        if d.media_type().to_string().ends_with("gzip") {
            entry["compression"] = json!(2); // containers/storage's archive.Gzip
        }
        layers.push(entry);
    }
    layers_dir.write("layers.json", &serde_json::to_vec(&layers).expect("json"))?;

    // The image: config and manifest as big data, then its record.
    let config_digest = image.config_digest();
    let id = config_digest.hex().to_string();
    let manifest_digest = image.image.top.digest.to_string();
    let manifest = &image.image.top.bytes;
    let big: [(String, &[u8]); 3] = [
        (config_digest.to_string(), &image.image.config),
        (format!("manifest-{manifest_digest}"), manifest),
        ("manifest".into(), manifest),
    ];
    let mut sizes = Map::new();
    let mut digests = Map::new();
    for (key, bytes) in &big {
        images_dir.write(&format!("{id}/{}", big_data_name(key)), bytes)?;
        sizes.insert(key.clone(), json!(bytes.len()));
        digests.insert(
            key.clone(),
            json!(berth_image::Digest::of(bytes).to_string()),
        );
    }
    let mut images = read_array(&images_dir, "images.json")?;
    // A name belongs to one image: taken from any other that had it.
    for other in images.iter_mut() {
        if let Some(names) = other["names"].as_array_mut() {
            names.retain(|n| !image.names.iter().any(|m| n == m.as_str()));
        }
    }
    images.retain(|i| i["id"] != id.as_str());
    let config: Value = serde_json::from_slice(&image.image.config).unwrap_or_default();
    images.push(json!({
        "id": id,
        "digest": manifest_digest,
        "names": image.names,
        "names-history": image.names,
        "layer": ids.last(),
        "metadata": json!({"signatures-sizes": {manifest_digest.clone(): []}}).to_string(),
        "big-data-names": big.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        "big-data-sizes": sizes,
        "big-data-digests": digests,
        "created": config["created"].as_str().map_or(created.clone(), str::to_string),
    }));
    images_dir.write("images.json", &serde_json::to_vec(&images).expect("json"))?;
    overlay.keep();
    Ok(Populated {
        store: "containers-storage",
        driver,
        root: graphroot,
        image_id: config_digest.to_string(),
        names: image.names.clone(),
        layers_written: written,
        layers: ids.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_conf_gives_driver_and_graphroot_of_the_storage_table() {
        let text = "# c\n[storage]\ndriver = \"overlay\"\ngraphroot = '/data/containers' # here\n[storage.options]\ndriver = \"x\"\n";
        assert_eq!(
            storage_conf(text).unwrap(),
            (Some("overlay".into()), Some("/data/containers".into()))
        );
        assert!(storage_conf("[storage]\ndriver = overlay\n").is_err());
    }

    #[test]
    fn layer_ids_chain_as_containers_image_computes_them() {
        let a: berth_image::Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let b: berth_image::Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        let ids = layer_ids(&[a, b]);
        assert_eq!(ids[0], "a".repeat(64));
        // `printf '<64 a>+<64 b>' | sha256sum`: the value computed apart from this code
        // (podman reading the layers populate writes under these ids is the e2e test).
        assert_eq!(
            ids[1],
            "76f79efda453922cda1cecb6ec9e7cf9d86ea968c6dd199d4030dd00078a1686"
        );
    }

    #[test]
    fn big_data_names_are_plain_or_base64() {
        assert_eq!(big_data_name("manifest"), "manifest");
        assert_eq!(big_data_name("sha256:ab"), "=c2hhMjU2OmFi");
    }
}
