//! A device root filesystem on the build host. Every path the input names (a
//! working path, a key file, a unit's name) is resolved inside it, its symlinks
//! followed as the device would follow them, so nothing reaches the build host's
//! own files. Files are written atomically: a temporary file in the same directory,
//! then renamed over (a rename replaces a symlink, it never follows one).

use crate::error::RootfsError;
use berth_image::unpack::inside;
use std::io::Write;
use std::path::{Path, PathBuf};

pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// The root at `dir`, which must be a directory.
    pub fn open(dir: &Path) -> Result<Root, RootfsError> {
        let meta =
            std::fs::metadata(dir).map_err(RootfsError::io(dir, "cannot read the rootfs"))?;
        if !meta.is_dir() {
            return Err(RootfsError::invalid(
                dir.display().to_string(),
                "not a directory",
            ));
        }
        Ok(Root {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `inside` (absolute as on the device, or relative to its root) on the build
    /// host, every symlink on the way followed inside the root; the last component
    /// too when `follow_last`.
    pub fn path(&self, inside: &str, follow_last: bool) -> Result<PathBuf, RootfsError> {
        let rel = inside::clean(Path::new(inside));
        let resolved = inside::resolve(&self.dir, &rel, follow_last)
            .map_err(|e| RootfsError::invalid(inside, e.why))?;
        Ok(self.dir.join(resolved))
    }

    /// The content of file `inside` (its symlinks followed inside the root), `None`
    /// when there is none. Anything but a regular file of at most `limit` bytes is
    /// refused: the rootfs is a stranger's tree, and a store file that is a device,
    /// a FIFO or a huge file would hang or exhaust the build.
    pub fn read_regular(&self, inside: &str, limit: u64) -> Result<Option<Vec<u8>>, RootfsError> {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.path(inside, true)?;
        let file = match std::fs::File::options()
            .read(true)
            .custom_flags(
                (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32,
            )
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RootfsError::io(&path, "cannot read")(e)),
        };
        let meta = file
            .metadata()
            .map_err(RootfsError::io(&path, "cannot read"))?;
        if !meta.is_file() {
            return Err(RootfsError::invalid(inside, "not a regular file"));
        }
        if meta.len() > limit {
            return Err(RootfsError::invalid(
                inside,
                format!(
                    "{} bytes, more than the {limit} a store file may have",
                    meta.len()
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(RootfsError::io(&path, "cannot read"))?;
        Ok(Some(bytes))
    }

    /// Creates directory `inside` (and its parents), each inside the root.
    pub fn create_dir_all(&self, inside: &str) -> Result<PathBuf, RootfsError> {
        let path = self.path(inside, true)?;
        std::fs::create_dir_all(&path).map_err(RootfsError::io(&path, "cannot create"))?;
        Ok(path)
    }

    /// Writes `bytes` to file `inside` atomically with `mode`; its directory is created.
    pub fn write(&self, inside: &str, bytes: &[u8], mode: u32) -> Result<PathBuf, RootfsError> {
        let path = self.path(inside, false)?;
        let parent = path.parent().expect("a file inside the root has a parent");
        let rel_parent = parent.strip_prefix(&self.dir).unwrap_or(Path::new(""));
        self.create_dir_all(&rel_parent.to_string_lossy())?;
        write_atomic(&path, |f| f.write_all(bytes), mode)?;
        Ok(path)
    }

    /// Makes `inside` a symlink to `target` (replacing what was there).
    pub fn symlink(&self, inside: &str, target: &str) -> Result<PathBuf, RootfsError> {
        let path = self.path(inside, false)?;
        let parent = path.parent().expect("a file inside the root has a parent");
        let rel_parent = parent.strip_prefix(&self.dir).unwrap_or(Path::new(""));
        self.create_dir_all(&rel_parent.to_string_lossy())?;
        let tmp = parent.join(format!(
            ".{}.berth-link",
            path.file_name().unwrap_or_default().to_string_lossy()
        ));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(target, &tmp).map_err(RootfsError::io(&tmp, "cannot create"))?;
        std::fs::rename(&tmp, &path).map_err(RootfsError::io(&path, "cannot create"))?;
        Ok(path)
    }
}

/// Writes a file atomically through `fill`: temporary file beside `path`, fsync,
/// mode set, renamed over `path`.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
    mode: u32,
) -> Result<(), RootfsError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".berth-")
        .tempfile_in(dir)
        .map_err(RootfsError::io(dir, "cannot create a file in"))?;
    fill(tmp.as_file_mut())
        .and_then(|()| tmp.as_file().sync_all())
        .and_then(|()| {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
        })
        .map_err(RootfsError::io(path, "cannot write"))?;
    tmp.persist(path)
        .map_err(|e| RootfsError::io(path, "cannot write")(e.error))?;
    Ok(())
}
