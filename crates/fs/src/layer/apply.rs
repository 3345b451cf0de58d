//! One layer applied to a root: entries in order, whiteouts (`.wh.NAME`) removing
//! what lower layers had, opaque directories (`.wh..wh..opq`) emptied of lower
//! layers' content, and every name resolved inside the root (`inside`). Directories'
//! modes and times are set once the layer is done, so that a read-only directory can
//! still be filled by later entries of the same layer.

use super::guard::{LayerLimits, Refusal, TarGuard};
use crate::confined::RootDir;
use crate::inside::{clean, resolve_within, MAX_STEPS};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const WHITEOUT: &str = ".wh.";
/// Path components resolved per entry, on average over a layer, at most (real
/// layers need their depth, a few dozen).
const STEPS_PER_ENTRY: u64 = 256;
const OPAQUE: &str = ".wh..wh..opq";

pub struct Options {
    /// Take ownership, device nodes and trusted/security xattrs from the layer
    /// (root); rootless leaves files owned by the caller and skips device nodes.
    pub privileged: bool,
    pub whiteouts: Whiteouts,
    /// Take the xattrs the layer gives (those `layer_may_set` allows); without,
    /// none (a device's bundle store may not support user xattrs).
    pub xattrs: bool,
    /// What the layer may cost (`guard`).
    pub limits: LayerLimits,
}

/// What `.wh.NAME` and `.wh..wh..opq` entries mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whiteouts {
    /// An image layer applied over the ones below: NAME removed, the directory
    /// emptied of lower layers' content.
    Apply,
    /// Kept as overlayfs marks them: a whiteout becomes a 0:0 character device, an
    /// opaque directory gets the `trusted.overlay.opaque` xattr (a layer's own
    /// `diff` directory in podman's or Docker's overlay storage).
    OverlayMarks,
    /// A plain archive (a bundle), not a layer: such names are files like any other.
    None,
}

/// What a layer held.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    pub entries: u64,
    /// Bytes of entry data.
    pub expanded: u64,
}

/// A fault in a layer's content, naming the entry.
#[derive(Debug)]
pub struct EntryError {
    pub entry: String,
    pub why: String,
}

type Result<T> = std::result::Result<T, EntryError>;

struct Applier<'a> {
    root: &'a Path,
    options: &'a Options,
    /// Paths (relative, resolved) this layer made, and their parents.
    made: HashSet<PathBuf>,
    /// Directories whose mode and mtime are set at the end.
    dirs: Vec<(PathBuf, u32, i64)>,
    /// Directories this layer changed without an entry for them: their mtime before,
    /// put back at the end (as umoci does), so a layer's entries alone set times.
    touched: std::collections::HashMap<PathBuf, rustix::fs::Timespec>,
    /// Components the layer may still resolve (`inside::resolve_within`).
    budget: u64,
}

/// Applies the tar stream `layer` to `root`, within `options.limits`.
pub fn apply(root: &Path, layer: impl Read, options: &Options) -> Result<Applied> {
    let mut archive = tar::Archive::new(TarGuard::new(layer, options.limits));
    let mut applier = Applier {
        root,
        options,
        made: HashSet::new(),
        dirs: Vec::new(),
        touched: std::collections::HashMap::new(),
        budget: MAX_STEPS,
    };
    let mut count = 0;
    let mut expanded = 0;
    let broken = |e: io::Error| match Refusal::of(&e) {
        Some(refusal) => EntryError {
            entry: "(layer)".into(),
            why: refusal.0.clone(),
        },
        None => EntryError {
            entry: "(layer)".into(),
            why: format!("not a tar stream: {e}"),
        },
    };
    let entries = archive.entries().map_err(broken)?;
    for entry in entries {
        let mut entry = entry.map_err(broken)?;
        count += 1;
        expanded += entry.size();
        let name = entry
            .path()
            .map(|p| p.into_owned())
            .map_err(|e| EntryError {
                entry: "(name)".into(),
                why: e.to_string(),
            })?;
        let label = name.display().to_string();
        applier
            .entry(&mut entry, &name)
            .map_err(|why| EntryError { entry: label, why })?;
    }
    applier.finish_dirs()?;
    Ok(Applied {
        entries: count,
        expanded,
    })
}

