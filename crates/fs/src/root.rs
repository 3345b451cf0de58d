//! A tree berth writes into but does not own (a device rootfs, a bundle's rootfs):
//! every path the input names (a unit's name, a key file, a mount point, a library
//! from a template) is resolved inside it, its symlinks followed as the device's
//! kernel would follow them with the tree as `/` (`inside`), so nothing reaches the
//! build host's own files. Files are written atomically (`atomic`); reads of files
//! berth did not write refuse anything but a regular file of bounded size.

use crate::atomic::write_atomic;
use crate::inside::{resolve, Escape};
use crate::FsError;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// The root at `dir`, which must be a directory.
    pub fn open(dir: &Path) -> Result<Root, FsError> {
        let meta = std::fs::metadata(dir).map_err(FsError::io(dir, "cannot read the root"))?;
        if !meta.is_dir() {
            return Err(FsError::NotDirectory(dir.to_path_buf()));
        }
        Ok(Root {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `inside` (absolute as in the tree, or relative to its root) on the host, every
    /// symlink on the way followed inside the root; the last component too when
    /// `follow_last`.
    pub fn path(&self, inside: &str, follow_last: bool) -> Result<PathBuf, FsError> {
        let rel = resolve(&self.dir, Path::new(inside), follow_last).map_err(
            |Escape { why, .. }| FsError::Escape {
                path: inside.to_string(),
                why,
            },
        )?;
        Ok(self.dir.join(rel))
    }

    /// Whether `inside` names anything (after its symlinks, inside the root).
    pub fn exists(&self, inside: &str) -> bool {
        self.path(inside, true)
            .is_ok_and(|p| std::fs::symlink_metadata(p).is_ok())
    }

    /// The content of file `inside` (its symlinks followed inside the root), `None`
    /// when there is none. Anything but a regular file of at most `limit` bytes is
    /// refused: the tree is a stranger's, and a device, a FIFO or a huge file would
    /// hang or exhaust the reader.
    pub fn read_regular(&self, inside: &str, limit: u64) -> Result<Option<Vec<u8>>, FsError> {
        use std::io::Read;
        let path = self.path(inside, true)?;
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let file = match std::fs::File::options()
            .read(true)
            .custom_flags(flags.bits() as i32)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(FsError::io(&path, "cannot read")(e)),
        };
        let meta = file.metadata().map_err(FsError::io(&path, "cannot read"))?;
        if !meta.is_file() {
            return Err(FsError::NotRegular(inside.to_string()));
        }
        if meta.len() > limit {
            return Err(FsError::TooLarge {
                path: inside.to_string(),
                size: meta.len(),
                limit,
            });
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(FsError::io(&path, "cannot read"))?;
        Ok(Some(bytes))
    }

    /// Directory `inside` and its parents, 0755 where missing, each inside the root.
    pub fn create_dir_all(&self, inside: &str) -> Result<PathBuf, FsError> {
        let path = self.path(inside, true)?;
        // Every component that exists was resolved above; the ones made here are new.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&path)
            .map_err(FsError::io(&path, "cannot create"))?;
        Ok(path)
    }

    /// The directory a new name `inside` goes in, created where missing, and the
    /// name's host path (the last component not followed).
    fn place(&self, inside: &str, follow_last: bool) -> Result<PathBuf, FsError> {
        let path = self.path(inside, follow_last)?;
        let parent = path.parent().ok_or_else(|| FsError::Escape {
            path: inside.to_string(),
            why: "names the root itself",
        })?;
        if path == self.dir {
            return Err(FsError::Escape {
                path: inside.to_string(),
                why: "names the root itself",
            });
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(FsError::io(parent, "cannot create"))?;
        Ok(path)
    }

    /// Writes `bytes` to file `inside` atomically with `mode`, replacing what was
    /// there; a symlink at the name is followed inside the root (as the device
    /// would write through it), and missing directories are made.
    pub fn write(&self, inside: &str, bytes: &[u8], mode: u32) -> Result<PathBuf, FsError> {
        let path = self.place(inside, true)?;
        write_atomic(&path, |f| std::io::Write::write_all(f, bytes), mode)?;
        Ok(path)
    }

    /// Makes `inside` a symlink to `target`, replacing what was at the name
    /// (a symlink there is replaced, not followed).
    pub fn symlink(&self, inside: &str, target: &str) -> Result<PathBuf, FsError> {
        let path = self.place(inside, false)?;
        let parent = path.parent().unwrap_or(&self.dir);
        let tmp = parent.join(format!(
            ".{}.berth-link",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).map_err(FsError::io(&tmp, "cannot create"))?;
        std::fs::rename(&tmp, &path).map_err(FsError::io(&path, "cannot create"))?;
        Ok(path)
    }

    /// Removes `inside` and, when it is a symlink, what it leads to (inside the
    /// root), as BundleGen removes a library it replaces with the host's.
    pub fn remove_with_target(&self, inside: &str) -> Result<(), FsError> {
        let link = self.path(inside, false)?;
        let target = self.path(inside, true)?;
        std::fs::remove_file(&link).map_err(FsError::io(&link, "cannot remove"))?;
        if target != link && std::fs::symlink_metadata(&target).is_ok() {
            std::fs::remove_file(&target).map_err(FsError::io(&target, "cannot remove"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    /// A root with `etc/hosts` linked to a host file and `lib/libx.so.1` too.
    fn planted() -> (tempfile::TempDir, tempfile::TempDir, PathBuf) {
        let host = tempfile::tempdir().unwrap();
        let host_file = host.path().join("hosts");
        fs::write(&host_file, "the host's own\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::create_dir_all(dir.path().join("lib")).unwrap();
        symlink(&host_file, dir.path().join("etc/hosts")).unwrap();
        symlink(&host_file, dir.path().join("lib/libx.so.1")).unwrap();
        symlink("../../../../..", dir.path().join("up")).unwrap();
        (host, dir, host_file)
    }

    #[test]
    fn writes_through_links_to_the_host_land_inside_the_root() {
        let (_host, dir, host_file) = planted();
        let r = Root::open(dir.path()).unwrap();
        let written = r
            .write("/etc/hosts", b"127.0.0.1\tlocalhost\n", 0o644)
            .unwrap();
        assert_eq!(fs::read_to_string(&host_file).unwrap(), "the host's own\n");
        let inside = dir.path().join(host_file.strip_prefix("/").unwrap());
        assert_eq!(written, inside);
        assert_eq!(
            fs::read_to_string(&inside).unwrap(),
            "127.0.0.1\tlocalhost\n"
        );
        let mode = fs::metadata(&inside).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o644);
        // `..` through a link climbs no higher than the root.
        let p = r.write("up/etc/x.conf", b"x", 0o600).unwrap();
        assert_eq!(p, dir.path().join("etc/x.conf"));
    }

    #[test]
    fn a_library_linked_to_the_host_goes_with_its_target_inside_the_root_only() {
        let (_host, dir, host_file) = planted();
        let r = Root::open(dir.path()).unwrap();
        let inside = dir.path().join(host_file.strip_prefix("/").unwrap());
        fs::create_dir_all(inside.parent().unwrap()).unwrap();
        fs::write(&inside, "the rootfs's").unwrap();
        assert!(r.exists("/lib/libx.so.1"));
        r.remove_with_target("/lib/libx.so.1").unwrap();
        assert!(host_file.exists());
        assert!(!inside.exists());
        assert!(fs::symlink_metadata(dir.path().join("lib/libx.so.1")).is_err());
    }

    #[test]
    fn a_symlink_replaces_a_link_at_its_name_without_following_it() {
        let (_host, dir, host_file) = planted();
        let r = Root::open(dir.path()).unwrap();
        r.symlink("/etc/hosts", "/etc/hosts.real").unwrap();
        assert_eq!(
            fs::read_link(dir.path().join("etc/hosts")).unwrap(),
            Path::new("/etc/hosts.real")
        );
        assert_eq!(fs::read_to_string(&host_file).unwrap(), "the host's own\n");
    }

    #[test]
    fn reads_refuse_what_is_not_a_small_regular_file_inside() {
        let (_host, dir, _host_file) = planted();
        let r = Root::open(dir.path()).unwrap();
        // The link leads inside the root, where there is nothing: not the host file.
        assert_eq!(r.read_regular("/etc/hosts", 1024).unwrap(), None);
        fs::write(dir.path().join("etc/big"), vec![b'x'; 2048]).unwrap();
        assert!(matches!(
            r.read_regular("/etc/big", 1024),
            Err(FsError::TooLarge { size: 2048, .. })
        ));
        rustix::fs::mknodat(
            rustix::fs::CWD,
            dir.path().join("etc/fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        assert!(matches!(
            r.read_regular("/etc/fifo", 1024),
            Err(FsError::NotRegular(_))
        ));
        fs::write(dir.path().join("etc/small"), "ok").unwrap();
        assert_eq!(
            r.read_regular("etc/small", 1024).unwrap().as_deref(),
            Some(&b"ok"[..])
        );
    }

    #[test]
    fn the_root_itself_is_not_a_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let r = Root::open(dir.path()).unwrap();
        assert!(r.write("/", b"x", 0o644).is_err());
        assert!(r.write("..", b"x", 0o644).is_err());
        assert!(Root::open(&dir.path().join("missing")).is_err());
    }
}
