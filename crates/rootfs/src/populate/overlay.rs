//! The overlay driver's layer directories, as podman's containers/storage
//! (`overlay/`) and Docker (`overlay2/`) both lay them out: `<id>/diff` holds the
//! layer's own files (whiteouts as overlayfs marks them), `<id>/link` a short name,
//! `l/<short>` a symlink to `../<id>/diff` (short names keep mount options under a
//! page), and `<id>/lower` the short names of the layers below, nearest first.

use crate::error::RootfsError;
use berth_image::copy::Source;
use berth_image::unpack::{extract_layer_diff, LayerDiff};
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

/// A driver directory being filled; what it created is removed again unless
/// `keep` is called.
pub struct Overlay {
    pub dir: PathBuf,
    created: Vec<PathBuf>,
    kept: bool,
}

impl Overlay {
    pub fn open(dir: PathBuf) -> Result<Overlay, RootfsError> {
        std::fs::create_dir_all(dir.join("l")).map_err(RootfsError::io(&dir, "cannot create"))?;
        Ok(Overlay {
            dir,
            created: Vec::new(),
            kept: false,
        })
    }

    /// Whether layer `id` is there already (a complete one: its link exists).
    pub fn has(&self, id: &str) -> bool {
        self.dir.join(id).join("link").is_file()
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
    ) -> Result<LayerDiff, RootfsError> {
        let layer = self.dir.join(id);
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
        let diff = extract_layer_diff(source, d, diff_id, &layer.join("diff"))?;
        if !lower.is_empty() {
            let text: Vec<String> = lower
                .iter()
                .map(|l| format!("l/{}", short_name(l)))
                .collect();
            write(&layer.join("lower"), text.join(":").as_bytes())?;
        }
        let short = short_name(id);
        let link = self.dir.join("l").join(&short);
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

impl Drop for Overlay {
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
    crate::root::write_atomic(path, |f| std::io::Write::write_all(f, bytes), 0o644)
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
