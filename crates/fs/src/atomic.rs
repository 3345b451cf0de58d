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

    /// The temporary file's own path (to read back what was written).
    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    /// Names the file `name` in the same directory instead: for content whose name
    /// is known only once it is written (a package named by its id).
    pub fn rename_to(&mut self, name: &str) {
        self.path = self.dir.join(name);
    }

    /// Syncs the content, gives it `mode`, renames it over the path and syncs the
    /// directory.
    pub fn commit(self, mode: u32) -> Result<(), FsError> {
        self.put_in_place(mode, true)
    }

    /// As `commit`, but a file already at the path is kept and the commit fails
    /// with an `FsError::Io` whose source is of kind `AlreadyExists`.
    pub fn commit_new(self, mode: u32) -> Result<(), FsError> {
        self.put_in_place(mode, false)
    }

    fn put_in_place(self, mode: u32, replace: bool) -> Result<(), FsError> {
        use std::os::unix::fs::PermissionsExt;
        let AtomicFile { temp, path, dir } = self;
        temp.as_file()
            .sync_all()
            .and_then(|()| {
                temp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(mode))
            })
            .map_err(FsError::io(&path, "cannot write"))?;
        let placed = match replace {
            true => temp.persist(&path).map(drop),
            false => temp.persist_noclobber(&path).map(drop),
        };
        placed.map_err(|e| FsError::io(&path, "cannot write")(e.error))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(FsError::io(&dir, "cannot sync"))
    }
}

impl std::io::Seek for AtomicFile {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        self.temp.as_file_mut().seek(pos)
    }
}

impl std::io::Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.temp.as_file_mut().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.temp.as_file_mut().flush()
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

    #[test]
    fn commit_new_keeps_a_file_already_there_and_rename_to_names_it_late() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let taken = dir.path().join("taken");
        std::fs::write(&taken, "mine").unwrap();
        let mut file = AtomicFile::create(&taken).unwrap();
        file.write_all(b"theirs").unwrap();
        let e = file.commit_new(0o644).unwrap_err();
        let FsError::Io { source, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&taken).unwrap(), "mine");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );

        let mut file = AtomicFile::create(&dir.path().join("unknown")).unwrap();
        file.write_all(b"pkg").unwrap();
        file.rename_to("app.tar.gz");
        file.commit_new(0o600).unwrap();
        let placed = dir.path().join("app.tar.gz");
        assert_eq!(std::fs::read_to_string(&placed).unwrap(), "pkg");
        let mode = std::fs::metadata(&placed).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
