//! `<working_path>/state.json`: what berthd knows about each container beyond its
//! registration — what it installed (images, package digest, when) and the last state
//! it saw. Written by the daemon only, atomically. A missing or unreadable file is
//! rebuilt from what the runtimes report: it is a record, not the source of truth.

use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContainerRecord {
    /// The version installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Its runtime (podman, lxc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Image ids the install brought (removed with the container, unless shared).
    #[serde(default)]
    pub images: Vec<String>,
    /// Images of the version an upgrade replaced, still to be removed (a crash
    /// between the upgrade's commit and their removal leaves them here).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replaced_images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<String>,
    /// The runtime's last word on it, when berthd last looked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    /// Automatic restarts since the last manual start.
    #[serde(default)]
    pub restart_count: u32,
    /// Why berthd gave up restarting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_reason: Option<String>,
    /// When the automatic restarts of the restart history were attempted (seconds
    /// since the epoch): the budget survives a restart of berthd.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart_attempts: Vec<f64>,
    /// The version an upgrade replaced, kept whole and stopped for a rollback: during
    /// the upgrade's probation, and after it while `keep_previous` is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    /// The upgrade to this version is on probation until then (seconds since the
    /// epoch); a crash of berthd starts the probation over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probation_until: Option<f64>,
    /// The last rollback to this version: from which, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<RolledBack>,
    /// The last health check's verdict, for a container with a health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::Health>,
    /// The last monitor tick's sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<Sample>,
}

/// The version an upgrade replaced, as a rollback needs it back.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Previous {
    pub version: String,
    /// Its registration (containers.conf's entry), to register again.
    pub entry: serde_json::Value,
    /// Its record's images and package.
    #[serde(default)]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_digest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RolledBack {
    /// The version rolled back from.
    pub from: String,
    pub reason: String,
    pub at: String,
}

/// What the monitor tick saw of a container.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    pub status: String,
    pub pid: Option<u32>,
    pub started_at: Option<String>,
    pub exit_code: Option<i32>,
    pub stats: Option<berth_runtime::Stats>,
    pub sampled_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StateFile {
    pub containers: BTreeMap<String, ContainerRecord>,
}

impl StateFile {
    /// Reads the file; missing or unreadable means empty (its content is derived).
    pub fn load(path: &Path) -> StateFile {
        crate::atomic::read_record(path)
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::atomic::write_record(path, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_a_broken_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(StateFile::load(&path), StateFile::default());
        let mut s = StateFile::default();
        s.containers.insert(
            "web".into(),
            ContainerRecord {
                images: vec!["abc".into()],
                package_digest: Some("sha256:00".into()),
                installed_at: Some("2026-11-23T09:00:00Z".into()),
                last_status: Some("running".into()),
                ..Default::default()
            },
        );
        s.save(&path).unwrap();
        assert_eq!(StateFile::load(&path), s);
        std::fs::write(&path, b"{half").unwrap();
        assert_eq!(StateFile::load(&path), StateFile::default());
    }
}
