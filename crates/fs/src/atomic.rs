//! Files written atomically: a temporary file beside the target, filled, fsynced,
//! given its mode, renamed over the target (a rename replaces a symlink at the name,
//! it never follows one), and the directory fsynced so the rename survives a crash.
//! Every file berth writes whole goes through here.

use crate::FsError;
use std::fs::File;
use std::path::{Path, PathBuf};

/// A file being written in place of `path`: a temporary file beside it until
/// `commit`; dropped without a commit, it is removed and `path` is as it was.
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    path: PathBuf,
    dir: PathBuf,
}

impl AtomicFile {
    /// Starts writing `path` (its directory must exist).
    pub fn create(path: &Path) -> Result<AtomicFile, FsError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".berth-")
            .tempfile_in(dir)
            .map_err(FsError::io(dir, "cannot create a file in"))?;
        Ok(AtomicFile {
            temp,
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
        })
    }

    /// The temporary file, to write.
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// The path it will have.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the content, gives it `mode`, renames it over the path and syncs the
    /// directory.
    pub fn commit(self, mode: u32) -> Result<(), FsError> {
        use std::os::unix::fs::PermissionsExt;
        let AtomicFile { temp, path, dir } = self;
        temp.as_file()
            .sync_all()
            .and_then(|()| {
                temp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(mode))
            })
            .map_err(FsError::io(&path, "cannot write"))?;
        temp.persist(&path)
            .map_err(|e| FsError::io(&path, "cannot write")(e.error))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(FsError::io(&dir, "cannot sync"))
    }
}

/// Writes `path` through `fill`, atomically, with `mode`.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
    mode: u32,
) -> Result<(), FsError> {
    let mut file = AtomicFile::create(path)?;
    fill(file.file()).map_err(FsError::io(path, "cannot write"))?;
    file.commit(mode)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, PermissionsExt};

    #[test]
    fn a_failed_fill_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").unwrap();
        let e = write_atomic(&path, |_| Err(std::io::Error::other("disk full")), 0o600);
        assert!(e.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_symlink_at_the_name_is_replaced_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, "kept").unwrap();
        let path = dir.path().join("name");
        symlink(&other, &path).unwrap();
        write_atomic(&path, |f| std::io::Write::write_all(f, b"new"), 0o640).unwrap();
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "kept");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    }
}
