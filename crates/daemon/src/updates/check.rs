//! One check of a followed tag: a HEAD request; when the tag names another manifest
//! than the last one decided on, the package artifact behind it, and then the
//! decision — refused earlier, up to date, held back by the rollout, or installed
//! through the normal install (which checks signature and compatibility, and puts
//! an upgrade on probation).

use super::file::Taken;
use crate::daemon::Daemon;
use crate::error::OpError;
use crate::home::now_rfc3339;
use berth_image::ImageError;
use berth_registry::package::{PackageArtifact, VERSION};
use berth_registry::{rollout, RegistrySource};

impl Daemon {
    /// Checks `id`'s followed tag `follow`; false when the registry failed (the
    /// caller backs off).
    pub fn check_follow(&self, id: &str, follow: &str) -> bool {
        let now = now_rfc3339();
        self.update_follow(id, |s| {
            s.for_tag(follow);
            s.last_check = Some(now);
        });
        match self.decide(id, follow) {
            Ok(result) => {
                self.update_follow(id, |s| {
                    s.failures = 0;
                    if let Some(text) = result {
                        s.result = Some(text);
                    }
                });
                true
            }
            Err(why) => {
                let failures = self.update_follow(id, |s| {
                    s.failures += 1;
                    s.result = Some(format!("registry error: {why}"));
                    s.failures
                });
                crate::daemon_log::warn(format!(
                    "{id}: checking {follow} failed ({failures} in a row): {why}"
                ));
                false
            }
        }
    }

    /// The check's decision: the new result, None when the tag has not moved, or
    /// the registry's error.
    fn decide(&self, id: &str, follow: &str) -> Result<Option<String>, String> {
        let (r, source) = self
            .registry_source(follow, false)
            .map_err(|e| e.to_string())?;
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let head = source.head_digest(&tag).map_err(|e| e.to_string())?;
        let state = self.follow_state(id);
        if let (Some(head), Some(seen)) = (&head, &state.seen) {
            if &head.to_string() == seen {
                return Ok(None);
            }
        }
        let head_text = head.as_ref().map(ToString::to_string);
        // What the HEAD found, pinned: the tag may move meanwhile. Fetched with
        // retries and resumed blobs, as any install from a registry.
        let pinned = match head {
            Some(digest) => {
                let options = self.registry_options(&r.registry);
                let mut r = r.clone();
                r.digest = Some(digest);
                RegistrySource::new(r, &options)
            }
            None => source,
        };
        let artifact = match PackageArtifact::locate(&pinned) {
            Ok(a) => a,
            Err(ImageError::Remote(e)) => return Err(e.to_string()),
            Err(e) => {
                // Decided too: the same manifest is not read again at every check.
                self.update_follow(id, |s| s.seen = head_text);
                let why = crate::error::error_chain(&e);
                return Ok(Some(format!("{follow} is not a berth package: {why}")));
            }
        };
        let manifest = artifact.manifest_digest.to_string();
        let package = artifact.layer.digest().to_string();
        let version = artifact
            .annotations
            .as_ref()
            .and_then(|a| a.get(VERSION))
            .cloned()
            .unwrap_or_else(|| "(no version annotation)".into());
        let decided = |text: String, change: &dyn Fn(&mut super::file::FollowState)| {
            self.update_follow(id, |s| {
                s.seen = Some(manifest.clone());
                change(s);
            });
            Ok(Some(text))
        };
        if let Some(refusal) = state.is_refused(&package) {
            let text = format!(
                "{version} ({package}) refused {}: {}; berthctl updates --retry {id} tries it again",
                refusal.at, refusal.reason
            );
            return decided(text, &|_| {});
        }
        if let Some(taken) = state.taken.as_ref().filter(|t| t.digest == package) {
            let registered = self.entry(id).map(|e| e.version).unwrap_or_default();
            if registered == taken.version {
                return decided(format!("up to date ({version})"), &|_| {});
            }
            // Taken from the tag, then replaced (a rollback berthd was killed before
            // recording, or an install by hand): not installed again on its own.
            let reason = format!("replaced by {registered} after it was installed");
            return decided(format!("refused {version}: {reason}"), &|s| {
                s.taken = None;
                s.refuse(&package, &version, &reason);
            });
        }
        let percent = match rollout::percent(artifact.annotations.as_ref()) {
            Ok(p) => p,
            Err(why) => return decided(format!("{version} not taken: {why}"), &|_| {}),
        };
        let device = self.config().device.id.clone().unwrap_or_default();
        if !rollout::selects(&device, &package, percent) {
            return decided(
                format!("held back by rollout ({percent}%): {version}"),
                &|_| {},
            );
        }
        crate::daemon_log::info(format!(
            "{id}: {follow} names {version} ({package}): installing"
        ));
        let taken = |v: &str| {
            let t = Taken {
                digest: package.clone(),
                version: v.to_string(),
            };
            move |s: &mut super::file::FollowState| s.taken = Some(t.clone())
        };
        match self.install_artifact(pinned, &artifact, false, None, follow) {
            Ok(done) => {
                let text = match &done.probation_until {
                    Some(until) => {
                        format!("installed {} (on probation until {until})", done.version)
                    }
                    None => format!("installed {}", done.version),
                };
                decided(text, &taken(&done.version))
            }
            Err(OpError::AlreadyInstalled { version, .. }) => {
                decided(format!("up to date ({version})"), &taken(&version))
            }
            Err(OpError::Registry(why)) => Err(why),
            Err(e @ (OpError::Package(_) | OpError::Incompatible(_))) => {
                let reason = e.to_string().replace('\n', "; ");
                crate::daemon_log::warn(format!(
                    "{id}: {version} ({package}) from {follow} refused: {reason}"
                ));
                decided(format!("refused {version}: {reason}"), &|s| {
                    s.refuse(&package, &version, &reason)
                })
            }
            // Not the package's fault (disk, runtime): tried again next interval.
            Err(e) => {
                let why = crate::error::error_chain(&e);
                crate::daemon_log::warn(format!("{id}: installing {version} from {follow}: {why}"));
                Ok(Some(format!("installing {version} failed: {why}")))
            }
        }
    }
}
