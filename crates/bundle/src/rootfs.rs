//! Files the stages create or remove in the bundle's rootfs. Every path comes from
//! a template, app metadata or the image, so every one is resolved inside the rootfs
//! with its symlinks followed as if the rootfs were `/` (berth-image's `inside`):
//! BundleGen joins them onto the host path and lets the host follow the links, so
//! an image with `etc/hosts -> /etc/hosts` makes it write the host's file, and a
//! library symlinked to an absolute path makes it delete the host's.

use crate::error::BundleError;
use berth_image::unpack::inside::resolve;
use rustix::fs::{Mode, OFlags};
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Rootfs {
    root: PathBuf,
}

impl Rootfs {
    pub fn new(root: PathBuf) -> Rootfs {
        Rootfs { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host path of `inside` (an absolute or relative path in the container),
    /// every symlink followed inside the rootfs.
    pub fn resolve(&self, inside: &str) -> Result<PathBuf, BundleError> {
        let rel = resolve(&self.root, Path::new(inside), true)
            .map_err(|e| BundleError::invalid(inside, format!("in the rootfs: {}", e.why)))?;
        Ok(self.root.join(rel))
    }

    /// Whether `inside` names anything (after its symlinks, inside the rootfs).
    pub fn exists(&self, inside: &str) -> bool {
        self.resolve(inside)
            .is_ok_and(|p| fs::symlink_metadata(p).is_ok())
    }

    /// Directories up to and including `inside`, 0755, where missing.
    pub fn create_dir(&self, inside: &str) -> Result<(), BundleError> {
        let path = self.resolve(inside)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&path)
            .map_err(BundleError::io(&path))
    }

    /// `inside` with `contents` and `mode`, replacing what was there; its directory
    /// created where missing.
    pub fn write_file(&self, inside: &str, contents: &[u8], mode: u32) -> Result<(), BundleError> {
        let path = self.resolve(inside)?;
        if let Some(dir) = path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(BundleError::io(dir))?;
        }
        // O_NOFOLLOW: the path was resolved already; a link put there since is refused.
        let fd = rustix::fs::open(
            &path,
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| BundleError::io(&path)(e.into()))?;
        let mut file = fs::File::from(fd);
        file.write_all(contents).map_err(BundleError::io(&path))?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(BundleError::io(&path))
    }

    /// Removes `inside` and, when it is a symlink, what it leads to (inside the
    /// rootfs), as BundleGen removes a library it replaces with the host's.
    pub fn remove_with_target(&self, inside: &str) -> Result<(), BundleError> {
        let rel = resolve(&self.root, Path::new(inside), false)
            .map_err(|e| BundleError::invalid(inside, format!("in the rootfs: {}", e.why)))?;
        let link = self.root.join(rel);
        let target = self.resolve(inside)?;
        fs::remove_file(&link).map_err(BundleError::io(&link))?;
        if target != link && fs::symlink_metadata(&target).is_ok() {
            fs::remove_file(&target).map_err(BundleError::io(&target))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_to_the_host_are_followed_inside_the_rootfs() {
        let host = tempfile::tempdir().unwrap();
        let host_file = host.path().join("hosts");
        std::fs::write(&host_file, "the host's own\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let r = Rootfs::new(dir.path().to_path_buf());
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        symlink(&host_file, dir.path().join("etc/hosts")).unwrap();
        r.write_file("/etc/hosts", b"127.0.0.1\tlocalhost\n", 0o644)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&host_file).unwrap(),
            "the host's own\n"
        );
        let inside = dir.path().join(host_file.strip_prefix("/").unwrap());
        assert_eq!(
            std::fs::read_to_string(inside).unwrap(),
            "127.0.0.1\tlocalhost\n"
        );

        // A library linked to an absolute path: the link and its target in the
        // rootfs go, the host's file stays.
        std::fs::create_dir_all(dir.path().join("lib")).unwrap();
        symlink(&host_file, dir.path().join("lib/libx.so.1")).unwrap();
        r.remove_with_target("/lib/libx.so.1").unwrap();
        assert!(host_file.exists());
        assert!(std::fs::symlink_metadata(dir.path().join("lib/libx.so.1")).is_err());
    }
}