fn err(what: &str) -> impl Fn(io::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl Applier<'_> {
    fn entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        name: &Path,
    ) -> std::result::Result<(), String> {
        let rel = clean(name);
        let Some(base) = rel.file_name().map(|b| b.to_os_string()) else {
            return Ok(()); // the root itself: its metadata is the caller's
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        // Each entry earns the layer `STEPS_PER_ENTRY` more components to resolve:
        // what resolving a layer's names costs grows with its entries, not faster.
        self.budget = self.budget.saturating_add(STEPS_PER_ENTRY);
        let parent = resolve_within(self.root, parent_rel, true, &mut self.budget)
            .map_err(|e| e.why.to_string())?;
        let base_str = base.to_string_lossy();
        for a in parent.ancestors() {
            self.remember(a);
        }
        let whiteouts = self.options.whiteouts;
        if base_str == OPAQUE && whiteouts == Whiteouts::OverlayMarks {
            self.make_parents(&parent)?;
            rustix::fs::lsetxattr(
                self.root.join(&parent),
                "trusted.overlay.opaque",
                b"y",
                rustix::fs::XattrFlags::empty(),
            )
            .map_err(|e| format!("xattr trusted.overlay.opaque: {e}"))?;
            self.mark(&parent);
            return Ok(());
        }
        if base_str == OPAQUE && whiteouts == Whiteouts::Apply {
            return self.opaque(&parent);
        }
        if let Some(hidden) = base_str
            .strip_prefix(WHITEOUT)
            .filter(|_| whiteouts != Whiteouts::None)
        {
            if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                return Err("a whiteout that names no file".into());
            }
            if whiteouts == Whiteouts::OverlayMarks {
                return self.overlay_whiteout(&parent, hidden);
            }
            return remove(&self.root.join(&parent).join(hidden));
        }
        self.make_parents(&parent)?;
        let rel = parent.join(&base);
        let path = self.root.join(&rel);
        let header = entry.header().clone();
        let kind = header.entry_type();
        let existing = fs::symlink_metadata(&path).ok();
        match existing {
            Some(m) if m.is_dir() && kind.is_dir() => {}
            Some(_) => remove(&path)?,
            None => {}
        }
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let mtime = header.mtime().unwrap_or(0) as i64;
        match kind {
            tar::EntryType::Directory => {
                if !path.is_dir() {
                    fs::create_dir(&path).map_err(err("mkdir"))?;
                }
                self.dirs.push((rel.clone(), mode, mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut file = create_new(&path)?;
                io::copy(entry, &mut file).map_err(err("write"))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(|e| format!("link target: {e}"))?
                    .ok_or("a symlink with no target")?;
                // The target is only content: it is resolved inside the root whenever
                // a later name goes through it.
                std::os::unix::fs::symlink(&*target, &path).map_err(err("symlink"))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(|e| format!("link target: {e}"))?
                    .ok_or("a hard link with no target")?;
                let target = clean(&target);
                let target_parent = resolve_within(
                    self.root,
                    target.parent().unwrap_or(Path::new("")),
                    true,
                    &mut self.budget,
                )
                .map_err(|e| e.why.to_string())?;
                let source = self
                    .root
                    .join(target_parent)
                    .join(target.file_name().ok_or("a hard link to the root")?);
                match fs::symlink_metadata(&source) {
                    Ok(m) if m.is_dir() => return Err("a hard link to a directory".into()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("hard link target {}: {e}", target.display())),
                }
                // linkat without AT_SYMLINK_FOLLOW: a symlink is linked, not followed.
                fs::hard_link(&source, &path).map_err(err("link"))?;
                self.mark(&rel);
                return Ok(()); // the link shares its target's metadata
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                if !self.options.privileged && kind != tar::EntryType::Fifo {
                    // Rootless: an empty file in place of the device, as umoci --rootless.
                    create_new(&path)?;
                    self.mark(&rel);
                    return self.metadata(entry, &path, tar::EntryType::Regular, mode, mtime);
                }
                let file_type = match kind {
                    tar::EntryType::Char => rustix::fs::FileType::CharacterDevice,
                    tar::EntryType::Block => rustix::fs::FileType::BlockDevice,
                    _ => rustix::fs::FileType::Fifo,
                };
                let dev = rustix::fs::makedev(
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &path,
                    file_type,
                    rustix::fs::Mode::from_raw_mode(0o600),
                    dev,
                )
                .map_err(|e| format!("mknod: {e}"))?;
            }
            other => return Err(format!("entry type {other:?} is not supported")),
        }
        self.mark(&rel);
        self.metadata(entry, &path, kind, mode, mtime)
    }

    fn remember(&mut self, rel: &Path) {
        if self.touched.contains_key(rel) {
            return;
        }
        if let Ok(stat) = rustix::fs::lstat(self.root.join(rel)) {
            if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Directory
            {
                let mtime = rustix::fs::Timespec {
                    tv_sec: stat.st_mtime as _,
                    tv_nsec: stat.st_mtime_nsec as _,
                };
                self.touched.insert(rel.to_path_buf(), mtime);
            }
        }
    }

    fn mark(&mut self, rel: &Path) {
        for a in rel.ancestors() {
            if !self.made.insert(a.to_path_buf()) {
                break;
            }
        }
    }

    /// Directories above an entry that no entry made: created as umoci does (0755).
    fn make_parents(&mut self, parent: &Path) -> std::result::Result<(), String> {
        let mut at = PathBuf::new();
        for c in parent.components() {
            at.push(c);
            let path = self.root.join(&at);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Err(format!("{} is not a directory", at.display())),
                Err(_) => {
                    fs::create_dir(&path).map_err(err("mkdir"))?;
                    fs::set_permissions(&path, fs::Permissions::from_mode(0o755))
                        .map_err(err("chmod"))?;
                }
            }
        }
        Ok(())
    }

    /// overlayfs's whiteout: a character device 0:0 in place of `hidden`.
    fn overlay_whiteout(&mut self, parent: &Path, hidden: &str) -> std::result::Result<(), String> {
        self.make_parents(parent)?;
        let rel = parent.join(hidden);
        let path = self.root.join(&rel);
        if fs::symlink_metadata(&path).is_ok() {
            remove(&path)?;
        }
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .map_err(|e| format!("whiteout {hidden}: mknod: {e}"))?;
        self.mark(&rel);
        Ok(())
    }

    /// Empties `dir` of what lower layers put there (not of this layer's entries).
    fn opaque(&mut self, dir: &Path) -> std::result::Result<(), String> {
        let path = self.root.join(dir);
        let Ok(children) = fs::read_dir(&path) else {
            return Ok(());
        };
        for child in children {
            let child = child.map_err(err("read dir"))?;
            if !self.made.contains(&dir.join(child.file_name())) {
                remove(&child.path())?;
            }
        }
        self.mark(dir);
        Ok(())
    }

    fn metadata<R: Read>(
        &self,
        entry: &mut tar::Entry<R>,
        path: &Path,
        kind: tar::EntryType,
        mode: u32,
        mtime: i64,
    ) -> std::result::Result<(), String> {
        use rustix::fs::{AtFlags, CWD};
        let header = entry.header();
        if !self.options.privileged && self.options.xattrs {
            // Rootless: the owner the layer gave is kept where umoci keeps it, in the
            // rootlesscontainers xattr (a protobuf: uid = 1, gid = 2), for any owner
            // but root.
            let (uid, gid) = (header.uid().unwrap_or(0), header.gid().unwrap_or(0));
            if (uid != 0 || gid != 0) && kind != tar::EntryType::Symlink {
                let value = rootless_owner(uid as u32, gid as u32);
                rustix::fs::lsetxattr(
                    path,
                    "user.rootlesscontainers",
                    &value,
                    rustix::fs::XattrFlags::empty(),
                )
                .map_err(|e| format!("xattr user.rootlesscontainers: {e}"))?;
            }
        }
        if self.options.privileged {
            let uid = header.uid().unwrap_or(0) as u32; // an empty field is 0, as Go's archive/tar (umoci) reads it
            let gid = header.gid().unwrap_or(0) as u32;
            rustix::fs::chownat(
                CWD,
                path,
                Some(rustix::fs::Uid::from_raw(uid)),
                Some(rustix::fs::Gid::from_raw(gid)),
                AtFlags::SYMLINK_NOFOLLOW,
            )
            .map_err(|e| format!("chown: {e}"))?;
        }
        let extensions = match self.options.xattrs {
            true => entry.pax_extensions().ok().flatten(),
            false => None,
        };
        if let Some(extensions) = extensions {
            for ext in extensions.flatten() {
                let Some(name) = ext.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr."))
                else {
                    continue;
                };
                if !layer_may_set(name, self.options.privileged) {
                    continue;
                }
                rustix::fs::lsetxattr(
                    path,
                    name,
                    ext.value_bytes(),
                    rustix::fs::XattrFlags::empty(),
                )
                .map_err(|e| format!("xattr {name}: {e}"))?;
            }
        }
        if kind != tar::EntryType::Symlink && kind != tar::EntryType::Directory {
            fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(err("chmod"))?;
        }
        if kind != tar::EntryType::Directory {
            set_mtime(path, mtime)?;
        }
        Ok(())
    }

    /// Directory modes and times, deepest first (a child's times change its parent's),
    /// through directory descriptors: a directory that a later entry replaced with a
    /// symlink is skipped, never followed (`confined`).
    fn finish_dirs(&mut self) -> Result<()> {
        let root = RootDir::open(self.root).map_err(|e| EntryError {
            entry: "(root)".into(),
            why: format!("open: {e}"),
        })?;
        let failed = |rel: &Path, what: &str, e: io::Error| EntryError {
            entry: rel.display().to_string(),
            why: format!("{what}: {e}"),
        };
        for (rel, mtime) in &self.touched {
            root.set_dir_metadata(rel, None, *mtime)
                .map_err(|e| failed(rel, "utimes", e))?;
        }
        self.dirs
            .sort_by_key(|d| std::cmp::Reverse(d.0.components().count()));
        for (rel, mode, mtime) in &self.dirs {
            let time = rustix::fs::Timespec {
                tv_sec: *mtime,
                tv_nsec: 0,
            };
            root.set_dir_metadata(rel, Some(*mode), time)
                .map_err(|e| failed(rel, "chmod", e))?;
        }
        Ok(())
    }
}

