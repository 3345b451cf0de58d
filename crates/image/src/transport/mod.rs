//! The local transports: OCI layouts and archives, docker-archives. The registry
//! transport (`docker://`) is in the registry crate and plugs into the same traits.

mod docker_archive;
pub mod docker_archive_stream;
mod oci;
mod tar_index;
pub(crate) mod tar_out;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_stream;

pub use docker_archive::{synthesised_manifest, DockerArchiveDest, DockerArchiveSource};
pub use oci::{LayoutDest, OciArchiveDest, OciSource};

use crate::copy::{Dest, Source};
use crate::error::ImageError;
use crate::reference::ImageRef;

/// A source for a local reference; `None` for `docker://` (the registry crate's).
pub fn local_source(r: &ImageRef) -> Result<Option<Box<dyn Source>>, ImageError> {
    Ok(Some(match r {
        ImageRef::Registry(_) => return Ok(None),
        ImageRef::OciLayout { dir, tag } => Box::new(OciSource::layout(dir, tag.clone())?),
        ImageRef::OciArchive { file, tag } => Box::new(OciSource::archive(file, tag.clone())?),
        ImageRef::DockerArchive { file, name } => {
            Box::new(DockerArchiveSource::open(file, name.as_ref())?)
        }
    }))
}

/// A destination for a local reference; `None` for `docker://`.
pub fn local_dest(r: &ImageRef) -> Result<Option<Box<dyn Dest>>, ImageError> {
    Ok(Some(match r {
        ImageRef::Registry(_) => return Ok(None),
        ImageRef::OciLayout { dir, tag } => Box::new(LayoutDest::new(dir, tag.clone())?),
        ImageRef::OciArchive { file, tag } => Box::new(OciArchiveDest::new(file, tag.clone())?),
        ImageRef::DockerArchive { file, name } => {
            Box::new(DockerArchiveDest::new(file, name.clone())?)
        }
    }))
}
