//! The files an rpm package owns, from the rootfs's own rpm database, without rpm:
//! the sqlite backend (`rpmdb.sqlite`, rpm ≥ 4.16's default and Yocto's) read with
//! SQLite, each row an rpm header blob parsed here. The database is copied to a
//! temporary directory first (with its write-ahead log, if any) and opened there, so
//! reading it never writes into the rootfs. BerkeleyDB (`Packages`) and ndb
//! (`Packages.db`) databases are named in the error: they need rpm itself.

use std::fs;
use std::path::{Path, PathBuf};

/// Where rpm keeps its database, relative to the rootfs (Fedora moved it to
/// /usr/lib/sysimage and left a symlink at /var/lib/rpm).
const DB_DIRS: [&str; 2] = ["var/lib/rpm", "usr/lib/sysimage/rpm"];

/// Header blobs larger than this are refused (real ones are tens of KiB).
const MAX_HEADER: usize = 64 * 1024 * 1024;
const MAX_INDEX_ENTRIES: usize = 100_000;

const TAG_NAME: u32 = 1000;
const TAG_DIRINDEXES: u32 = 1116;
const TAG_BASENAMES: u32 = 1117;
const TAG_DIRNAMES: u32 = 1118;
const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;

/// The files package `name` owns; `Ok(None)` when the rootfs has no rpm database.
pub fn package_files(rootfs: &Path, name: &str) -> Result<Option<Vec<PathBuf>>, String> {
    let Some((dir, db)) = find_db(rootfs)? else {
        return Ok(None);
    };
    let shown = dir.join(&db);
    let scratch = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
    for suffix in ["", "-wal"] {
        let from = rootfs.join(&dir).join(format!("{db}{suffix}"));
        if suffix.is_empty() || fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) {
            fs::copy(&from, scratch.path().join(format!("rpmdb.sqlite{suffix}")))
                .map_err(|e| format!("{}{suffix}: {e}", shown.display()))?;
        }
    }
    let blobs = header_blobs(&scratch.path().join("rpmdb.sqlite"), &shown)?;
    let mut files = Vec::new();
    let mut found = false;
    for (i, blob) in blobs.iter().enumerate() {
        let header = Header::parse(blob)
            .map_err(|why| format!("{}: package header {}: {why}", shown.display(), i + 1))?;
        if header.string(TAG_NAME)?.as_deref() != Some(name) {
            continue;
        }
        found = true;
        files.extend(header.files()?);
    }
    if !found {
        return Err(format!(
            "package {name:?} is not in the rootfs's rpm database ({})",
            shown.display()
        ));
    }
    Ok(Some(files))
}

/// Every package's header blob in the sqlite database at `db` (`shown` in messages).
#[cfg(feature = "rpm")]
fn header_blobs(db: &Path, shown: &Path) -> Result<Vec<Vec<u8>>, String> {
    let conn = rusqlite::Connection::open(db).map_err(|e| format!("{}: {e}", shown.display()))?;
    let mut query = conn
        .prepare("SELECT blob FROM Packages")
        .map_err(|e| format!("{}: not an rpm database: {e}", shown.display()))?;
    let rows = query
        .query_map([], |row| row.get::<_, Vec<u8>>(0))
        .map_err(|e| format!("{}: {e}", shown.display()))?;
    rows.enumerate()
        .map(|(i, blob)| blob.map_err(|e| format!("{}: row {}: {e}", shown.display(), i + 1)))
        .collect()
}

/// Without SQLite (berth-image without its `rpm` feature: the registry client
/// berthd links): an rpm database is named, not read.
#[cfg(not(feature = "rpm"))]
fn header_blobs(_db: &Path, shown: &Path) -> Result<Vec<Vec<u8>>, String> {
    Err(format!(
        "{}: reading an rpm database needs berth-image's rpm feature",
        shown.display()
    ))
}

