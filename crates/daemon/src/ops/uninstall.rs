//! uninstall: the container, its registration, what its install brought (images
//! unless shared, a bundle), its logs and records.

use crate::daemon::Daemon;
use crate::error::OpError;

impl Daemon {
    /// Stops and removes the container, its entry and its payload. A container
    /// already gone from the runtime is still unregistered.
    pub fn uninstall(&self, id: &str) -> Result<(), OpError> {
        let _g = self.lock(id);
        let entry = self.entry(id)?;
        self.driver_for(&entry)?;
        self.manual(id, false);
        // Unregistered first: should berthd die halfway, what is left is an orphan
        // that recovery removes, never a registered container without its parts.
        self.home.update_conf(|conf| {
            conf.containers.retain(|e| e.id != id);
            Ok(())
        })?;
        self.remove_unregistered(id, &entry.runtime)
    }

    /// Removes what an unregistered `id` of runtime `runtime_name` left.
    pub(crate) fn remove_unregistered(&self, id: &str, runtime_name: &str) -> Result<(), OpError> {
        let driver = self
            .driver_named(runtime_name)
            .map_err(|why| OpError::Unsupported(format!("{id}: {why}")))?;
        driver.remove_leftovers(&self.home, id)?;
        crate::driver::forget(&self.home, id);
        self.forget_updates(id);
        self.supervision().remove(id);
        Ok(())
    }
}
