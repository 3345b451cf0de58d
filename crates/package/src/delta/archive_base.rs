//! A base that is a tar file on disk: an engine's export of the installed image, or
//! the payload of the package a delta was made from. Its files are indexed by the
//! SHA-256 of their content in one pass; a piece is then read from its offset.

use super::raw::RawTar;
use super::Base;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::sync::Arc;

pub struct ArchiveBase {
    file: Arc<File>,
    /// `sha256:<hex>` → (offset, size) of the content.
    contents: HashMap<String, (u64, u64)>,
}

impl ArchiveBase {
    /// A base over `file` whose contents are already located: `sha256:<hex>` →
    /// (offset, size).
    pub(crate) fn new(file: File, contents: HashMap<String, (u64, u64)>) -> Self {
        ArchiveBase {
            file: Arc::new(file),
            contents,
        }
    }

    /// Indexes the tar in `file` (read from its start): one pass, hashing every
    /// regular file's content.
    pub fn index(mut file: File) -> io::Result<Self> {
        file.seek(SeekFrom::Start(0))?;
        let mut contents = HashMap::new();
        let mut at = 0u64;
        let mut reader = BufReader::with_capacity(256 * 1024, &file);
        let mut walk = RawTar::new(reader.by_ref());
        let mut buf = vec![0u8; 256 * 1024];
        let mut end = Vec::new();
        while let Some(entry) = walk.next_entry(&mut end)? {
            at += entry.header.len() as u64;
            let start = at;
            let mut hasher = Sha256::new();
            let mut content = walk.content(entry.size);
            let mut n = 0u64;
            loop {
                let got = content.read(&mut buf)?;
                if got == 0 {
                    break;
                }
                hasher.update(&buf[..got]);
                n += got as u64;
            }
            if n != entry.size {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("{}: the archive ends inside it", entry.name),
                ));
            }
            at += n + walk.padding(&entry)?.len() as u64;
            if entry.is_file() {
                let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
                contents.insert(digest, (start, entry.size));
            }
        }
        drop(reader);
        Ok(ArchiveBase::new(file, contents))
    }

    /// How many distinct contents it holds.
    pub fn len(&self) -> usize {
        self.contents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.contents.is_empty()
    }

    pub fn holds(&self, digest: &str) -> bool {
        self.contents.contains_key(digest)
    }

    /// The size of the content `digest`, when it holds it.
    pub fn size_of(&self, digest: &str) -> Option<u64> {
        self.contents.get(digest).map(|&(_, size)| size)
    }
}

impl Base for ArchiveBase {
    fn by_content(&self) -> bool {
        true
    }

    fn open(&mut self, digest: &str, size: u64, _path: Option<&str>) -> io::Result<Box<dyn Read>> {
        match self.contents.get(digest) {
            Some(&(offset, len)) if len == size => {
                let mut f = self.file.try_clone()?;
                f.seek(SeekFrom::Start(offset))?;
                Ok(Box::new(BufReader::new(f).take(size)))
            }
            _ => Err(io::Error::new(io::ErrorKind::NotFound, digest.to_string())),
        }
    }
}
