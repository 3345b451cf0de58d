//! A package's head: its manifest, signature verdict and the payload digest its
//! checksums file lists, read without reading the payload (which follows them in
//! every package berth and Digi's tools write). What `berthd` needs to decide whether
//! a pre-installed package is the one already installed, at the cost of a few KiB.

use super::{read_package_into, PayloadSink, ReadError, ReadOptions, SinkError};
use crate::manifest::Manifest;
use std::io::{Read, Write};

/// What comes before a package's payload.
#[derive(Debug, Clone)]
pub struct PackageHead {
    pub manifest: Manifest,
    /// The payload's file name under `payload/`.
    pub payload_name: String,
    pub payload_size: u64,
    /// `sha256:<hex>`, as the checksums file lists it (checked when the payload is
    /// read, not here).
    pub payload_digest: String,
}

/// Reads the head of a package: checksums, signature (against `opts`' trusted keys)
/// and manifest must come before the payload, as for an install.
pub fn read_head<R: Read + Send + 'static>(
    input: R,
    opts: &ReadOptions,
) -> Result<PackageHead, ReadError> {
    let mut sink = HeadSink(None);
    match read_package_into(input, opts, Some(&mut sink)) {
        Err(ReadError::Refused(stop)) if stop.is::<Stop>() => {}
        Err(ReadError::Refused(why)) => {
            return Err(match why.downcast::<ReadError>() {
                Ok(e) => *e,
                Err(other) => ReadError::Refused(other),
            })
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    sink.0.ok_or_else(|| {
        ReadError::Invalid(super::Problems(vec![
            "the package has no payload".to_string()
        ]))
    })
}

struct HeadSink(Option<PackageHead>);

/// The payload began: the head is read, stop here.
#[derive(Debug, thiserror::Error)]
#[error("the head is read")]
struct Stop;

impl PayloadSink for HeadSink {
    fn open(
        &mut self,
        manifest: &Manifest,
        name: &str,
        size: u64,
        listed_digest: Option<&str>,
    ) -> Result<Box<dyn Write>, SinkError> {
        let Some(digest) = listed_digest else {
            return Err(Box::new(ReadError::Invalid(super::Problems(vec![
                format!("{}: lists no digest for payload/{name}", super::SUMS_PATH),
            ]))));
        };
        self.0 = Some(PackageHead {
            manifest: manifest.clone(),
            payload_name: name.to_string(),
            payload_size: size,
            payload_digest: digest.to_string(),
        });
        Err(Box::new(Stop))
    }
}
