//! A layer's tar, reproducibly: entries in the order given (sorted by the caller),
//! numeric ownership as in the rootfs and no user or group names, mtimes clamped to
//! the epoch, hard links within the layer kept as links, xattrs as PAX records
//! (`xattrs.rs` says which) — the same bytes on any machine (compressed by
//! berth-compress, whose output does not depend on the thread count).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Where an entry's content and metadata come from, and its name in the layer.
pub struct Item {
    pub source: PathBuf,
    pub name: PathBuf,
}

fn header(kind: tar::EntryType, m: &fs::Metadata, epoch: i64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(m.mode() & 0o7777);
    h.set_uid(m.uid() as u64);
    h.set_gid(m.gid() as u64);
    h.set_mtime(m.mtime().clamp(0, epoch.max(0)) as u64);
    h.set_size(0);
    h
}

/// Writes `items` as a tar to `out`; returns `out`.
pub fn write<W: Write>(items: &[Item], epoch: i64, out: W) -> io::Result<W> {
    let mut b = tar::Builder::new(out);
    let mut seen: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for item in items {
        let m = fs::symlink_metadata(&item.source)?;
        let t = m.file_type();
        let name = &item.name;
        let links_to_earlier =
            t.is_file() && m.nlink() > 1 && seen.contains_key(&(m.dev(), m.ino()));
        if !links_to_earlier {
            let xattrs = super::xattrs::read(&item.source)?;
            let records = super::xattrs::pax_records(&xattrs);
            b.append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), *v)))?;
        }
        if t.is_dir() {
            let mut h = header(tar::EntryType::Directory, &m, epoch);
            b.append_data(&mut h, name, io::empty())?;
        } else if t.is_symlink() {
            let mut h = header(tar::EntryType::Symlink, &m, epoch);
            b.append_link(&mut h, name, fs::read_link(&item.source)?)?;
        } else if t.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = seen.get(&(m.dev(), m.ino())) {
                    let mut h = header(tar::EntryType::Link, &m, epoch);
                    b.append_link(&mut h, name, first)?;
                    continue;
                }
                seen.insert((m.dev(), m.ino()), name.clone());
            }
            let mut h = header(tar::EntryType::Regular, &m, epoch);
            h.set_size(m.len());
            // A file that changes size while read would make a corrupt tar: exactly
            // what the header says is taken, and less is an error.
            b.append_data(&mut h, name, exact(File::open(&item.source)?, m.len()))?;
        } else if t.is_fifo() || t.is_char_device() || t.is_block_device() {
            let kind = match () {
                _ if t.is_fifo() => tar::EntryType::Fifo,
                _ if t.is_char_device() => tar::EntryType::Char,
                _ => tar::EntryType::Block,
            };
            let mut h = header(kind, &m, epoch);
            let rdev = m.rdev();
            h.set_device_major(rustix::fs::major(rdev))?;
            h.set_device_minor(rustix::fs::minor(rdev))?;
            b.append_data(&mut h, name, io::empty())?;
        }
        // Sockets are not kept (as tar does).
    }
    b.into_inner()
}

/// Exactly `len` bytes of `inner` (at most that many, and an error if fewer): a
/// file that changes size while it is archived must not make a corrupt tar.
pub fn exact<R: io::Read>(inner: R, len: u64) -> Exact<io::Take<R>> {
    Exact {
        inner: inner.take(len),
        left: len,
    }
}

pub struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: io::Read> io::Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The items of a host `SRC:DST` pair: SRC (a file, or a directory with its
/// content) named DST in the layer.
pub fn host_items(src: &Path, dst: &Path) -> io::Result<Vec<Item>> {
    let m = fs::symlink_metadata(src)?;
    let mut items = vec![Item {
        source: src.to_path_buf(),
        name: dst.to_path_buf(),
    }];
    if m.is_dir() {
        for rel in super::select::walk(src)? {
            items.push(Item {
                source: src.join(&rel),
                name: dst.join(&rel),
            });
        }
    }
    Ok(items)
}