/// Whether a layer's xattr `name` is written. `trusted.overlay.*` never: overlayfs
/// reads them as its own redirect, metacopy and opaque marks, which berth writes
/// itself where a layer asks for them by a whiteout; of `security.*` only
/// `security.capability` (file capabilities), not SELinux labels or IMA/EVM
/// signatures an image would choose for the host; the rest of `trusted.*` and
/// `security.capability` only as root (issue 21, finding 10; docs/security.md).
fn layer_may_set(name: &str, privileged: bool) -> bool {
    if name.starts_with("trusted.overlay.") {
        return false;
    }
    if name.starts_with("security.") && name != "security.capability" {
        return false;
    }
    privileged || !(name.starts_with("trusted.") || name.starts_with("security."))
}

/// A new regular file at `path` (never through a symlink: the name was removed
/// first, and O_EXCL with O_NOFOLLOW refuses one that appeared).
fn create_new(path: &Path) -> std::result::Result<File, String> {
    File::options()
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(0o600)
        .open(path)
        .map_err(err("create"))
}

/// The rootlesscontainers protobuf `Resource { uint32 uid = 1; uint32 gid = 2; }`
/// (proto3: a zero field is left out).
fn rootless_owner(uid: u32, gid: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, value) in [(0x08u8, uid), (0x10u8, gid)] {
        if value == 0 {
            continue;
        }
        out.push(tag);
        let mut v = value;
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    out
}

