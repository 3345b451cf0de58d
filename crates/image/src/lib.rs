//! OCI images without a network: the format core of berth's image commands (copy,
//! inspect, unpack, build). Content is hashed while it streams and checked against
//! the digest and size its descriptor declares (`digest`); images are kept in OCI
//! image layouts (`layout`); references use skopeo's transport syntax and Isar's
//! fetcher form (`reference`); an index's manifest is chosen per platform as
//! containerd chooses it (`platform`). The registry protocol lives in a crate of its own; the
//! device binaries link neither.
//!
//! Issue 11 starts here: archives (docker-archive, oci-archive), layers and unpack
//! come next, on these two pieces.

pub mod digest;
pub mod layout;
pub mod platform;
pub mod reference;

pub use digest::{Digest, VerifyError, VerifyingReader};
pub use layout::{Layout, LayoutError};
pub use platform::Platform;
pub use reference::{BadReference, ImageRef, RegistryRef};
