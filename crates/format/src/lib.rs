//! berth's format core: what the build host and the device both read and write the
//! same way, written once (issue 22). Small on purpose: berthd links it.
//!
//! - `arch`: Rust's and Debian's architecture names as Go and OCI write them;
//! - `compression`: a stream's compression told by its magic bytes;
//! - `digest`: `sha256:<64 lower-case hex>`, the one rule for content digests;
//! - `media_type`: the OCI and Docker media types berth reads and writes;
//! - `archive`: a docker-archive's `manifest.json` and an OCI layout's index and
//!   manifests, the model every reader of image archives shares;
//! - `stream`: a bounded channel, a read-ahead stage and a hashing reader;
//! - `epoch`: `SOURCE_DATE_EPOCH`, read one way by every command that honours it.

pub mod arch;
pub mod archive;
pub mod compression;
pub mod digest;
pub mod epoch;
pub mod media_type;
pub mod stream;

pub use digest::{BadDigest, Digest};
