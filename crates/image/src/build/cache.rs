//! The layer cache: a layer's compressed bytes under a key made from its content.
//!
//! The key is a hash over every entry the layer's tar will hold — name, type, mode,
//! owner, size, clamped mtime, link target, device, hard-link structure and the
//! sha256 of the content — and over what else shapes the bytes (format version,
//! compression and level, epoch). It changes whenever a byte of the layer would, and
//! never otherwise (meta-virtualization keys on package names and versions, so a
//! rebuilt package with an unchanged version gets the stale layer).
//!
//! Computing it must cost much less than building the layer, so content hashes are
//! remembered per file (`files.json`) with the file's device, inode, size, mtime and
//! **ctime**. The ctime is what catches a file rewritten with the same size and its
//! mtime put back (`touch -r`): no call sets a ctime, every write moves it.
//!
//! Entries are directories `layers/<key>/{blob,meta.json}` renamed into place whole,
//! so two builds at once never see half an entry; the file index is saved under an
//! exclusive lock. A served entry is checked against its digest while it is copied
//! out; a corrupt one is removed and the layer rebuilt. Least recently used entries
//! are evicted past a size limit.

use crate::digest::Digest;
use crate::error::ImageError;
use crate::layout::Layout;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Bump when the layer writer's output changes for the same input.
const FORMAT: &str = "berth-layer-v2";

/// The default cache directory: `$XDG_CACHE_HOME/berth` or `~/.cache/berth`.
pub fn default_dir() -> PathBuf {
    match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x).join("berth"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
            .join(".cache/berth"),
    }
}

#[derive(serde::Serialize, serde::Deserialize, Clone, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        Stamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct Known {
    stamp: Stamp,
    sha256: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub digest: String,
    pub diff_id: String,
    pub size: u64,
    /// The tar's length (absent in entries written before berth recorded it).
    #[serde(default)]
    pub uncompressed_size: Option<u64>,
}

pub struct Cache {
    dir: PathBuf,
    files: Mutex<HashMap<PathBuf, Known>>,
    max_size: u64,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ImageError + '_ {
    move |e| ImageError::io(path)(e)
}

impl Cache {
    pub fn open(dir: &Path, max_size: u64) -> Result<Cache, ImageError> {
        fs::create_dir_all(dir.join("layers")).map_err(io_err(dir))?;
        fs::create_dir_all(dir.join("tmp")).map_err(io_err(dir))?;
        // A corrupt or missing index only costs rehashing.
        let files = fs::read(dir.join("files.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(Cache {
            dir: dir.to_path_buf(),
            files: Mutex::new(files),
            max_size,
        })
    }

    /// The sha256 of a file's content, from the index when its stamp is unchanged.
    fn content_hash(&self, path: &Path, m: &fs::Metadata) -> io::Result<String> {
        let stamp = Stamp::of(m);
        if let Some(k) = self.files.lock().expect("unpoisoned").get(path) {
            if k.stamp == stamp {
                return Ok(k.sha256.clone());
            }
        }
        let mut hasher = Sha256::new();
        let mut file = File::open(path)?;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let sha256 = hex::encode(hasher.finalize());
        self.files.lock().expect("unpoisoned").insert(
            path.to_path_buf(),
            Known {
                stamp,
                sha256: sha256.clone(),
            },
        );
        Ok(sha256)
    }

    /// The key of a layer of `items`, written with `options` (compression, level, epoch).
    pub fn key(
        &self,
        items: &[super::layer_tar::Item],
        epoch: i64,
        options: &str,
    ) -> io::Result<String> {
        let mut h = Sha256::new();
        h.update(FORMAT.as_bytes());
        h.update(options.as_bytes());
        let mut first_of_inode: HashMap<(u64, u64), &Path> = HashMap::new();
        for item in items {
            let m = fs::symlink_metadata(&item.source)?;
            let t = m.file_type();
            let mut line = format!(
                "\n{}\0{:o}\0{:o}\0{}\0{}\0{}\0",
                item.name.display(),
                m.mode() & 0o170000,
                m.mode() & 0o7777,
                m.uid(),
                m.gid(),
                m.mtime().clamp(0, epoch.max(0))
            );
            if t.is_symlink() {
                line.push_str(&format!("link {}", fs::read_link(&item.source)?.display()));
            } else if t.is_file() {
                let first = (m.nlink() > 1).then(|| {
                    *first_of_inode
                        .entry((m.dev(), m.ino()))
                        .or_insert(&item.name)
                });
                match first {
                    Some(first) if first != item.name.as_path() => {
                        line.push_str(&format!("hardlink {}", first.display()))
                    }
                    _ => line.push_str(&format!(
                        "{} {}",
                        m.len(),
                        self.content_hash(&item.source, &m)?
                    )),
                }
            } else if !t.is_dir() {
                line.push_str(&format!("dev {}", m.rdev()));
            }
            // Read on every build (a syscall or two per file), not remembered with
            // the content hash.
            for (k, v) in super::xattrs::read(&item.source)? {
                line.push_str(&format!("\0xattr {k}={}", hex::encode(v)));
            }
            h.update(line.as_bytes());
        }
        Ok(hex::encode(h.finalize()))
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.dir.join("layers").join(key)
    }

