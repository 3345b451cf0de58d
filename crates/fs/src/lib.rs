//! The root-confined filesystem: one policy for every tree berth writes into but does
//! not own, on the build host (`image unpack`, `bundle generate`, `rootfs install`,
//! `--populate-storage`, units, the loader) and on devices (bundles berthd unpacks).
//!
//! - `inside`: names resolved inside a root, symlinks followed as if the root were
//!   `/`, `..` stopping at it, 40 links and a component budget at most;
//! - `confined`: metadata changed through directory descriptors opened with no
//!   symlink followed (`openat2`), never by path after the fact;
//! - `layer`: an untrusted tar stream applied to a root within limits;
//! - `root`: a stranger's tree: reads of regular files only, writes inside;
//! - `atomic`: files replaced whole, durably.
//!
//! What it guards against, and every limit: docs/security.md.

pub mod atomic;
pub mod confined;
pub mod inside;
pub mod layer;
pub mod root;

pub use atomic::{write_atomic, AtomicFile};
pub use root::Root;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A name that cannot be resolved inside its root (a loop, too many links, the
    /// root itself where a file is meant).
    #[error("{path}: {why}")]
    Escape { path: String, why: &'static str },
    #[error("{0}: not a regular file")]
    NotRegular(String),
    #[error("{path}: {size} bytes, more than the {limit} it may have")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{}: not a directory", .0.display())]
    NotDirectory(PathBuf),
    #[error("{}: {context}", path.display())]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl FsError {
    /// An I/O error at `path`.
    pub fn io(
        path: impl Into<PathBuf>,
        context: &'static str,
    ) -> impl FnOnce(std::io::Error) -> FsError {
        let path = path.into();
        move |source| FsError::Io {
            path,
            context,
            source,
        }
    }

    /// Whether the tree broke a rule (bad input, exit 2) rather than the host failing.
    pub fn is_invalid(&self) -> bool {
        !matches!(self, FsError::Io { .. })
    }
}
