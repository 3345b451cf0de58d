//! Metadata changed through directory file descriptors, never by path after the fact.
//! A layer can replace a directory it made earlier with a symlink (`a/` then `a ->
//! /etc/shadow`): a mode or time restored by path at the end of the layer would then
//! land on the host file (issue 21, finding 1). Here the parent of a name is opened
//! with no symlink allowed in any component (`openat2` with `RESOLVE_NO_SYMLINKS |
//! RESOLVE_BENEATH`, or a walk of `O_NOFOLLOW` opens where the kernel lacks it), the
//! name itself is looked at without following it, and only a directory still there is
//! changed, relative to that descriptor.

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path};

/// A root directory, held open.
pub struct RootDir {
    fd: OwnedFd,
}

const DIR_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

impl RootDir {
    pub fn open(root: &Path) -> io::Result<RootDir> {
        let fd = rustix::fs::open(root, DIR_FLAGS, Mode::empty())?;
        Ok(RootDir { fd })
    }

    /// The directory `rel` (relative, no `..`) opened with no symlink followed on the
    /// way; an error when a component is missing, not a directory, or a symlink.
    fn open_dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        if rel.as_os_str().is_empty() {
            return Ok(rustix::fs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())?);
        }
        let resolve = ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH;
        match rustix::fs::openat2(&self.fd, rel, DIR_FLAGS, Mode::empty(), resolve) {
            Err(rustix::io::Errno::NOSYS) => {}
            other => return Ok(other?),
        }
        // Kernels before 5.6: one component at a time, none of them followed.
        let mut at = rustix::fs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())?;
        for c in rel.components() {
            let Component::Normal(name) = c else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a path with other than plain names",
                ));
            };
            at = rustix::fs::openat(&at, name, DIR_FLAGS, Mode::empty())?;
        }
        Ok(at)
    }

    /// Sets `rel`'s mode (when given) and times if it is still a directory reached
    /// without a symlink; `Ok(false)` when it is not (the layer replaced it later).
    pub fn set_dir_metadata(
        &self,
        rel: &Path,
        mode: Option<u32>,
        time: Timespec,
    ) -> io::Result<bool> {
        let (parent, name) = match (rel.parent(), rel.file_name()) {
            (Some(p), Some(n)) => (p, n),
            _ => (Path::new(""), OsStr::new(".")),
        };
        let dir = match self.open_dir(parent) {
            Ok(d) => d,
            Err(e) if replaced(&e) => return Ok(false),
            Err(e) => return Err(e),
        };
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
            Ok(_) | Err(rustix::io::Errno::NOENT) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        // The unpacker is the only writer of the root, so `name` is the directory just
        // looked at (chmodat has no flag not to follow; it is not a symlink).
        if let Some(mode) = mode {
            rustix::fs::chmodat(&dir, name, Mode::from_raw_mode(mode), AtFlags::empty())?;
        }
        let times = Timestamps {
            last_access: time,
            last_modification: time,
        };
        rustix::fs::utimensat(&dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(true)
    }
}

/// A parent that is gone, is no directory, or is a symlink now.
fn replaced(e: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(e),
        Some(
            rustix::io::Errno::NOENT
                | rustix::io::Errno::NOTDIR
                | rustix::io::Errno::LOOP
                | rustix::io::Errno::XDEV
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{symlink, PermissionsExt};

    const T: Timespec = Timespec {
        tv_sec: 1_000_000,
        tv_nsec: 0,
    };

    #[test]
    fn a_directory_replaced_by_a_symlink_is_left_alone_and_so_is_its_target() {
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "x").unwrap();
        fs::set_permissions(&victim, fs::Permissions::from_mode(0o600)).unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink(&victim, root.path().join("a")).unwrap();
        fs::create_dir(root.path().join("d")).unwrap();
        symlink(outside.path(), root.path().join("up")).unwrap();
        let r = RootDir::open(root.path()).unwrap();
        assert!(!r.set_dir_metadata(Path::new("a"), Some(0o4777), T).unwrap());
        // A symlink in a parent component is not followed either.
        fs::create_dir(outside.path().join("sub")).unwrap();
        assert!(!r
            .set_dir_metadata(Path::new("up/sub"), Some(0o777), T)
            .unwrap());
        let mode = fs::metadata(&victim).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600);
        let sub = fs::metadata(outside.path().join("sub")).unwrap();
        assert_ne!(sub.permissions().mode() & 0o777, 0o777);
        // A real directory is changed.
        assert!(r.set_dir_metadata(Path::new("d"), Some(0o750), T).unwrap());
        let d = fs::metadata(root.path().join("d")).unwrap();
        assert_eq!(d.permissions().mode() & 0o7777, 0o750);
        assert!(r.set_dir_metadata(Path::new(""), None, T).unwrap());
    }
}