fn set_mtime(path: &Path, mtime: i64) -> std::result::Result<(), String> {
    set_times(
        path,
        rustix::fs::Timespec {
            tv_sec: mtime,
            tv_nsec: 0,
        },
    )
}

fn set_times(path: &Path, t: rustix::fs::Timespec) -> std::result::Result<(), String> {
    rustix::fs::utimensat(
        rustix::fs::CWD,
        path,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| format!("utimes: {e}"))
}

/// Removes `path` (a directory with its content); a symlink is removed, not followed.
fn remove(path: &Path) -> std::result::Result<(), String> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(err("remove")),
        Ok(_) => fs::remove_file(path).map_err(err("remove")),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::layer_may_set;

    #[test]
    fn layers_set_no_overlay_marks_and_no_security_labels() {
        for (name, root, rootless) in [
            ("user.berth", true, true),
            ("security.capability", true, false),
            ("trusted.md5", true, false),
            ("trusted.overlay.opaque", false, false),
            ("trusted.overlay.redirect", false, false),
            ("trusted.overlay.metacopy", false, false),
            ("security.selinux", false, false),
            ("security.ima", false, false),
        ] {
            assert_eq!(layer_may_set(name, true), root, "{name} as root");
            assert_eq!(layer_may_set(name, false), rootless, "{name} rootless");
        }
    }
}
