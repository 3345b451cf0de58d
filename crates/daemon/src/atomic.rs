//! Atomic replacement of the files the daemon owns: a reader sees the old content or
//! the new, never a mix, whatever kills the daemon and whenever. berth-fs does the
//! work (temporary file, fsync, rename, directory fsync), as for every other file
//! berth replaces; here as `io::Result` for the daemon's callers.

use std::io;
use std::path::Path;

/// Writes `bytes` to `path` atomically and durably, mode 0600 (berthd's own files).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    berth_fs::write_atomic(path, |f| io::Write::write_all(f, bytes), 0o600).map_err(|e| match e {
        berth_fs::FsError::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    })
}

/// A record file berthd derives (state.json, updates.json): missing or unreadable
/// reads as the default.
pub fn read_record<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Writes a record file atomically, indented, newline-terminated.
pub fn write_record<T: serde::Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("serialisable");
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("containers.conf");
        write_atomic(&path, b"old").unwrap();
        // The target is a directory now: the rename must fail, the old file stays.
        let blocked = dir.path().join("sub");
        std::fs::create_dir(&blocked).unwrap();
        std::fs::write(blocked.join("x"), b"x").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }
}
