//! Why an operation failed. Each variant maps to one stable API code
//! (`server/errors.rs`); the cause stays in `source`.

use crate::store::StoreError;
use berth_runtime::RuntimeError;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// The package is invalid (every problem, one per line).
    #[error("{0}")]
    Package(String),
    #[error("no container {0}")]
    NoSuchContainer(String),
    #[error("{id} {version} is already installed (install with --force to replace it)")]
    AlreadyInstalled { id: String, version: String },
    /// The package is not meant for this device (its type or firmware).
    #[error("{0}")]
    Incompatible(String),
    #[error("not enough disk space: {0}")]
    NoSpace(String),
    /// A request that breaks a rule (config set of an unknown key, a bad value...).
    #[error("{0}")]
    BadRequest(String),
    /// A runtime this berthd has no driver for.
    #[error("{0}")]
    Unsupported(String),
    /// What this build of berthd leaves out (a cargo feature).
    #[error("{0}")]
    NotBuilt(String),
    /// A registry failed (network, HTTP, credentials) during a `docker://` install.
    #[error("{0}")]
    Registry(String),
    /// A `docker://` install from a registry `registry.allow` does not list.
    #[error("{0}")]
    Forbidden(String),
    #[error("{context}")]
    Runtime {
        context: String,
        #[source]
        source: RuntimeError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

/// `map_err` for a runtime call: the error with what berthd was doing.
pub fn runtime(context: impl Into<String>) -> impl FnOnce(RuntimeError) -> OpError {
    let context = context.into();
    move |source| OpError::Runtime { context, source }
}

/// `map_err` for a file operation: the error with what berthd was doing.
pub fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> OpError {
    let context = context.into();
    move |source| OpError::Io { context, source }
}

/// An error with its causes, on one line (berth-exit's rule, shared with the
/// command lines).
pub use berth_exit::chain as error_chain;
