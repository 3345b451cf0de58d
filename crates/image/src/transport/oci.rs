//! `oci:DIR[:TAG]` and `oci-archive:FILE[:TAG]`: an OCI image layout in a directory or
//! in a tar. Both are read through one source over a blob store; a directory is
//! written blob by blob in parallel, an archive member by member.

use super::tar_index::TarIndex;
use super::tar_out::{persist, TarOut};
use crate::copy::{engine::digest, Dest, Role, Source, Top};
use crate::digest::{Digest, VerifyingReader};
use crate::error::ImageError;
use crate::layout::{self, ref_name, Layout};
use crate::manifest::{self, MAX_MANIFEST};
use berth_format::archive::OCI_INDEX_FILE;
use oci_spec::image::{Descriptor, ImageIndex, ImageIndexBuilder};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Where an OCI layout's blobs and index are.
pub(crate) trait BlobStore: Sync + Send {
    fn name(&self) -> String;
    fn index(&self) -> Result<ImageIndex, ImageError>;
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError>;
    /// The file the blob is, when it is one.
    fn file(&self, _digest: &Digest) -> Option<PathBuf> {
        None
    }
}

impl BlobStore for Layout {
    fn name(&self) -> String {
        format!("oci:{}", self.dir().display())
    }
    fn index(&self) -> Result<ImageIndex, ImageError> {
        Ok(Layout::index(self)?)
    }
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        Ok(Box::new(self.open_blob(digest, None)?))
    }
    fn file(&self, digest: &Digest) -> Option<PathBuf> {
        Some(self.blob_path(digest))
    }
}

impl BlobStore for TarIndex {
    fn name(&self) -> String {
        format!("oci-archive:{}", self.path().display())
    }
    fn index(&self) -> Result<ImageIndex, ImageError> {
        let bytes = self.read(OCI_INDEX_FILE, MAX_MANIFEST)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| ImageError::format(format!("{}: index.json", self.name()), e.to_string()))
    }
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        Ok(Box::new(
            self.member(&format!("blobs/sha256/{}", digest.hex()))?,
        ))
    }
}

/// An image in an OCI layout or archive.
pub struct OciSource {
    store: Box<dyn BlobStore>,
    tag: Option<String>,
    /// Every blob was hashed as this process wrote it (`built_layout`).
    checked: bool,
}

impl OciSource {
    pub fn layout(dir: &Path, tag: Option<String>) -> Result<OciSource, ImageError> {
        Ok(OciSource {
            store: Box::new(Layout::open(dir)?),
            tag,
            checked: false,
        })
    }

    /// The layout an image build has just written, each blob hashed as it was
    /// written: a destination on the same filesystem links its blobs unread.
    pub fn built_layout(dir: &Path, tag: Option<String>) -> Result<OciSource, ImageError> {
        Ok(OciSource {
            checked: true,
            ..OciSource::layout(dir, tag)?
        })
    }

    pub fn archive(file: &Path, tag: Option<String>) -> Result<OciSource, ImageError> {
        let index = TarIndex::open(file)?;
        if !index.has("oci-layout") {
            return Err(ImageError::format(
                file.display().to_string(),
                "not an oci-archive: no oci-layout member",
            ));
        }
        Ok(OciSource {
            store: Box::new(index),
            tag,
            checked: false,
        })
    }

    /// The index entry the tag names; without a tag, the one entry there is.
    fn entry(&self) -> Result<Descriptor, ImageError> {
        let index = self.store.index()?;
        let entries = index.manifests();
        let found = match &self.tag {
            Some(tag) => entries.iter().find(|d| ref_name(d) == Some(tag.as_str())),
            None if entries.len() == 1 => entries.first(),
            None => None,
        };
        found.cloned().ok_or_else(|| {
            let names: Vec<&str> = entries.iter().filter_map(ref_name).collect();
            ImageError::format(
                self.store.name(),
                match &self.tag {
                    Some(tag) => format!("no image tagged {tag:?} (tags: {})", names.join(", ")),
                    None => format!(
                        "{} images: name one with :TAG (tags: {})",
                        entries.len(),
                        names.join(", ")
                    ),
                },
            )
        })
    }

    fn read_verified(&self, d: &Descriptor, max: u64) -> Result<Vec<u8>, ImageError> {
        if d.size() > max {
            return Err(ImageError::format(
                format!("{}: {}", self.store.name(), d.digest()),
                format!("{} bytes, more than {max}", d.size()),
            ));
        }
        let mut out = Vec::with_capacity(d.size() as usize);
        self.blob(d)?
            .read_to_end(&mut out)
            .map_err(ImageError::io(self.store.name()))?;
        Ok(out)
    }
}

impl Source for OciSource {
    fn name(&self) -> String {
        match &self.tag {
            Some(tag) => format!("{}:{tag}", self.store.name()),
            None => self.store.name(),
        }
    }

    fn top(&self) -> Result<Top, ImageError> {
        let entry = self.entry()?;
        let bytes = self.read_verified(&entry, MAX_MANIFEST)?;
        Ok(Top::new(bytes, Some(entry.media_type().to_string())))
    }

    fn manifest(&self, d: &Descriptor) -> Result<Vec<u8>, ImageError> {
        self.read_verified(d, MAX_MANIFEST)
    }

