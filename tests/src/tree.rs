//! A directory tree as the e2e tests compare it: one line per path below the root.

use crate::sha256_hex;
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// What a comparison looks at besides each entry's type, mode, size, content hash
/// and link target.
#[derive(Clone, Copy)]
pub struct Facets {
    /// Owner, mtime and `user.*` extended attributes (what an unpacker restores;
    /// a bundle generator maps owners and sets its own times).
    pub metadata: bool,
}

/// Every path under `root`: type, mode, size, content hash, link target, device,
/// and its owner, mtime and user xattrs.
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    walk(root, Facets { metadata: true })
}

/// Every path under `root`: type, mode, size, content hash, link target, device.
pub fn tree_contents(root: &Path) -> BTreeMap<String, String> {
    walk(root, Facets { metadata: false })
}

fn walk(root: &Path, facets: Facets) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let m = std::fs::symlink_metadata(&path).unwrap();
            let t = m.file_type();
            let kind = if t.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if t.is_symlink() {
                format!(
                    "symlink -> {}",
                    std::fs::read_link(&path).unwrap().display()
                )
            } else if t.is_file() {
                format!("file {} bytes {}", m.len(), sha256_hex(&path))
            } else if t.is_fifo() {
                "fifo".into()
            } else if t.is_char_device() {
                format!("char {}", m.rdev())
            } else {
                format!("other {}", m.rdev())
            };
            let mode = if t.is_symlink() { 0 } else { m.mode() & 0o7777 };
            let mut line = format!("{kind} mode {mode:o}");
            if facets.metadata {
                line += &format!(
                    " owner {}:{} mtime {} {}",
                    m.uid(),
                    m.gid(),
                    m.mtime(),
                    user_xattrs(&path).join(",")
                );
            }
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.insert(rel, line);
        }
    }
    out
}

fn user_xattrs(path: &Path) -> Vec<String> {
    let mut xattrs = Vec::new();
    let mut names = vec![0u8; 4096];
    if let Ok(n) = rustix::fs::llistxattr(path, &mut names) {
        for name in names[..n]
            .split(|b| *b == 0)
            .filter(|n| n.starts_with(b"user."))
        {
            let mut value = vec![0u8; 4096];
            let name = std::str::from_utf8(name).unwrap();
            let len = rustix::fs::lgetxattr(path, name, &mut value).unwrap();
            xattrs.push(format!("{name}={}", String::from_utf8_lossy(&value[..len])));
        }
    }
    xattrs
}
