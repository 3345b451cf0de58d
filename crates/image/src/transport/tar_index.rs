//! An archive's members, found once by a scan of its headers: a blob is then read in
//! place (seek and take), with no extraction. A compressed archive (gzip or zstd, as
//! Isar stores docker-archives) is first decompressed into a temporary file.

use crate::error::ImageError;
use crate::layer::Compression;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Members an archive may have at most (a layout has a few per layer).
const MAX_MEMBERS: usize = 100_000;

pub(crate) struct TarIndex {
    path: PathBuf,
    /// The file read: the archive, or its decompressed copy.
    file_path: PathBuf,
    _decompressed: Option<tempfile::TempPath>,
    members: HashMap<String, Member>,
}

#[derive(Clone)]
enum Member {
    File { offset: u64, size: u64 },
    Link(String),
}

impl TarIndex {
    pub fn open(path: &Path) -> Result<TarIndex, ImageError> {
        let io_err = ImageError::io(path);
        let mut file = File::open(path).map_err(io_err)?;
        let mut magic = [0u8; 4];
        let n = file.read(&mut magic).map_err(ImageError::io(path))?;
        file.rewind().map_err(ImageError::io(path))?;
        let (file_path, decompressed) = match Compression::sniff(&magic[..n]) {
            Compression::None => (path.to_path_buf(), None),
            compression => {
                let mut temp = tempfile::NamedTempFile::new().map_err(ImageError::io(path))?;
                io::copy(&mut compression.reader(io::BufReader::new(file)), &mut temp)
                    .map_err(ImageError::io(path))?;
                let temp = temp.into_temp_path();
                (temp.to_path_buf(), Some(temp))
            }
        };
        let mut archive = tar::Archive::new(File::open(&file_path).map_err(ImageError::io(path))?);
        let mut members = HashMap::new();
        let bad = |why: String| ImageError::format(path.display().to_string(), why);
        for entry in archive.entries().map_err(ImageError::io(path))? {
            let entry = entry.map_err(|e| bad(format!("not a tar archive: {e}")))?;
            if members.len() >= MAX_MEMBERS {
                return Err(bad(format!("more than {MAX_MEMBERS} members")));
            }
            let name = entry.path().map_err(|e| bad(format!("member name: {e}")))?;
            let Some(name) = normalise(&name) else {
                continue; // outside the archive's root: never looked up
            };
            let member = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Member::File {
                    offset: entry.raw_file_position(),
                    size: entry.size(),
                },
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .map_err(|e| bad(format!("{name}: link: {e}")))?
                        .unwrap_or_default();
                    let base = match entry.header().entry_type() {
                        tar::EntryType::Symlink => Path::new(&name)
                            .parent()
                            .unwrap_or(Path::new(""))
                            .join(target),
                        _ => target.into_owned(),
                    };
                    match normalise(&base) {
                        Some(t) => Member::Link(t),
                        None => continue,
                    }
                }
                _ => continue,
            };
            members.insert(name, member);
        }
        Ok(TarIndex {
            path: path.to_path_buf(),
            file_path,
            _decompressed: decompressed,
            members,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn find(&self, name: &str) -> Option<(u64, u64)> {
        let mut name = name.to_string();
        for _ in 0..8 {
            match self.members.get(&name)? {
                Member::File { offset, size } => return Some((*offset, *size)),
                Member::Link(target) => name = target.clone(),
            }
        }
        None
    }

    pub fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    pub fn size(&self, name: &str) -> Option<u64> {
        self.find(name).map(|(_, size)| size)
    }

    /// Member `name`'s content.
    pub fn member(&self, name: &str) -> Result<io::Take<File>, ImageError> {
        let (offset, size) = self.find(name).ok_or_else(|| {
            ImageError::format(self.path.display().to_string(), format!("no member {name}"))
        })?;
        let mut file = File::open(&self.file_path).map_err(ImageError::io(&self.path))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(ImageError::io(&self.path))?;
        Ok(file.take(size))
    }

    /// A small member's bytes, refused past `max`.
    pub fn read(&self, name: &str, max: u64) -> Result<Vec<u8>, ImageError> {
        let size = self.size(name).unwrap_or(0);
        if size > max {
            return Err(ImageError::format(
                format!("{}: {name}", self.path.display()),
                format!("{size} bytes, more than {max}"),
            ));
        }
        let mut out = Vec::with_capacity(size as usize);
        self.member(name)?
            .read_to_end(&mut out)
            .map_err(ImageError::io(&self.path))?;
        Ok(out)
    }
}

/// `./a/../b` → `b`; `None` for a name that leaves the root.
fn normalise(path: &Path) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}
