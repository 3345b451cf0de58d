//! Library matching (BundleGen's `library_matching.py`): for each library the
//! platform mounts (GPU libraries, Dobby plugin dependencies), the host's copy or the
//! image's is chosen, and a host library's dependencies are walked the same way.
//! The host's side comes from the platform's `_libs.json` (its version definitions
//! and dependencies); the image's from the library's ELF file. Choosing the host's
//! removes the image's file (and what its symlink leads to, inside the rootfs) and
//! bind-mounts the host's. libc's sub-libraries (libpthread, libdl, …: libraries
//! whose versions are all GLIBC_*) follow libc.

use super::elf;
use crate::error::BundleError;
use crate::process::LibMode;
use berth_fs::Root;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, Default)]
struct LibInfo {
    apiversions: Vec<String>,
    deps: Vec<String>,
    sublibs: Vec<String>,
    parent: Option<String>,
}

pub struct LibMatcher {
    /// By name; `None` when dependency walking is off or the platform has no libs.
    libs: Option<HashMap<String, LibInfo>>,
    mode: LibMode,
    handled: BTreeSet<String>,
    pub warnings: Vec<String>,
}

/// BundleGen's test for a libc candidate: `/lib/` or `/usr/lib/`, then `lib…` or
/// `ld-linux…`, ending in `.so.<digits>` (no whitespace anywhere).
fn libc_family_name(name: &str) -> bool {
    let Some(rest) = name
        .strip_prefix("/lib/")
        .or_else(|| name.strip_prefix("/usr/lib/"))
    else {
        return false;
    };
    if rest.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((stem, number)) = rest.rsplit_once(".so.") else {
        return false;
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    // `lib\S+` needs one character after "lib"; `ld-linux\S*` none.
    stem.starts_with("ld-linux") || (stem.starts_with("lib") && stem.len() > 3)
}

impl LibMatcher {
    pub fn new(platform_libs: &Value, dep_walking: bool, mode: LibMode) -> LibMatcher {
        let entries = platform_libs.as_array().cloned().unwrap_or_default();
        let mut warnings = Vec::new();
        if !dep_walking || entries.is_empty() {
            if dep_walking {
                warnings.push(
                    "library dependency walking is off: the platform has no _libs.json".into(),
                );
            }
            return LibMatcher {
                libs: None,
                mode,
                handled: BTreeSet::new(),
                warnings,
            };
        }
        let mut order = Vec::new();
        let mut libs: HashMap<String, LibInfo> = HashMap::new();
        for e in &entries {
            let Some(name) = e["name"].as_str() else {
                continue;
            };
            // The first entry of a name is the one BundleGen's lookups find.
            if libs.contains_key(name) {
                continue;
            }
            order.push(name.to_string());
            libs.insert(
                name.to_string(),
                LibInfo {
                    apiversions: crate::process::strings(&e["apiversions"]),
                    deps: crate::process::strings(&e["deps"]),
                    ..LibInfo::default()
                },
            );
        }
        // libc: the candidate with the most GLIBC_* versions (the first of equals);
        // the other candidates are its sub-libraries.
        let mut candidates = Vec::new();
        let mut libc: Option<(String, usize)> = None;
        for name in &order {
            let info = &libs[name];
            let count = info
                .apiversions
                .iter()
                .filter(|v| v.starts_with("GLIBC_"))
                .count();
            if !libc_family_name(name) || count == 0 || count != info.apiversions.len() {
                continue;
            }
            candidates.push(name.clone());
            let more = match &libc {
                Some((_, max)) => count > *max,
                None => true,
            };
            if more {
                libc = Some((name.clone(), count));
            }
        }
        if let Some((libc, _)) = libc {
            let subs: Vec<String> = candidates.into_iter().filter(|n| *n != libc).collect();
            for s in &subs {
                let info = libs.get_mut(s).expect("a candidate");
                info.parent = Some(libc.clone());
                info.apiversions.clear();
            }
            libs.get_mut(&libc).expect("libc").sublibs = subs;
        }
        LibMatcher {
            libs: Some(libs),
            mode,
            handled: BTreeSet::new(),
            warnings,
        }
    }

    fn info(&self, name: &str) -> Option<LibInfo> {
        self.libs.as_ref()?.get(name).cloned()
    }

    /// The host's `src` at `dst`, whatever the image has (gfxLibs).
    pub fn mount(
        &mut self,
        rootfs: &Root,
        src: &str,
        dst: &str,
        binds: &mut Vec<(String, String)>,
    ) -> Result<(), BundleError> {
        let info = self.info(src);
        self.take_host(rootfs, src, dst, info.as_ref(), binds)
    }

    /// The host's `src` or the image's `dst`, as the mode and versions decide.
    pub fn mount_or_use_rootfs(
        &mut self,
        rootfs: &Root,
        src: &str,
        dst: &str,
        binds: &mut Vec<(String, String)>,
    ) -> Result<(), BundleError> {
        if self.handled.contains(dst) {
            return Ok(());
        }
        let Some(info) = self.info(src) else {
            if self.mode == LibMode::Image && rootfs.exists(dst) {
                self.take_rootfs(dst, None);
                return Ok(());
            }
            return self.take_host(rootfs, src, dst, None, binds);
        };
        if self.mode == LibMode::Normal {
            if let Some(parent) = info.parent.clone() {
                return self.mount_or_use_rootfs(rootfs, &parent, &parent, binds);
            }
        }
        if !rootfs.exists(dst) {
            return self.take_host(rootfs, src, dst, Some(&info), binds);
        }
        match self.mode {
            LibMode::Image => {
                self.take_rootfs(dst, Some(&info));
                Ok(())
            }
            LibMode::Host => self.take_host(rootfs, src, dst, Some(&info), binds),
            LibMode::Normal if info.apiversions.is_empty() => {
                self.take_host(rootfs, src, dst, Some(&info), binds)
            }
            LibMode::Normal => {
                let host: BTreeSet<String> = info.apiversions.iter().cloned().collect();
                let path = rootfs.path(dst, true)?;
                let image: BTreeSet<String> = elf::read(&path)
                    .map_err(BundleError::io(&path))?
                    .map(|e| e.version_definitions.into_iter().collect())
                    .unwrap_or_default();
                if host.is_superset(&image) {
                    self.take_host(rootfs, src, dst, Some(&info), binds)
                } else {
                    if !host.is_subset(&image) {
                        self.warnings.push(format!(
                            "{dst}: the host's and the image's versions differ both ways; the image's is kept"
                        ));
                    }
                    self.take_rootfs(dst, Some(&info));
                    Ok(())
                }
            }
        }
    }

    fn take_rootfs(&mut self, dst: &str, info: Option<&LibInfo>) {
        self.handled.insert(dst.to_string());
        for sub in info.map(|i| i.sublibs.clone()).unwrap_or_default() {
            self.handled.insert(sub);
        }
    }

    fn take_host(
        &mut self,
        rootfs: &Root,
        src: &str,
        dst: &str,
        info: Option<&LibInfo>,
        binds: &mut Vec<(String, String)>,
    ) -> Result<(), BundleError> {
        self.handled.insert(dst.to_string());
        if rootfs.exists(dst) {
            rootfs.remove_with_target(dst)?;
        }
        binds.push((src.to_string(), dst.to_string()));
        let Some(info) = info else { return Ok(()) };
        for sub in &info.sublibs {
            self.handled.insert(sub.clone());
            if rootfs.exists(sub) {
                rootfs.remove_with_target(sub)?;
            }
            binds.push((sub.clone(), sub.clone()));
        }
        for dep in &info.deps {
            self.mount_or_use_rootfs(rootfs, dep, dep, binds)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libc_candidates_are_named_as_bundlegen_matches_them() {
        for yes in [
            "/lib/libc.so.6",
            "/usr/lib/libpthread.so.0",
            "/lib/ld-linux-armhf.so.3",
            "/lib/ld-linux.so.2",
        ] {
            assert!(libc_family_name(yes), "{yes}");
        }
        for no in [
            "/lib/lib.so.6",
            "/lib/libc-2.31.so",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib/libc.so.x",
            "/opt/lib/libc.so.6",
        ] {
            assert!(!libc_family_name(no), "{no}");
        }
    }
}
