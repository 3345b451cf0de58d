//! Writing an archive member by member into a temporary file beside its destination,
//! renamed into place only when whole: a failed copy leaves no archive. A member of
//! unknown size (a layer being decompressed) gets its header written after its
//! content, by seeking back.

use crate::error::ImageError;
use berth_fs::AtomicFile;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub(crate) struct TarOut {
    dest: PathBuf,
    out: BufWriter<AtomicFile>,
    names: HashSet<String>,
}

pub(crate) fn header(name: &str, size: u64, kind: tar::EntryType) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(size);
    h.set_mode(0o444);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(kind);
    h.set_cksum();
    Ok(h)
}

impl TarOut {
    /// A scratch file in `dest`'s directory (removed when dropped).
    pub fn temp_beside(dest: &Path) -> Result<tempfile::NamedTempFile, ImageError> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        tempfile::Builder::new()
            .prefix(".berth-")
            .tempfile_in(dir)
            .map_err(ImageError::io(dir))
    }

    pub fn create(dest: &Path) -> Result<TarOut, ImageError> {
        let temp = AtomicFile::create(dest)?;
        Ok(TarOut {
            dest: dest.to_path_buf(),
            out: BufWriter::with_capacity(1 << 20, temp),
            names: HashSet::new(),
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    fn err(&self) -> impl FnOnce(io::Error) -> ImageError {
        ImageError::io(self.dest.clone())
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rest = (512 - size % 512) % 512;
        self.out.write_all(&[0u8; 512][..rest as usize])
    }

    /// A member of `size` bytes from `content`, which must give exactly that many.
    pub fn add(&mut self, name: &str, size: u64, content: &mut dyn Read) -> Result<(), ImageError> {
        let h = header(name, size, tar::EntryType::Regular).map_err(self.err())?;
        self.out.write_all(h.as_bytes()).map_err(self.err())?;
        let copied = io::copy(&mut content.take(size), &mut self.out).map_err(self.err())?;
        // One byte more would be a size the descriptor did not declare.
        let mut extra = [0u8; 1];
        if copied != size || content.read(&mut extra).map_err(self.err())? != 0 {
            return Err(ImageError::format(
                name,
                format!("content is not the {size} bytes declared"),
            ));
        }
        self.pad(size).map_err(self.err())?;
        self.names.insert(name.to_string());
        Ok(())
    }

    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<(), ImageError> {
        self.add(name, bytes.len() as u64, &mut &bytes[..])
    }

    /// A member whose size is known only once `content` ends; returns the size.
    pub fn add_streamed(&mut self, name: &str, content: &mut dyn Read) -> Result<u64, ImageError> {
        let start = self.out.stream_position().map_err(self.err())?;
        self.out.write_all(&[0u8; 512]).map_err(self.err())?;
        let size = io::copy(content, &mut self.out).map_err(self.err())?;
        self.pad(size).map_err(self.err())?;
        let end = self.out.stream_position().map_err(self.err())?;
        let h = header(name, size, tar::EntryType::Regular).map_err(self.err())?;
        self.out.seek(SeekFrom::Start(start)).map_err(self.err())?;
        self.out.write_all(h.as_bytes()).map_err(self.err())?;
        self.out.seek(SeekFrom::Start(end)).map_err(self.err())?;
        self.names.insert(name.to_string());
        Ok(size)
    }

    /// A member copied from `file` (`size` bytes from its start), in the kernel.
    pub fn add_file(&mut self, name: &str, size: u64, file: &mut File) -> Result<(), ImageError> {
        let h = header(name, size, tar::EntryType::Regular).map_err(self.err())?;
        self.out.write_all(h.as_bytes()).map_err(self.err())?;
        self.out.flush().map_err(self.err())?;
        file.rewind().map_err(self.err())?;
        // File to File: std copies with copy_file_range.
        let copied = io::copy(file, self.out.get_mut().file()).map_err(self.err())?;
        if copied != size {
            return Err(ImageError::format(
                name,
                format!("spooled {copied} bytes, {size} expected"),
            ));
        }
        self.pad(size).map_err(self.err())?;
        self.names.insert(name.to_string());
        Ok(())
    }

    /// Ends the archive; returns the file, not yet in place (`persist` puts it there).
    pub fn finish(mut self) -> Result<AtomicFile, ImageError> {
        self.out.write_all(&[0u8; 1024]).map_err(self.err())?;
        let dest = self.dest.clone();
        self.out
            .into_inner()
            .map_err(|e| ImageError::io(dest)(e.into_error()))
    }
}

/// Puts a finished archive in place: synced, renamed, directory synced; 0644, as
/// skopeo leaves its archives.
pub(crate) fn persist(file: AtomicFile) -> Result<(), ImageError> {
    Ok(file.commit(0o644)?)
}