    /// Copies entry `key` into `layout` (its digest checked as it goes); `None` when
    /// there is none, or when it was corrupt (it is removed then).
    pub fn get(&self, key: &str, layout: &Layout) -> Option<Entry> {
        let dir = self.entry_dir(key);
        let entry: Entry = serde_json::from_slice(&fs::read(dir.join("meta.json")).ok()?).ok()?;
        let digest: Digest = entry.digest.parse().ok()?;
        // Linked when on the same filesystem (checked by reading it), else copied
        // (checked while copied): a corrupt entry is never served.
        let blob = dir.join("blob");
        let served = match layout.link_verified(&blob, &digest, entry.size, false) {
            Ok(true) => Ok(()),
            Ok(false) => File::open(&blob).map_err(|_| ()).and_then(|mut f| {
                layout
                    .put_blob(&mut f, Some((&digest, entry.size)))
                    .map(|_| ())
                    .map_err(|_| ())
            }),
            Err(_) => Err(()),
        };
        match served {
            Ok(()) => {
                // Used now: the eviction order.
                let _ = File::options()
                    .write(true)
                    .open(dir.join("meta.json"))
                    .and_then(|f| f.set_modified(std::time::SystemTime::now()));
                Some(entry)
            }
            Err(()) => {
                let _ = fs::remove_dir_all(&dir);
                None
            }
        }
    }

    /// Stores blob `blob` (a layout's) as entry `key`.
    pub fn put(&self, key: &str, blob: &Path, entry: &Entry) -> Result<(), ImageError> {
        let temp = tempfile::Builder::new()
            .prefix("entry-")
            .tempdir_in(self.dir.join("tmp"))
            .map_err(io_err(&self.dir))?;
        fs::copy(blob, temp.path().join("blob")).map_err(io_err(blob))?;
        fs::write(
            temp.path().join("meta.json"),
            serde_json::to_vec(entry).expect("json"),
        )
        .map_err(io_err(temp.path()))?;
        let kept = temp.keep();
        if fs::rename(&kept, self.entry_dir(key)).is_err() {
            let _ = fs::remove_dir_all(&kept); // another build stored it first
        }
        Ok(())
    }

    /// Saves the file index (under the cache's lock), then evicts past the size limit.
    pub fn save(&self) -> Result<PruneReport, ImageError> {
        let _lock = self.lock()?;
        let bytes = serde_json::to_vec(&*self.files.lock().expect("unpoisoned")).expect("json");
        berth_fs::write_atomic(
            &self.dir.join("files.json"),
            |f| io::Write::write_all(f, &bytes),
            0o600,
        )?;
        self.evict(self.max_size)
    }

    fn lock(&self) -> Result<File, ImageError> {
        let file = File::create(self.dir.join("lock")).map_err(io_err(&self.dir))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io_err(&self.dir)(e.into()))?;
        Ok(file)
    }

    /// Removes least recently used entries until the cache holds at most `max` bytes.
    pub fn evict(&self, max: u64) -> Result<PruneReport, ImageError> {
        let mut entries = Vec::new();
        for e in fs::read_dir(self.dir.join("layers"))
            .map_err(io_err(&self.dir))?
            .flatten()
        {
            let size = fs::metadata(e.path().join("blob"))
                .map(|m| m.len())
                .unwrap_or(0);
            let used = fs::metadata(e.path().join("meta.json"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            entries.push((used, size, e.path()));
        }
        entries.sort();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        let mut report = PruneReport {
            removed: 0,
            freed: 0,
            kept: 0,
            bytes: 0,
        };
        for (_, size, path) in entries {
            if total > max {
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
                total -= size;
                report.removed += 1;
                report.freed += size;
            } else {
                report.kept += 1;
            }
        }
        report.bytes = total;
        Ok(report)
    }

    /// `berth image cache prune`: evicts to `max` under the lock.
    pub fn prune(&self, max: u64) -> Result<PruneReport, ImageError> {
        let _lock = self.lock()?;
        self.evict(max)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneReport {
    pub removed: usize,
    pub freed: u64,
    pub kept: usize,
    pub bytes: u64,
}
