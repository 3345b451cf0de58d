//! Device bundles from OCI images, RDK BundleGen's job done in process: BundleGen's
//! platform templates and app metadata read unchanged and checked against its own
//! schemas (`platform`, `metadata`, `schema`), the image unpacked by berth-image,
//! config.json processed stage by stage as BundleGen processes it (`process`),
//! libraries matched between host and image by reading ELF files (`libs`), and the
//! bundle written with its tarball or ipk (`output`, `generate`). Where BundleGen
//! has a bug, berth does the right thing; docs/bundle.md lists each difference.

pub mod error;
pub mod generate;
pub mod libs;
pub mod metadata;
pub mod output;
pub mod process;
pub mod schema;
pub mod size;
pub mod template;

pub use error::BundleError;
pub use generate::{generate, GenerateReport, GenerateRequest};