/// The database directory (resolved inside the rootfs) and file name, if any.
fn find_db(rootfs: &Path) -> Result<Option<(PathBuf, String)>, String> {
    for dir in DB_DIRS {
        let Ok(dir) = crate::unpack::inside::resolve(rootfs, Path::new(dir), true) else {
            continue;
        };
        if fs::symlink_metadata(rootfs.join(&dir).join("rpmdb.sqlite")).is_ok_and(|m| m.is_file()) {
            return Ok(Some((dir, "rpmdb.sqlite".into())));
        }
        for (file, kind) in [("Packages", "BerkeleyDB"), ("Packages.db", "ndb")] {
            if fs::symlink_metadata(rootfs.join(&dir).join(file)).is_ok() {
                return Err(format!(
                    "{}: a {kind} rpm database, which only rpm reads; berth reads rpm's sqlite backend (rpmdb.sqlite, rpm >= 4.16)",
                    dir.join(file).display()
                ));
            }
        }
    }
    Ok(None)
}

/// An rpm header as rpmdb stores it: entry count and data length (big-endian u32),
/// then 16-byte index entries (tag, type, offset, count), then the data.
struct Header<'a> {
    index: &'a [u8],
    data: &'a [u8],
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

impl<'a> Header<'a> {
    fn parse(blob: &'a [u8]) -> Result<Header<'a>, String> {
        if blob.len() < 8 || blob.len() > MAX_HEADER {
            return Err(format!("{} bytes", blob.len()));
        }
        let entries = be32(blob, 0) as usize;
        let data_len = be32(blob, 4) as usize;
        if entries > MAX_INDEX_ENTRIES || 8 + entries * 16 + data_len > blob.len() {
            return Err(format!(
                "{entries} entries and {data_len} bytes of data do not fit in {} bytes",
                blob.len()
            ));
        }
        let index = &blob[8..8 + entries * 16];
        let data = &blob[8 + entries * 16..8 + entries * 16 + data_len];
        Ok(Header { index, data })
    }

    /// The (type, offset, count) of `tag`.
    fn entry(&self, tag: u32) -> Option<(u32, usize, usize)> {
        self.index.chunks_exact(16).find_map(|e| {
            (be32(e, 0) == tag).then(|| (be32(e, 4), be32(e, 8) as usize, be32(e, 12) as usize))
        })
    }

    fn strings(&self, tag: u32, kind: u32) -> Result<Option<Vec<String>>, String> {
        let Some((t, offset, count)) = self.entry(tag) else {
            return Ok(None);
        };
        if t != kind || offset > self.data.len() || count > self.data.len() {
            return Err(format!(
                "tag {tag}: type {t}, offset {offset}, count {count}"
            ));
        }
        let mut out = Vec::with_capacity(count);
        let mut rest = &self.data[offset..];
        for _ in 0..count {
            let end = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| format!("tag {tag}: a string runs past the data"))?;
            let s = std::str::from_utf8(&rest[..end])
                .map_err(|_| format!("tag {tag}: a string that is not UTF-8"))?;
            out.push(s.to_string());
            rest = &rest[end + 1..];
        }
        Ok(Some(out))
    }

    fn string(&self, tag: u32) -> Result<Option<String>, String> {
        Ok(self
            .strings(tag, TYPE_STRING)?
            .and_then(|v| v.into_iter().next()))
    }

    fn int32s(&self, tag: u32) -> Result<Option<Vec<u32>>, String> {
        let Some((t, offset, count)) = self.entry(tag) else {
            return Ok(None);
        };
        let end = count
            .checked_mul(4)
            .and_then(|n| n.checked_add(offset))
            .filter(|&end| end <= self.data.len());
        match (t, end) {
            (TYPE_INT32, Some(_)) => Ok(Some(
                (0..count)
                    .map(|i| be32(self.data, offset + 4 * i))
                    .collect(),
            )),
            _ => Err(format!(
                "tag {tag}: type {t}, offset {offset}, count {count}"
            )),
        }
    }

