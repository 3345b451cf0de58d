//! The OCI distribution protocol for berth's build host: a registry as a source and
//! a destination of the image crate's copy engine (`docker://`), with auth, retries,
//! resumed blobs and chunked uploads (`client`, `pull`, `push`). The device binaries
//! do not link this crate.
//!
//! Built on ureq (blocking HTTP with rustls) rather than oci-client: see
//! docs/registry.md for why.

pub mod challenge;
pub mod client;
pub mod creds;
pub mod package;
pub mod parts;
pub mod pull;
pub mod push;
pub mod referrers;
pub mod rollout;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;

pub use client::{Options, RegistryError};
pub use creds::Credentials;
pub use pull::RegistrySource;
pub use push::RegistryDest;

use berth_image::copy::{Dest, Source};
use berth_image::transport::{local_dest, local_source};
use berth_image::{ImageError, ImageRef};

/// A source for any reference, registries included.
pub fn source(r: &ImageRef, options: &Options) -> Result<Box<dyn Source>, ImageError> {
    match r {
        ImageRef::Registry(reg) => Ok(Box::new(RegistrySource::new(reg.clone(), options))),
        other => Ok(local_source(other)?.expect("a local reference")),
    }
}

/// A destination for any reference, registries included.
pub fn dest(r: &ImageRef, options: &Options) -> Result<Box<dyn Dest>, ImageError> {
    match r {
        ImageRef::Registry(reg) => Ok(Box::new(RegistryDest::new(reg.clone(), options))),
        other => Ok(local_dest(other)?.expect("a local reference")),
    }
}
