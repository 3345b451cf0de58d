//! `berth image build` as the e2e tests run it: a rootfs to build from, the JSON
//! report, and what a built layer holds.

use crate::cli::berth_ok;
use crate::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A busybox rootfs with an app under /opt/app and a config under /etc/app.
pub fn app_rootfs(dir: &Path) -> PathBuf {
    let rootfs = busybox_rootfs(dir);
    std::fs::create_dir_all(rootfs.join("opt/app")).unwrap();
    std::fs::create_dir_all(rootfs.join("etc/app")).unwrap();
    std::fs::write(rootfs.join("opt/app/hello"), "hello from a built image\n").unwrap();
    std::fs::write(rootfs.join("etc/app/app.conf"), "port=80\n").unwrap();
    rootfs
}

/// A build without the cache (the cache tests below give theirs explicitly).
pub fn build_json(args: &[&str]) -> Value {
    let mut all = vec!["image", "build", "--json", "--no-cache"];
    all.extend_from_slice(args);
    serde_json::from_str(&berth_ok(&all)).unwrap()
}

/// The names in layer `i` of the image in layout `dir` (tag `tag`).
pub fn layer_names(dir: &Path, tag: &str, i: usize) -> Vec<String> {
    let layout = berth_image::Layout::open(dir).unwrap();
    let d = layout.resolve(tag).unwrap();
    let m: Value = serde_json::from_slice(
        &layout
            .read_blob(&d.digest().to_string().parse().unwrap(), 1 << 20)
            .unwrap(),
    )
    .unwrap();
    let digest: berth_image::Digest = m["layers"][i]["digest"].as_str().unwrap().parse().unwrap();
    let blob = layout.open_blob(&digest, None).unwrap();
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(blob));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}