    fn blob(&self, d: &Descriptor) -> Result<Box<dyn Read + Send + '_>, ImageError> {
        let digest = digest(d)?;
        Ok(Box::new(VerifyingReader::new(
            self.store.open(&digest)?,
            digest,
            Some(d.size()),
        )))
    }

    fn parallelism(&self) -> usize {
        4
    }

    fn blob_file(&self, d: &Descriptor) -> Option<PathBuf> {
        self.store.file(&digest(d).ok()?)
    }

    fn blob_files_checked(&self) -> bool {
        self.checked
    }
}

/// The descriptor `index.json` gets for `top`, named `tag` when there is one.
fn top_descriptor(top: &Top, tag: Option<&str>) -> Descriptor {
    let mut d = layout::descriptor(
        top.media_type.as_str().into(),
        &top.digest,
        top.bytes.len() as u64,
    );
    if let Some(tag) = tag {
        d.set_annotations(Some(
            [(layout::REF_NAME.to_string(), tag.to_string())].into(),
        ));
    }
    d
}

/// Writes into an OCI layout directory (created when absent).
pub struct LayoutDest {
    layout: Layout,
    tag: Option<String>,
}

impl LayoutDest {
    pub fn new(dir: &Path, tag: Option<String>) -> Result<LayoutDest, ImageError> {
        let layout = if dir.join("oci-layout").exists() {
            Layout::open(dir)?
        } else {
            Layout::create(dir)?
        };
        Ok(LayoutDest { layout, tag })
    }
}

impl Dest for LayoutDest {
    fn name(&self) -> String {
        format!("oci:{}", self.layout.dir().display())
    }
    fn has_blob(&self, d: &Descriptor) -> Result<bool, ImageError> {
        Ok(self.layout.has_blob(&digest(d)?, Some(d.size())))
    }
    fn put_blob(
        &self,
        d: &Descriptor,
        _: &Role,
        content: &mut (dyn Read + Send),
        _: Option<&(String, String)>,
    ) -> Result<(), ImageError> {
        // The source's reader checks the digest as it reads: hashed once, there.
        self.layout.put_verified(content, &digest(d)?, d.size())?;
        Ok(())
    }
    fn put_manifest(&self, bytes: &[u8], _: &str) -> Result<(), ImageError> {
        self.layout.put_bytes(bytes)?;
        Ok(())
    }
    fn parallelism(&self) -> usize {
        8
    }
    fn oci_only(&self) -> bool {
        true
    }
    fn link_blob(&self, d: &Descriptor, file: &Path, checked: bool) -> Result<bool, ImageError> {
        Ok(self
            .layout
            .link_verified(file, &digest(d)?, d.size(), checked)?)
    }
    fn commit(self: Box<Self>, top: &Top) -> Result<Digest, ImageError> {
        let d = top_descriptor(top, self.tag.as_deref());
        match &self.tag {
            Some(tag) => self.layout.tag(tag, d)?,
            None => {
                let mut index = self.layout.index()?;
                let mut manifests = index.manifests().clone();
                if !manifests.iter().any(|m| m == &d) {
                    manifests.push(d);
                }
                index.set_manifests(manifests);
                self.layout.write_index(&index)?;
            }
        }
        Ok(top.digest.clone())
    }
}

/// Writes an oci-archive: members in the order they come, the archive renamed into
/// place at commit.
pub struct OciArchiveDest {
    file: PathBuf,
    tag: Option<String>,
    out: Mutex<TarOut>,
}

impl OciArchiveDest {
    pub fn new(file: &Path, tag: Option<String>) -> Result<OciArchiveDest, ImageError> {
        let mut out = TarOut::create(file)?;
        out.add_bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        Ok(OciArchiveDest {
            file: file.to_path_buf(),
            tag,
            out: Mutex::new(out),
        })
    }
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

impl Dest for OciArchiveDest {
    fn name(&self) -> String {
        format!("oci-archive:{}", self.file.display())
    }
    fn has_blob(&self, d: &Descriptor) -> Result<bool, ImageError> {
        Ok(self
            .out
            .lock()
            .expect("unpoisoned")
            .has(&blob_name(&digest(d)?)))
    }
    fn put_blob(
        &self,
        d: &Descriptor,
        _: &Role,
        content: &mut (dyn Read + Send),
        _: Option<&(String, String)>,
    ) -> Result<(), ImageError> {
        let name = blob_name(&digest(d)?);
        self.out
            .lock()
            .expect("unpoisoned")
            .add(&name, d.size(), content)
    }
    fn put_manifest(&self, bytes: &[u8], _: &str) -> Result<(), ImageError> {
        let name = blob_name(&Digest::of(bytes));
        let mut out = self.out.lock().expect("unpoisoned");
        if !out.has(&name) {
            out.add_bytes(&name, bytes)?;
        }
        Ok(())
    }
    fn oci_only(&self) -> bool {
        true
    }
    fn commit(self: Box<Self>, top: &Top) -> Result<Digest, ImageError> {
        let index = ImageIndexBuilder::default()
            .schema_version(2u32)
            .media_type(manifest::OCI_INDEX)
            .manifests(vec![top_descriptor(top, self.tag.as_deref())])
            .build()
            .map_err(|e| ImageError::format(self.name(), e.to_string()))?;
        let bytes = serde_json::to_vec(&index).expect("an index serialises");
        let mut out = self.out.into_inner().expect("unpoisoned");
        out.add_bytes(OCI_INDEX_FILE, &bytes)?;
        persist(out.finish()?)?;
        Ok(top.digest.clone())
    }
}
