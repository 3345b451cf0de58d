//! OCI images without a network: the format core of berth's image commands (copy,
//! inspect, unpack, build). Content is hashed while it streams and checked against
//! the digest and size its descriptor declares (`digest`); images are kept in OCI
//! image layouts (`layout`); references use skopeo's transport syntax and Isar's
//! fetcher form (`reference`); an index's manifest is chosen per platform as
//! containerd chooses it (`platform`). The registry protocol lives in a crate of its own; the
//! device binaries link neither.
//!
//! Copies go through one engine (`copy`) that every transport plugs into
//! (`transport` for the local ones; the registry crate adds `docker://`); `unpack`
//! applies an image's layers to a directory with every path kept inside it.

pub mod artifact;
pub mod build;
pub mod copy;
pub mod digest;
pub mod error;
pub mod layer;
pub mod layer_format;
pub mod layout;
pub mod lxc_bundle;
pub mod manifest;
pub mod pipe;
pub mod platform;
pub mod reference;
pub mod tar_split;
pub mod transport;
pub mod unpack;

pub use copy::{copy, CopyOptions, CopyReport, Dest, Source, Top};
pub use digest::{Digest, VerifyError, VerifyingReader};
pub use error::ImageError;
pub use layout::{Layout, LayoutError};
pub use platform::Platform;
pub use reference::{BadReference, ImageRef, RegistryRef};
