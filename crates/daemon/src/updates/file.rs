//! `<working_path>/updates.json`: per followed container, what its update checks
//! found. Written by berthd only, atomically; a missing or unreadable file reads as
//! empty (the next checks find the same again — only refusals would be lost, and the
//! log names each).

use crate::home::now_rfc3339;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UpdatesFile {
    pub containers: BTreeMap<String, FollowState>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FollowState {
    /// The tag this state is about (a changed `follow` starts over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The artifact manifest the tag named when last decided on: the same digest
    /// again needs no more than the HEAD request that found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    /// Registry errors in a row.
    #[serde(default)]
    pub failures: u32,
    /// The package installed from the tag (until it is rolled back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken: Option<Taken>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Taken {
    /// The package file's digest (the artifact's layer).
    pub digest: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    pub digest: String,
    pub version: String,
    pub reason: String,
    pub at: String,
}

/// Refusals kept per container, newest last: a tag that names a new broken package
/// every minute does not grow the file without end.
pub const MAX_REFUSED: usize = 32;

impl FollowState {
    /// The state for `follow`: what was found for another tag is dropped, except
    /// refusals, which are about packages, whatever tag named them.
    pub fn for_tag(&mut self, follow: &str) {
        if self.follow.as_deref() != Some(follow) {
            *self = FollowState {
                follow: Some(follow.to_string()),
                refused: std::mem::take(&mut self.refused),
                ..Default::default()
            };
        }
    }

    pub fn is_refused(&self, digest: &str) -> Option<&Refusal> {
        self.refused.iter().find(|r| r.digest == digest)
    }

    pub fn refuse(&mut self, digest: &str, version: &str, reason: &str) {
        self.refused.retain(|r| r.digest != digest);
        self.refused.push(Refusal {
            digest: digest.to_string(),
            version: version.to_string(),
            reason: reason.to_string(),
            at: now_rfc3339(),
        });
        if self.refused.len() > MAX_REFUSED {
            self.refused.remove(0);
        }
    }
}

impl UpdatesFile {
    pub fn load(path: &Path) -> UpdatesFile {
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
    fn refusals_outlive_a_change_of_tag_and_are_capped() {
        let mut s = FollowState::default();
        s.for_tag("docker://r/a:1");
        s.seen = Some("sha256:m".into());
        s.refuse("sha256:p", "2", "rolled back");
        s.for_tag("docker://r/a:1");
        assert_eq!(s.seen.as_deref(), Some("sha256:m"));
        s.for_tag("docker://r/a:2");
        assert_eq!(s.seen, None);
        assert_eq!(s.is_refused("sha256:p").unwrap().version, "2");
        for i in 0..40 {
            s.refuse(&format!("sha256:{i}"), "x", "bad");
        }
        assert_eq!(s.refused.len(), MAX_REFUSED);
        assert!(s.is_refused("sha256:39").is_some());
        assert!(s.is_refused("sha256:p").is_none());
    }

    #[test]
    fn round_trips_and_a_broken_file_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("updates.json");
        let mut f = UpdatesFile::default();
        f.containers
            .entry("web".into())
            .or_default()
            .refuse("sha256:p", "2", "why");
        f.save(&path).unwrap();
        assert_eq!(UpdatesFile::load(&path), f);
        std::fs::write(&path, b"{").unwrap();
        assert_eq!(UpdatesFile::load(&path), UpdatesFile::default());
    }
}
