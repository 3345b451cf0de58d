//! The berth container package format (DCP-compatible): manifest model and
//! validation, the one-pass writer, the streaming reader and verifier, signatures.
//!
//! This crate knows nothing of HTTP, registries or runtimes; the build host and the
//! device both link it.

pub mod compress;
pub mod delta;
pub mod limits;
pub mod manifest;
pub mod oci_bundle;
pub mod payload;
pub mod preinstalled;
pub mod reader;
pub mod sign;
pub mod writer;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use compress::Compression;
pub use limits::Limits;
pub use manifest::{Manifest, ManifestIssues, RuntimeKind, Stage};
pub use reader::{
    read_head, read_package, read_package_into, PackageHead, PackageReport, PayloadSink, ReadError,
    ReadOptions, SinkError,
};
pub use writer::{pack, pack_stream, PackError, PackReport, PackRequest};
