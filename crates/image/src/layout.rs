//! An OCI image layout on disk (`oci-layout`, `index.json`, `blobs/sha256/<hex>`), as
//! skopeo's `oci:` transport and umoci read and write it. Blobs stream in through a
//! digest check into a temporary file beside their final place and are renamed there
//! only once whole and verified, so a layout never holds a partial or wrong blob;
//! `index.json` is replaced atomically. Blobs are checked again as they are read.

use crate::digest::{verify_error, Digest, HashingReader, VerifyError, VerifyingReader};
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// `org.opencontainers.image.ref.name`: a manifest's name (tag) in `index.json`.
pub use berth_format::archive::REF_NAME;
use berth_format::archive::{OCI_INDEX_FILE, OCI_LAYOUT_FILE as LAYOUT_FILE};
const LAYOUT_VERSION: &str = "1.0.0";

#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{path}: {why}")]
    NotALayout { path: PathBuf, why: String },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob {0}")]
    Blob(#[source] VerifyError),
    #[error("{path}: no blob {digest}")]
    MissingBlob { path: PathBuf, digest: Digest },
    #[error("{path}: {what} is over {max} bytes")]
    TooLarge {
        path: PathBuf,
        what: String,
        max: u64,
    },
    #[error("{path}: no image named {name:?} in index.json")]
    NoSuchName { path: PathBuf, name: String },
    #[error(transparent)]
    Fs(#[from] berth_fs::FsError),
}

#[derive(Debug)]
pub struct Layout {
    dir: PathBuf,
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> LayoutError + '_ {
    move |source| match verify_error(&source) {
        Some(_) => {
            let inner = source
                .into_inner()
                .and_then(|e| e.downcast::<VerifyError>().ok())
                .expect("checked above");
            LayoutError::Blob(*inner)
        }
        None => LayoutError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

impl Layout {
    /// Opens the layout at `dir`, creating an empty one (or what it lacks of one)
    /// there.
    pub fn create(dir: &Path) -> Result<Layout, LayoutError> {
        let blobs = dir.join("blobs/sha256");
        fs::create_dir_all(&blobs).map_err(io_at(&blobs))?;
        let layout = Layout {
            dir: dir.to_path_buf(),
        };
        let marker = dir.join(LAYOUT_FILE);
        if !marker.exists() {
            let text = format!("{{\"imageLayoutVersion\":\"{LAYOUT_VERSION}\"}}");
            layout.write_atomic(&marker, text.as_bytes())?;
        }
        if !dir.join(OCI_INDEX_FILE).exists() {
            let empty = ImageIndexBuilder::default()
                .schema_version(2u32)
                .manifests(Vec::<Descriptor>::new())
                .build()
                .expect("an empty index is valid");
            layout.write_index(&empty)?;
        }
        Ok(layout)
    }

    /// Opens an existing layout: `oci-layout` must say version 1.0.0.
    pub fn open(dir: &Path) -> Result<Layout, LayoutError> {
        let marker = dir.join(LAYOUT_FILE);
        let text = fs::read(&marker).map_err(|e| LayoutError::NotALayout {
            path: dir.to_path_buf(),
            why: format!("no readable {LAYOUT_FILE} ({e})"),
        })?;
        let version = serde_json::from_slice::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["imageLayoutVersion"].as_str().map(String::from));
        if version.as_deref() != Some(LAYOUT_VERSION) {
            return Err(LayoutError::NotALayout {
                path: marker,
                why: format!("imageLayoutVersion must be \"{LAYOUT_VERSION}\""),
            });
        }
        Ok(Layout {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where blob `digest` is (a digest is only ever well-formed hex: no path tricks).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the layout has blob `digest` (of `size` bytes, when given).
    pub fn has_blob(&self, digest: &Digest, size: Option<u64>) -> bool {
        fs::metadata(self.blob_path(digest))
            .is_ok_and(|m| m.is_file() && size.is_none_or(|s| s == m.len()))
    }

    /// Streams a blob in. With `expected` (digest and size, a descriptor's) the
    /// content must match it; without, its digest is learnt. Returns digest and size.
    /// A blob already there is kept; on any error nothing is left.
    pub fn put_blob(
        &self,
        input: &mut dyn Read,
        expected: Option<(&Digest, u64)>,
    ) -> Result<(Digest, u64), LayoutError> {
        match expected {
            Some((digest, size)) => {
                let mut checked = VerifyingReader::new(input, digest.clone(), Some(size));
                self.put_verified(&mut checked, digest, size)?;
                Ok((digest.clone(), size))
            }
            None => {
                let mut hashing = HashingReader::new(input);
                let (temp, size) = self.write_temp(&mut hashing)?;
                let digest = hashing.digest();
                self.place(temp, &digest, size)?;
                Ok((digest, size))
            }
        }
    }

    /// Streams in blob `digest` from `input`, a reader that checks the content itself
    /// and fails at its end if it is not `digest` (a `VerifyingReader`, a copy
    /// source's blob): the bytes are hashed once, there. The blob is placed only if
    /// `input` ended without error and gave `size` bytes.
    pub fn put_verified(
        &self,
        input: &mut dyn Read,
        digest: &Digest,
        size: u64,
    ) -> Result<(), LayoutError> {
        let (temp, written) = self.write_temp(input)?;
        if written != size {
            return Err(LayoutError::Blob(VerifyError::TooShort {
                expected: digest.clone(),
                size,
                got: written,
            }));
        }
        self.place(temp, digest, size)
    }

    /// Takes blob `digest` by hard-linking `file` into the layout, once its content is
    /// checked (read and hashed, not copied; only its size when the caller `checked`
    /// it as it wrote it). `false` when it cannot be linked (another filesystem); an
    /// error when the content is not `digest`.
    pub fn link_verified(
        &self,
        file: &Path,
        digest: &Digest,
        size: u64,
        checked: bool,
    ) -> Result<bool, LayoutError> {
        if self.has_blob(digest, Some(size)) {
            return Ok(true);
        }
        if checked {
            let len = fs::metadata(file).map_err(io_at(file))?.len();
            if len != size {
                return Err(LayoutError::Blob(VerifyError::TooShort {
                    expected: digest.clone(),
                    size,
                    got: len,
                }));
            }
        } else {
            let mut checked = VerifyingReader::new(
                File::open(file).map_err(io_at(file))?,
                digest.clone(),
                Some(size),
            );
            io::copy(&mut checked, &mut io::sink()).map_err(io_at(file))?;
        }
        match fs::hard_link(file, self.blob_path(digest)) {
            Ok(()) => {
                sync_dir(&self.dir.join("blobs/sha256"))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(true),
            Err(_) => Ok(false),
        }
    }

    /// A temporary file among the blobs, for a writer that hashes what it writes
    /// (an image build's layer): `place_written` then names it by that digest
    /// without reading it again.
    pub fn blob_temp(&self) -> Result<tempfile::NamedTempFile, LayoutError> {
        let blobs = self.dir.join("blobs/sha256");
        tempfile::NamedTempFile::new_in(&blobs).map_err(io_at(&blobs))
    }

    /// Names `temp` (from `blob_temp`) blob `digest`: the caller hashed its content as
    /// it wrote it, so only its length is checked here.
    pub fn place_written(
        &self,
        temp: tempfile::NamedTempFile,
        digest: &Digest,
        size: u64,
    ) -> Result<(), LayoutError> {
        let len = temp.as_file().metadata().map_err(io_at(temp.path()))?.len();
        if len != size {
            return Err(LayoutError::Blob(VerifyError::TooShort {
                expected: digest.clone(),
                size,
                got: len,
            }));
        }
        self.place(temp, digest, size)
    }

    fn write_temp(
        &self,
        input: &mut dyn Read,
    ) -> Result<(tempfile::NamedTempFile, u64), LayoutError> {
        let blobs = self.dir.join("blobs/sha256");
        let temp = tempfile::NamedTempFile::new_in(&blobs).map_err(io_at(&blobs))?;
        let mut writer = io::BufWriter::with_capacity(256 * 1024, temp);
        let size = io::copy(input, &mut writer).map_err(io_at(&blobs))?;
        let temp = writer
            .into_inner()
            .map_err(|e| io_at(&blobs)(e.into_error()))?;
        Ok((temp, size))
    }

    /// Renames a whole, verified temporary file to blob `digest` (synced first).
    fn place(
        &self,
        temp: tempfile::NamedTempFile,
        digest: &Digest,
        size: u64,
    ) -> Result<(), LayoutError> {
        let place = self.blob_path(digest);
        if self.has_blob(digest, Some(size)) {
            return Ok(()); // the temporary file goes when dropped
        }
        temp.as_file().sync_all().map_err(io_at(&place))?;
        temp.persist(&place).map_err(|e| io_at(&place)(e.error))?;
        sync_dir(&self.dir.join("blobs/sha256"))
    }

    /// Stores `bytes` as a blob (a manifest, a config).
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<(Digest, u64), LayoutError> {
        self.put_blob(&mut &bytes[..], None)
    }

    /// Blob `digest`, checked as it is read (against `size` too, when given).
    pub fn open_blob(
        &self,
        digest: &Digest,
        size: Option<u64>,
    ) -> Result<VerifyingReader<File>, LayoutError> {
        let path = self.blob_path(digest);
        let file = File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LayoutError::MissingBlob {
                path: self.dir.clone(),
                digest: digest.clone(),
            },
            _ => io_at(&path)(e),
        })?;
        Ok(VerifyingReader::new(file, digest.clone(), size))
    }

    /// A small blob's bytes (a manifest, an index, a config), refused past `max`.
    pub fn read_blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>, LayoutError> {
        let path = self.blob_path(digest);
        let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if len > max {
            return Err(LayoutError::TooLarge {
                path,
                what: format!("blob {digest}"),
                max,
            });
        }
        let mut out = Vec::with_capacity(len as usize);
        self.open_blob(digest, None)?
            .read_to_end(&mut out)
            .map_err(io_at(&path))?;
        Ok(out)
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<ImageIndex, LayoutError> {
        let path = self.dir.join(OCI_INDEX_FILE);
        let bytes = fs::read(&path).map_err(io_at(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| LayoutError::NotALayout {
            path,
            why: format!("not an OCI image index: {e}"),
        })
    }

    /// Replaces `index.json` atomically.
    pub fn write_index(&self, index: &ImageIndex) -> Result<(), LayoutError> {
        let bytes = serde_json::to_vec(index).expect("an index serialises");
        self.write_atomic(&self.dir.join(OCI_INDEX_FILE), &bytes)
    }

    /// Names `descriptor` `name` in `index.json`, replacing what had that name.
    pub fn tag(&self, name: &str, descriptor: Descriptor) -> Result<(), LayoutError> {
        let mut index = self.index()?;
        let mut descriptor = descriptor;
        let mut annotations = descriptor.annotations().clone().unwrap_or_default();
        annotations.insert(REF_NAME.into(), name.into());
        descriptor.set_annotations(Some(annotations));
        let mut manifests: Vec<Descriptor> = index
            .manifests()
            .iter()
            .filter(|d| ref_name(d) != Some(name))
            .cloned()
            .collect();
        manifests.push(descriptor);
        index.set_manifests(manifests);
        self.write_index(&index)
    }

    /// The manifest (or index) named `name`.
    pub fn resolve(&self, name: &str) -> Result<Descriptor, LayoutError> {
        self.index()?
            .manifests()
            .iter()
            .find(|d| ref_name(d) == Some(name))
            .cloned()
            .ok_or_else(|| LayoutError::NoSuchName {
                path: self.dir.clone(),
                name: name.into(),
            })
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
        // 0644, as skopeo and umoci leave index.json and oci-layout.
        berth_fs::write_atomic(path, |f| f.write_all(bytes), 0o644)?;
        Ok(())
    }
}

/// The descriptor of content with this digest and size.
pub fn descriptor(
    media_type: oci_spec::image::MediaType,
    digest: &Digest,
    size: u64,
) -> Descriptor {
    oci_spec::image::DescriptorBuilder::default()
        .media_type(media_type)
        .digest(
            digest
                .to_string()
                .parse::<oci_spec::image::Digest>()
                .expect("a well-formed sha256 digest is one for oci-spec too"),
        )
        .size(size)
        .build()
        .expect("media type, digest and size make a descriptor")
}

/// A descriptor's name in an index.
pub fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations()
        .as_ref()
        .and_then(|a| a.get(REF_NAME))
        .map(String::as_str)
}

fn sync_dir(dir: &Path) -> Result<(), LayoutError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(dir))
}

#[cfg(test)]
mod tests;
