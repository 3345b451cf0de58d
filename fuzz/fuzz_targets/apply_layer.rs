//! Fuzzes the layer applier (`image unpack`, `bundle generate`, `--populate-storage`)
//! with raw tar streams, applied to a root inside a scratch directory beside a
//! sentinel: it must never panic, and nothing outside the root may change, whatever
//! the layer's names, links, modes or headers say (docs/security.md).
#![no_main]

use berth_image::unpack::{apply_layer, LayerLimits};
use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const LIMITS: LayerLimits = LayerLimits {
    max_extension_header: 1 << 20,
    max_entries: 10_000,
    max_expanded: 64 << 20,
    raise_with: "",
};

/// Everything about the scratch directory's entries but the root's content.
fn outside(scratch: &Path) -> Vec<String> {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(scratch).unwrap() {
        let entry = entry.unwrap();
        let m = std::fs::symlink_metadata(entry.path()).unwrap();
        seen.push(format!(
            "{:?} {:o} {} {} {} {}",
            entry.file_name(),
            m.mode(),
            m.uid(),
            m.len(),
            m.mtime(),
            m.nlink()
        ));
    }
    for file in ["sentinel", "dir/inner"] {
        seen.push(std::fs::read_to_string(scratch.join(file)).unwrap_or_default());
    }
    seen.sort();
    seen
}

fuzz_target!(|data: &[u8]| {
    let scratch = tempfile::tempdir().unwrap();
    std::fs::write(scratch.path().join("sentinel"), "untouched").unwrap();
    std::fs::create_dir(scratch.path().join("dir")).unwrap();
    std::fs::write(scratch.path().join("dir/inner"), "untouched").unwrap();
    let root = scratch.path().join("root");
    std::fs::create_dir(&root).unwrap();
    let before = outside(scratch.path());
    let privileged = data.first().is_some_and(|b| b & 1 == 1);
    let _ = apply_layer(&root, data, privileged, LIMITS);
    assert_eq!(outside(scratch.path()), before, "the layer changed something outside its root");
    // The root may hold read-only directories the layer made: open them for removal.
    let _ = std::process::Command::new("chmod").args(["-R", "u+rwx"]).arg(&root).status();
});
