//! `berth bundle platform-libs ROOTFS`: the `_libs.json` of a device root filesystem,
//! as RDK's build makes it with readelf: every shared library (each name a library
//! has, symlinks included) with its version definitions and its DT_NEEDED libraries
//! found in the rootfs's library directories. Any architecture and endianness; every
//! path resolved inside the rootfs.

use super::elf;
use crate::error::BundleError;
use berth_fs::Root;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Where DT_NEEDED names are looked for, in order, before the directories the
/// libraries themselves are in.
const LIB_DIRS: [&str; 4] = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"];

/// A file name a shared library has: `*.so` or `*.so.<version>`.
fn library_name(name: &str) -> bool {
    match name.find(".so") {
        Some(i) => {
            let rest = &name[i + 3..];
            rest.is_empty() || rest.starts_with('.')
        }
        None => false,
    }
}

pub struct Listing {
    pub libs: Value,
    /// DT_NEEDED names found nowhere in the rootfs, by library.
    pub unresolved: Vec<(String, String)>,
}

pub fn platform_libs(root: &Path) -> Result<Listing, BundleError> {
    let rootfs = Root::open(root)?;
    let mut found: BTreeMap<String, elf::ElfInfo> = BTreeMap::new();
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let host = root.join(&dir);
        let entries = std::fs::read_dir(&host).map_err(BundleError::io(&host))?;
        for entry in entries {
            let entry = entry.map_err(BundleError::io(&host))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if dir.is_empty() {
                name.clone()
            } else {
                format!("{dir}/{name}")
            };
            let kind = entry.file_type().map_err(BundleError::io(entry.path()))?;
            if kind.is_dir() {
                if !matches!(rel.as_str(), "proc" | "sys" | "dev") {
                    stack.push(rel);
                }
                continue;
            }
            if !library_name(&name) {
                continue;
            }
            let Ok(path) = rootfs.path(&rel, true) else {
                continue;
            };
            if let Ok(Some(info)) = elf::read(&path) {
                if info.shared {
                    found.insert(format!("/{rel}"), info);
                }
            }
        }
    }
    let mut dirs: Vec<String> = LIB_DIRS.iter().map(|d| d.to_string()).collect();
    for name in found.keys() {
        let dir = name.rsplit_once('/').map_or("/", |(d, _)| d).to_string();
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    let mut unresolved = Vec::new();
    let mut libs = Vec::new();
    for (name, info) in &found {
        let mut deps = Vec::new();
        for needed in &info.needed {
            let hit = dirs
                .iter()
                .map(|d| format!("{}/{needed}", d.trim_end_matches('/')))
                .find(|p| rootfs.exists(p));
            match hit {
                Some(p) => deps.push(p),
                None => unresolved.push((name.clone(), needed.clone())),
            }
        }
        libs.push(json!({"apiversions": info.version_definitions, "deps": deps, "name": name}));
    }
    Ok(Listing {
        libs: json!({"libs": libs}),
        unresolved,
    })
}

#[cfg(test)]
mod tests {
    use super::library_name;

    #[test]
    fn library_names() {
        for yes in ["libc.so.6", "libfoo.so", "ld-2.31.so", "libx.so.1.2.3"] {
            assert!(library_name(yes), "{yes}");
        }
        for no in ["libc.sox", "so", "foo.a", "libfoo.so_old"] {
            assert!(!library_name(no), "{no}");
        }
    }
}
