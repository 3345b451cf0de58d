//! berth's format core: what the build host and the device both read and write the
//! same way, written once (issue 22). Small on purpose: berthd links it.
//!
//! - `digest`: `sha256:<64 lower-case hex>`, the one rule for content digests;
//! - `media_type`: the OCI and Docker media types berth reads and writes;
//! - `epoch`: `SOURCE_DATE_EPOCH`, read one way by every command that honours it.

pub mod digest;
pub mod epoch;
pub mod media_type;

pub use digest::{BadDigest, Digest};
