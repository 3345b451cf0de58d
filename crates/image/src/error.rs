//! The one error type of image operations: each names the file, blob, field or
//! remote involved, and says which rule was broken.

use crate::digest::{Digest, VerifyError};
use crate::layout::LayoutError;
use crate::manifest::BadManifest;
use crate::platform::Platform;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Fs(#[from] berth_fs::FsError),
    #[error(transparent)]
    Manifest(#[from] BadManifest),
    #[error("blob {0}")]
    Verify(#[source] VerifyError),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {why}")]
    Format { what: String, why: String },
    #[error("{image}: no manifest for {wanted} (the index has {available})")]
    NoPlatform {
        image: String,
        wanted: Platform,
        available: String,
    },
    #[error("{what}: {why}")]
    Unsupported { what: String, why: String },
    /// The registry crate's errors, kept whole.
    #[error(transparent)]
    Remote(Box<dyn std::error::Error + Send + Sync>),
    #[error("layer {layer}: {why}")]
    Layer { layer: Digest, why: String },
}

impl ImageError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ImageError {
        let path = path.into();
        move |source| match crate::digest::verify_error(&source) {
            Some(_) => ImageError::Verify(
                *source
                    .into_inner()
                    .and_then(|e| e.downcast::<VerifyError>().ok())
                    .expect("checked above"),
            ),
            None => ImageError::Io { path, source },
        }
    }

    pub fn format(what: impl Into<String>, why: impl Into<String>) -> ImageError {
        ImageError::Format {
            what: what.into(),
            why: why.into(),
        }
    }
}