    /// The package's files: `DIRNAMES[DIRINDEXES[i]] + BASENAMES[i]`, relative.
    fn files(&self) -> Result<Vec<PathBuf>, String> {
        let base = self
            .strings(TAG_BASENAMES, TYPE_STRING_ARRAY)?
            .unwrap_or_default();
        let dirs = self
            .strings(TAG_DIRNAMES, TYPE_STRING_ARRAY)?
            .unwrap_or_default();
        let index = self.int32s(TAG_DIRINDEXES)?.unwrap_or_default();
        if index.len() != base.len() {
            return Err(format!(
                "{} basenames but {} directory indexes",
                base.len(),
                index.len()
            ));
        }
        base.iter()
            .zip(&index)
            .map(|(b, &i)| {
                let dir = dirs
                    .get(i as usize)
                    .ok_or_else(|| format!("directory index {i} of {} directories", dirs.len()))?;
                Ok(crate::unpack::inside::clean(Path::new(&format!(
                    "{dir}{b}"
                ))))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header blob of (tag, type, count, data) entries.
    fn blob(entries: &[(u32, u32, u32, Vec<u8>)]) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        for (tag, kind, count, bytes) in entries {
            while *kind == TYPE_INT32 && data.len() % 4 != 0 {
                data.push(0);
            }
            for v in [*tag, *kind, data.len() as u32, *count] {
                index.extend_from_slice(&v.to_be_bytes());
            }
            data.extend_from_slice(bytes);
        }
        let mut out = (entries.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend(index);
        out.extend(data);
        out
    }

    fn strs(v: &[&str]) -> Vec<u8> {
        v.iter().flat_map(|s| s.bytes().chain([0])).collect()
    }

    #[test]
    fn a_header_gives_its_name_and_files() {
        let b = blob(&[
            (TAG_NAME, TYPE_STRING, 1, strs(&["hello"])),
            (
                TAG_BASENAMES,
                TYPE_STRING_ARRAY,
                3,
                strs(&["hello", "hello.conf", "doc"]),
            ),
            (
                TAG_DIRNAMES,
                TYPE_STRING_ARRAY,
                2,
                strs(&["/usr/bin/", "/etc/"]),
            ),
            (
                TAG_DIRINDEXES,
                TYPE_INT32,
                3,
                [0u32, 1, 1].iter().flat_map(|v| v.to_be_bytes()).collect(),
            ),
        ]);
        let h = Header::parse(&b).unwrap();
        assert_eq!(h.string(TAG_NAME).unwrap().as_deref(), Some("hello"));
        let files: Vec<String> = h
            .files()
            .unwrap()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(files, ["usr/bin/hello", "etc/hello.conf", "etc/doc"]);
    }

    #[test]
    fn broken_headers_are_errors_not_panics() {
        let good = blob(&[
            (TAG_NAME, TYPE_STRING, 1, strs(&["x"])),
            (TAG_BASENAMES, TYPE_STRING_ARRAY, 1, strs(&["a"])),
            (TAG_DIRNAMES, TYPE_STRING_ARRAY, 1, strs(&["/"])),
            (TAG_DIRINDEXES, TYPE_INT32, 1, 5u32.to_be_bytes().to_vec()),
        ]);
        let h = Header::parse(&good).unwrap();
        assert!(h.files().unwrap_err().contains("directory index 5"));
        assert!(Header::parse(&[0, 0, 0, 9, 0, 0, 0, 0]).is_err());
        // Every truncation and every flipped byte: an error or a result, never a panic.
        for cut in 0..good.len() {
            if let Ok(h) = Header::parse(&good[..cut]) {
                let _ = (h.string(TAG_NAME), h.files());
            }
        }
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0xff;
            if let Ok(h) = Header::parse(&bad) {
                let _ = (h.string(TAG_NAME), h.files());
            }
        }
    }
}
