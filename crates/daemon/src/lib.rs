//! berthd as a library. So far: the daemon's configuration and the files it owns
//! (containers.conf), each written atomically. The install pipeline, supervisor and
//! API build on these.

pub mod atomic;
pub mod config;
pub mod log;
pub mod logs;
pub mod ops;
pub mod policy;
pub mod server;
pub mod state;
pub mod store;
pub mod supervise;

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
