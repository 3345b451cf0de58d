//! berthd as a library. Layers, each using only those above it:
//!
//! - files: `config` (berthd.conf), `store` (containers.conf), `state` (state.json),
//!   `atomic` (how each is written), `container_log` (container output),
//!   `daemon_log` (berthd's own log), `policy` (the restart policy);
//! - `compat`: whether a package is meant for this device;
//! - `home`: the working path and its files, under their locks; `error`; `memory`
//!   (what the allocator keeps while berthd idles);
//! - `health`: health checks, their probes and the thread that runs them;
//! - `driver`: one per runtime — how a payload becomes a container and is recovered;
//! - `daemon`: the shared state (home, drivers, locks, supervision records);
//! - `ops` (one operation per file), `supervise` (events, monitor tick), `updates`
//!   (following registry tags), `server` (the HTTP API).
//!
//! docs/architecture.md tells the design.

pub mod atomic;
pub mod compat;
pub mod config;
pub mod container_log;
pub mod daemon;
pub mod daemon_log;
pub mod driver;
pub mod error;
pub mod health;
pub mod home;
pub mod memory;
pub mod ops;
pub mod policy;
pub mod server;
pub mod state;
pub mod store;
pub mod supervise;
pub mod updates;

pub use daemon::Daemon;
pub use error::{error_chain, OpError};

use berth_package::manifest::FieldIssue;
use std::fmt;
use std::path::PathBuf;

/// Every broken rule of one file, displayed one per line as `<file>: <field> <rule>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileIssues {
    pub path: PathBuf,
    pub issues: Vec<FieldIssue>,
}

impl fmt::Display for FileIssues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {issue}", self.path.display())?;
        }
        Ok(())
    }
}
