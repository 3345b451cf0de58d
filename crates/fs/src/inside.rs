//! Paths from a layer resolved inside the root they are unpacked into. A layer's
//! names and links are hostile input: `../`, absolute names, symlinks (absolute or
//! relative, chained, made by earlier entries or layers) must never take a write, a
//! link or a removal outside the root. Every component is looked at on disk and a
//! symlink is followed as if the root were `/` (what `filepath-securejoin`, which
//! umoci uses, does). The unpacker is the only writer of the root while it works, so
//! the walk cannot be raced by the input.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed for one path at most: Linux's own limit (issue 21, finding 5:
/// 255 follows of ~800 components each cost a third of a second per entry).
const MAX_LINKS: usize = 40;
/// Components looked at for one path at most: a name and 40 link targets of at most
/// PATH_MAX (4096 bytes) each could not hold more than this many.
pub const MAX_STEPS: u64 = 41 * 2048;

#[derive(Debug, thiserror::Error)]
#[error("{path}: {why}")]
pub struct Escape {
    pub path: String,
    pub why: &'static str,
}

/// A layer entry's name as a path relative to the root: `/`, `.` and `..` resolved
/// lexically with `..` stopping at the root (as `filepath.Clean("/" + name)`).
pub fn clean(name: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// `rel` (relative to `root`) with every symlink among its components followed inside
/// `root`; the last component is followed only with `follow_last`. Returns the path
/// relative to the root.
pub fn resolve(root: &Path, rel: &Path, follow_last: bool) -> Result<PathBuf, Escape> {
    let mut budget = MAX_STEPS;
    resolve_within(root, rel, follow_last, &mut budget)
}

/// `resolve`, each component looked at taken from `budget` (a layer's, so that what
/// a whole layer costs is bounded too, not only each name).
pub fn resolve_within(
    root: &Path,
    rel: &Path,
    follow_last: bool,
    budget: &mut u64,
) -> Result<PathBuf, Escape> {
    let mut steps = 0u64;
    let mut pending: VecDeque<OsString> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut current = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        steps += 1;
        if steps > MAX_STEPS || *budget == 0 {
            return Err(Escape {
                path: rel.display().to_string(),
                why: if steps > MAX_STEPS {
                    "more path components to resolve than any real path has"
                } else {
                    "the layer's names cost more to resolve than its size allows"
                },
            });
        }
        *budget -= 1;
        if part == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&part);
        let is_last = pending.is_empty();
        let link = match fs::symlink_metadata(root.join(&candidate)) {
            Ok(m) if m.file_type().is_symlink() && (follow_last || !is_last) => {
                fs::read_link(root.join(&candidate)).ok()
            }
            _ => None,
        };
        let Some(target) = link else {
            current = candidate;
            continue;
        };
        links += 1;
        if links > MAX_LINKS {
            return Err(Escape {
                path: rel.display().to_string(),
                why: "too many levels of symbolic links",
            });
        }
        if target.is_absolute() {
            current = PathBuf::new();
        }
        for c in target.components().rev() {
            match c {
                Component::Normal(p) => pending.push_front(p.to_os_string()),
                Component::ParentDir => pending.push_front("..".into()),
                _ => {}
            }
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn names_that_climb_stop_at_the_root() {
        assert_eq!(
            clean(Path::new("../../etc/passwd")),
            Path::new("etc/passwd")
        );
        assert_eq!(clean(Path::new("/a/./b/../c")), Path::new("a/c"));
        assert_eq!(clean(Path::new("./")), Path::new(""));
    }

    #[test]
    fn symlinks_are_followed_as_if_the_root_were_slash() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        symlink("/", r.join("up")).unwrap();
        symlink("../../../../..", r.join("usr/lib/far")).unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("/etc", r.join("etc")).unwrap();
        assert_eq!(
            resolve(r, Path::new("up/usr/x"), true).unwrap(),
            Path::new("usr/x")
        );
        assert_eq!(
            resolve(r, Path::new("usr/lib/far/x"), true).unwrap(),
            Path::new("x")
        );
        assert_eq!(
            resolve(r, Path::new("lib/x"), true).unwrap(),
            Path::new("usr/lib/x")
        );
        // `etc` points at itself: a loop, refused rather than followed forever.
        let e = resolve(r, Path::new("etc/passwd"), true).unwrap_err();
        assert_eq!(e.why, "too many levels of symbolic links");
        // The last component is not followed unless asked.
        assert_eq!(
            resolve(r, Path::new("lib"), false).unwrap(),
            Path::new("lib")
        );
    }
}
