//! Docker Engine's data root, overlay2 driver: `overlay2/` (the layers, by cache
//! id), `image/overlay2/layerdb/sha256/<chain id>/` (diff, size, cache-id, parent),
//! `image/overlay2/imagedb/content/sha256/<image id>` (the config) and
//! `image/overlay2/repositories.json` (names). The data root and driver come from the
//! rootfs's `/etc/docker/daemon.json` (defaults `/var/lib/docker`, overlay2).

use super::overlay::{Overlay, StoreDir};
use super::{PayloadImage, Populated};
use crate::error::RootfsError;
use berth_fs::Root;
use serde_json::{json, Value};
use sha2::Digest as _;

pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";
const DEFAULT_DATA_ROOT: &str = "/var/lib/docker";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Docker's chain ids: the first layer's diff_id, then `sha256(parent + " " + diff_id)`.
pub fn chain_ids(diff_ids: &[berth_image::Digest]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.to_string(),
            Some(parent) => format!(
                "sha256:{}",
                hex(&sha2::Sha256::digest(format!("{parent} {diff_id}")))
            ),
        };
        out.push(next);
    }
    out
}

/// The name Docker keeps a reference under (its "familiar" form).
fn familiar(name: &str) -> String {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
        .to_string()
}

pub fn populate(root: &Root, image: &PayloadImage) -> Result<Populated, RootfsError> {
    let conf: Value = match root.read_regular(DAEMON_JSON, 1 << 20)? {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            RootfsError::invalid(format!("the rootfs's {DAEMON_JSON}"), e.to_string())
        })?,
        None => Value::Null,
    };
    let driver = conf["storage-driver"]
        .as_str()
        .unwrap_or("overlay2")
        .to_string();
    if driver != "overlay2" {
        return Err(RootfsError::invalid(
            format!("the rootfs's {DAEMON_JSON}"),
            format!("storage-driver {driver:?}: --populate-storage writes overlay2's layout"),
        ));
    }
    let data_root = conf["data-root"]
        .as_str()
        .unwrap_or(DEFAULT_DATA_ROOT)
        .to_string();
    let mut overlay = Overlay::open(root, format!("{data_root}/overlay2"))?;
    let store = StoreDir {
        root,
        base: format!("{data_root}/image/overlay2"),
    };
    let chains = chain_ids(image.diff_ids());
    let mut cache_ids: Vec<String> = Vec::new();
    let mut written = 0;
    for (i, (d, diff_id)) in image.layers().enumerate() {
        let chain = &chains[i];
        let meta = format!("layerdb/sha256/{}", chain.trim_start_matches("sha256:"));
        // Docker picks cache ids at random; derived here, so a rebuild is the same.
        let cache_id = hex(&sha2::Sha256::digest(format!("berth-cache:{chain}")));
        if store.is_file(&format!("{meta}/cache-id")) && overlay.has(&cache_id) {
            cache_ids.push(cache_id);
            continue;
        }
        let lower: Vec<String> = cache_ids.iter().rev().cloned().collect();
        let diff = overlay.add(&cache_id, &lower, &*image.source, d, diff_id, &image.limits)?;
        written += 1;
        let file = |name: &str| format!("{meta}/{name}");
        store.write(&file("diff"), diff_id.to_string().as_bytes())?;
        store.write(&file("size"), diff.size.to_string().as_bytes())?;
        store.write(&file("tar-split.json.gz"), &diff.tar_split)?;
        if i > 0 {
            store.write(&file("parent"), chains[i - 1].as_bytes())?;
        }
        // Last: Docker takes a layer with its cache-id as complete.
        store.write(&file("cache-id"), cache_id.as_bytes())?;
        cache_ids.push(cache_id);
    }
    let image_id = image.config_digest();
    store.write(
        &format!("imagedb/content/sha256/{}", image_id.hex()),
        &image.image.config,
    )?;
    let mut repos: Value = match store.read("repositories.json")? {
        Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({})),
        None => json!({}),
    };
    if !repos["Repositories"].is_object() {
        repos["Repositories"] = json!({});
    }
    for name in &image.names {
        let name = familiar(name);
        let last = name.rfind('/').map_or(0, |i| i + 1);
        let repo = match name[last..].find(':') {
            Some(i) => &name[..last + i],
            None => name.as_str(),
        };
        repos["Repositories"][repo][name.as_str()] = Value::String(image_id.to_string());
    }
    store.write(
        "repositories.json",
        &serde_json::to_vec(&repos).expect("json"),
    )?;
    overlay.keep();
    Ok(Populated {
        store: "docker",
        driver,
        root: data_root,
        image_id: image_id.to_string(),
        names: image.names.clone(),
        layers_written: written,
        layers: chains.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_and_familiar_names_are_dockers() {
        let a: berth_image::Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let b: berth_image::Digest = format!("sha256:{}", "b".repeat(64)).parse().unwrap();
        let chains = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chains[0], a.to_string());
        // `printf 'sha256:<64 a> sha256:<64 b>' | sha256sum`: computed apart from this
        // code (dockerd reading the layerdb populate writes is the e2e test).
        assert_eq!(
            chains[1],
            "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c"
        );
        assert_eq!(familiar("docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(familiar("localhost/app:1"), "localhost/app:1");
    }
}
