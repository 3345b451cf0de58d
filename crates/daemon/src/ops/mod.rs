//! What berthd does to containers, one operation per file. Blocking code, run off
//! the async threads. Operations on one container are serialised by its lock
//! (`Daemon::lock`); every operation undoes its earlier steps when a later one fails.

pub mod config;
pub mod follow;
pub mod install;
pub mod install_from;
pub mod lifecycle;
pub mod logs;
pub mod preinstall;
pub mod probation;
pub mod reconcile;
pub mod recover;
pub mod rollback;
pub mod status;
pub mod uninstall;

#[cfg(test)]
mod tests;

use std::time::Duration;

/// How long a container gets to stop before it is killed, unless told otherwise.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
