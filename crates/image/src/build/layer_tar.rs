//! A layer's tar, reproducibly: entries in the order given (sorted by the caller),
//! numeric ownership as in the rootfs and no user or group names, mtimes clamped to
//! the epoch, hard links within the layer kept as links, xattrs as PAX records
//! (`xattrs.rs` says which) — the same bytes on any machine (compressed by
//! berth-compress, whose output does not depend on the thread count).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
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
    let mut buf = vec![0; COPY_CHUNK];
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
            append_file(&mut b, &mut h, name, File::open(&item.source)?, &mut buf)?;
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

/// The size of the reads a file's content is copied in. tar's own copy reads and
/// writes 8 KiB at a time: 200,000 reads, hash updates and encoder calls for a
/// 1.7 GB rootfs (measured: bench/build.sh's zstd build 5.03 -> 4.83 s on 2 CPUs).
pub const COPY_CHUNK: usize = 1 << 20;

/// A regular file's entry: `h` (its size set) named `name`, then the file's content
/// copied through `buf` (`COPY_CHUNK` long, reused from file to file).
pub fn append_file<W: Write>(
    b: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &Path,
    file: impl Read,
    buf: &mut [u8],
) -> io::Result<()> {
    let len = h.size()?;
    // The header (and a long name's records) by tar, which copies no content.
    b.append_data(h, name, io::empty())?;
    append_content(b.get_mut(), file, len, buf)
}

/// A regular file's content after its header: exactly `len` bytes of `file` (a file
/// that changes size while it is archived must not make a corrupt tar: more is not
/// read, fewer is an error), then the zeros to the next 512-byte block.
fn append_content<W: Write, R: Read>(
    out: &mut W,
    mut file: R,
    len: u64,
    buf: &mut [u8],
) -> io::Result<()> {
    let mut left = len;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was read",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        left -= n as u64;
    }
    let pad = (512 - len % 512) % 512;
    out.write_all(&[0; 512][..pad as usize])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn content(data: &[u8], len: u64, chunk: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        append_content(&mut out, data, len, &mut vec![0; chunk])?;
        Ok(out)
    }

    #[test]
    fn a_file_is_copied_whole_in_chunks_and_padded_to_its_block() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        for chunk in [1, 7, 512, 4096, 1 << 20] {
            let out = content(&data, data.len() as u64, chunk).unwrap();
            assert_eq!(out.len(), 5120, "chunk {chunk}");
            assert!(out[..5000] == data[..], "chunk {chunk}");
            assert!(out[5000..].iter().all(|&b| b == 0), "chunk {chunk}");
        }
        assert!(content(&[], 0, 16).unwrap().is_empty());
        assert_eq!(content(&[1; 512], 512, 16).unwrap().len(), 512);
    }

    #[test]
    fn a_file_that_grew_gives_what_its_header_says_and_one_that_shrank_fails() {
        let data = vec![9u8; 3000];
        let out = content(&data, 1000, 256).unwrap();
        assert_eq!(out.len(), 1024);
        assert!(out[..1000].iter().all(|&b| b == 9) && out[1000..].iter().all(|&b| b == 0));
        let e = content(&data, 4000, 256).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert!(e.to_string().contains("shrank"), "{e}");
    }
}
