//! follow: a registered container starts or stops following a registry tag
//! (`follow` in its containers.conf entry; docs/fleet-updates.md).

use crate::daemon::Daemon;
use crate::error::OpError;
use crate::store::ContainerEntry;

impl Daemon {
    /// Sets (`Some`) or clears (`None`) the tag `id` follows; a tag set is checked
    /// at the next tick. Returns the entry as saved.
    pub fn follow(&self, id: &str, reference: Option<&str>) -> Result<ContainerEntry, OpError> {
        let follow = match reference {
            None => None,
            Some(r) => Some(self.followable(r)?),
        };
        let _g = self.lock(id);
        let entry = self.home.update_conf(|conf| {
            let entry = conf
                .containers
                .iter_mut()
                .find(|e| e.id == id)
                .ok_or_else(|| OpError::NoSuchContainer(id.into()))?;
            entry.follow = follow.clone();
            Ok(entry.clone())
        })?;
        match &follow {
            None => self.forget_updates(id),
            Some(f) => {
                crate::daemon_log::info(format!("{id}: follows {f}"));
                self.updates
                    .schedule
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .due_now(id);
            }
        }
        Ok(entry)
    }

    /// `reference` as containers.conf records a followed tag, once its registry is
    /// allowed.
    #[cfg(feature = "registry")]
    fn followable(&self, reference: &str) -> Result<String, OpError> {
        let (r, _) = self.registry_source(reference, true)?;
        if r.digest.is_some() {
            return Err(OpError::BadRequest(format!(
                "{reference}: a digest never changes: follow a tag (docker://HOST/REPO:TAG)"
            )));
        }
        let follow = crate::ops::install_from::followed(&r);
        crate::store::check_follow(&follow).map_err(OpError::BadRequest)?;
        Ok(follow)
    }

    #[cfg(not(feature = "registry"))]
    fn followable(&self, reference: &str) -> Result<String, OpError> {
        Err(OpError::NotBuilt(format!(
            "{reference}: this berthd was built without the registry feature and cannot follow a tag"
        )))
    }
}
