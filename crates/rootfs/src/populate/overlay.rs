//! The overlay driver's layer directories, as podman's containers/storage
//! (`overlay/`) and Docker (`overlay2/`) both lay them out: `<id>/diff` holds the
//! layer's own files (whiteouts as overlayfs marks them), `<id>/link` a short name,
//! `l/<short>` a symlink to `../<id>/diff` (short names keep mount options under a
//! page), and `<id>/lower` the short names of the layers below, nearest first.

use crate::error::RootfsError;
use berth_fs::Root;
use berth_image::copy::Source;
use berth_image::unpack::{extract_layer_diff, ExpansionLimits, LayerDiff};
use berth_image::Digest;
use oci_spec::image::Descriptor;
use sha2::Digest as _;
use std::path::{Path, PathBuf};

/// The short name of layer `id`: 26 characters of base32, as both stores use.
/// Derived from the id (both stores pick random ones): a rebuild gives the same tree.
pub fn short_name(id: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let hash = sha2::Sha256::digest(format!("berth-link:{id}").as_bytes());
    let mut bits = 0u64;
    let mut have = 0;
    let mut out = String::with_capacity(26);
    for &byte in hash.iter() {
        bits = (bits << 8) | u64::from(byte);
        have += 8;
        while have >= 5 && out.len() < 26 {
            have -= 5;
            out.push(ALPHABET[((bits >> have) & 31) as usize] as char);
        }
    }
    out
}

/// A store's directory inside the rootfs. Every name below it is resolved inside the
/// rootfs, symlinks followed as the device would follow them, never on the build
/// host: a rootfs whose `overlay-images/<id>`, `overlay/l` or `layers.json` was a
/// symlink to a host path had berth write there or copy the host file's JSON into
/// the image (issue 21, finding 2).
pub struct StoreDir<'a> {
    pub root: &'a Root,
    /// The directory, as a path inside the rootfs.
    pub base: String,
}

/// The most a store's JSON file (layers.json, images.json, repositories.json) may be.
const MAX_STORE_FILE: u64 = 64 << 20;

impl StoreDir<'_> {
    /// Directory `sub` (made if missing, with its parents), on the build host.
    pub fn dir(&self, sub: &str) -> Result<PathBuf, RootfsError> {
        Ok(self.root.create_dir_all(&format!("{}/{sub}", self.base))?)
    }

    /// Where file `sub` is written (its directory made): a symlink there is replaced
    /// by the write, never followed.
    pub fn file(&self, sub: &str) -> Result<PathBuf, RootfsError> {
        let path = self.root.path(&format!("{}/{sub}", self.base), false)?;
        let parent = path.parent().expect("a file inside the root has a parent");
        std::fs::create_dir_all(parent).map_err(RootfsError::io(parent, "cannot create"))?;
        Ok(path)
    }

    /// Writes file `sub` atomically.
    pub fn write(&self, sub: &str, bytes: &[u8]) -> Result<(), RootfsError> {
        write(&self.file(sub)?, bytes)
    }

    /// File `sub`'s content if it is a regular file in the rootfs (`None` if absent).
    pub fn read(&self, sub: &str) -> Result<Option<Vec<u8>>, RootfsError> {
        Ok(self
            .root
            .read_regular(&format!("{}/{sub}", self.base), MAX_STORE_FILE)?)
    }

    /// Whether `sub` is a regular file in the rootfs.
    pub fn is_file(&self, sub: &str) -> bool {
        self.root
            .path(&format!("{}/{sub}", self.base), false)
            .is_ok_and(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
    }
}

/// A driver directory being filled; what it created is removed again unless
/// `keep` is called.
pub struct Overlay<'a> {
    store: StoreDir<'a>,
    created: Vec<PathBuf>,
    kept: bool,
    /// Bytes of file data the layers added so far hold.
    expanded: u64,
}

impl<'a> Overlay<'a> {
    pub fn open(root: &'a Root, base: String) -> Result<Overlay<'a>, RootfsError> {
        let store = StoreDir { root, base };
        store.dir("l")?;
        Ok(Overlay {
            store,
            created: Vec::new(),
            kept: false,
            expanded: 0,
        })
    }

    /// Whether layer `id` is there already (a complete one: its link exists).
    pub fn has(&self, id: &str) -> bool {
        self.store.is_file(&format!("{id}/link"))
    }

    /// Writes layer `id` from `d` of `source` on top of the layers `lower` (ids,
    /// nearest first).
    pub fn add(
        &mut self,
        id: &str,
        lower: &[String],
        source: &dyn Source,
        d: &Descriptor,
        diff_id: &Digest,
        limits: &ExpansionLimits,
    ) -> Result<LayerDiff, RootfsError> {
        // `<id>` itself is removed if present (a symlink too, not followed) and made
        // anew: everything below it is berth's own.
        let layer = self.store.file(id)?;
        if std::fs::symlink_metadata(&layer).is_ok() {
            // Half a layer (no link yet) from an interrupted run: started again.
            std::fs::remove_dir_all(&layer).map_err(RootfsError::io(&layer, "cannot remove"))?;
        }
        std::fs::create_dir(&layer).map_err(RootfsError::io(&layer, "cannot create"))?;
        self.created.push(layer.clone());
        for sub in ["diff", "work", "merged"] {
            let path = layer.join(sub);
            std::fs::create_dir(&path).map_err(RootfsError::io(&path, "cannot create"))?;
        }
        let layer_limits = limits.layer(d.size(), self.expanded);
        let diff = extract_layer_diff(source, d, diff_id, &layer.join("diff"), layer_limits)?;
        self.expanded += diff.expanded;
        if !lower.is_empty() {
            let text: Vec<String> = lower
                .iter()
                .map(|l| format!("l/{}", short_name(l)))
                .collect();
            write(&layer.join("lower"), text.join(":").as_bytes())?;
        }
        let short = short_name(id);
        let link = self.store.file(&format!("l/{short}"))?;
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("../{id}/diff"), &link)
            .map_err(RootfsError::io(&link, "cannot create"))?;
        self.created.push(link);
        // Last: a layer with its link file is complete.
        write(&layer.join("link"), short.as_bytes())?;
        Ok(diff)
    }

    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Overlay<'_> {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for path in self.created.iter().rev() {
            let _ = match std::fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
                _ => std::fs::remove_file(path),
            };
        }
    }
}

pub fn write(path: &Path, bytes: &[u8]) -> Result<(), RootfsError> {
    Ok(berth_fs::write_atomic(
        path,
        |f| std::io::Write::write_all(f, bytes),
        0o644,
    )?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_names_are_26_base32_characters_and_differ() {
        let a = super::short_name("a");
        assert_eq!(a.len(), 26);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_ne!(a, super::short_name("b"));
    }
}
