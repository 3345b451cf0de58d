//! start, stop, restart: manual actions, which also tell supervision whether an exit
//! from now on is a crash.

use crate::daemon::Daemon;
use crate::error::{runtime, OpError};
use std::time::Duration;

impl Daemon {
    pub fn start(&self, id: &str) -> Result<(), OpError> {
        let _g = self.lock(id);
        let entry = self.entry(id)?;
        let driver = self.driver_for(&entry)?;
        self.manual(id, true);
        driver
            .runtime()
            .start(id)
            .map_err(runtime(format!("starting {id}")))?;
        self.seen_running(id);
        Ok(())
    }

    pub fn stop(&self, id: &str, grace: Duration) -> Result<(), OpError> {
        let _g = self.lock(id);
        let entry = self.entry(id)?;
        let driver = self.driver_for(&entry)?;
        self.manual(id, false);
        driver
            .runtime()
            .stop(id, grace)
            .map_err(runtime(format!("stopping {id}")))
    }

    pub fn restart(&self, id: &str, grace: Duration) -> Result<(), OpError> {
        let _g = self.lock(id);
        let entry = self.entry(id)?;
        let rt = self.driver_for(&entry)?.runtime();
        self.manual(id, false);
        rt.stop(id, grace)
            .map_err(runtime(format!("stopping {id}")))?;
        self.manual(id, true);
        rt.start(id).map_err(runtime(format!("starting {id}")))?;
        self.seen_running(id);
        Ok(())
    }
}

impl Daemon {
    /// Stops every registered container that runs, for shutdown
    /// (`berthd --stop-managed-containers`). One line per container; `Err` lines are
    /// failures.
    pub fn stop_managed(&self) -> Result<Vec<Result<String, String>>, OpError> {
        let conf = self.home.containers()?;
        Ok(conf
            .containers
            .iter()
            .map(|entry| {
                let driver = self
                    .driver_for(entry)
                    .map_err(|e| crate::error::error_chain(&e))?;
                match driver.runtime().stop(&entry.id, super::DEFAULT_STOP_GRACE) {
                    Ok(()) => Ok(format!("stopped {}", entry.id)),
                    Err(berth_runtime::RuntimeError::NoSuchContainer(_)) => {
                        Ok(format!("warning: {}: not in {}", entry.id, entry.runtime))
                    }
                    Err(e) => Err(format!("{}: {}", entry.id, crate::error::error_chain(&e))),
                }
            })
            .collect())
    }
}
