//! The one error type of bundle generation: each names the file, field or path
//! involved. `Incompatible` is BundleGen's exit 2 (the app cannot run on the
//! platform); everything else is exit 1.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The app asks for what the platform does not offer.
    #[error("the app is not compatible with platform {platform}: {why}")]
    Incompatible { platform: String, why: String },
    /// A template, metadata or libs file breaks its schema or a rule.
    #[error("{file}: {why}")]
    Invalid { file: String, why: String },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Image(#[from] berth_image::ImageError),
    /// A path from a template, app metadata or the image that leads nowhere inside
    /// the rootfs, or a write into it that failed.
    #[error("in the rootfs: {0}")]
    Fs(#[from] berth_fs::FsError),
}

impl BundleError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> BundleError {
        let path = path.into();
        move |source| BundleError::Io { path, source }
    }

    pub fn invalid(file: impl Into<String>, why: impl Into<String>) -> BundleError {
        BundleError::Invalid {
            file: file.into(),
            why: why.into(),
        }
    }
}
