//! One error type for the rootfs operations, carrying the path, name or field.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// Input that breaks a rule: a bad `--bundled` entry, a path leaving the root,
    /// an invalid or untrusted package (exit 2).
    #[error("{what}: {why}")]
    Invalid { what: String, why: String },
    #[error("{}: {context}", path.display())]
    Io {
        path: PathBuf,
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    /// A path the rootfs resolves outside itself, or a file it must not be (exit 2),
    /// or the host failing to write it (exit 1).
    #[error(transparent)]
    Fs(#[from] berth_fs::FsError),
}

impl RootfsError {
    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        RootfsError::Invalid {
            what: what.into(),
            why: why.into(),
        }
    }

    /// An I/O error at `path`.
    pub fn io(
        path: impl Into<PathBuf>,
        context: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| RootfsError::Io {
            path,
            context,
            source,
        }
    }

    /// Whether this is bad input (exit 2) rather than a failure (exit 1).
    pub fn is_invalid(&self) -> bool {
        match self {
            RootfsError::Invalid { .. } => true,
            RootfsError::Fs(e) => e.is_invalid(),
            _ => false,
        }
    }
}
