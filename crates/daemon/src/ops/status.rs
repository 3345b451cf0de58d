//! status and statistics of one container, as its runtime reports them now.

use crate::daemon::Daemon;
use crate::error::{runtime, OpError};
use berth_api::Status;
use berth_runtime::{ContainerState, RuntimeError};

impl Daemon {
    pub fn status(&self, id: &str) -> Result<Status, OpError> {
        // The record before the registration: a rollback registers first, so a
        // status read in between shows the new registration with the old record,
        // never a new record (rolled back) with the old registration.
        let record = self.home.record(id);
        let entry = self.entry(id)?;
        let state = match self.driver_for(&entry)?.runtime().state(id) {
            Ok(s) => Some(s),
            // Removed behind berthd's back: reported, not an error of the request.
            Err(RuntimeError::NoSuchContainer(_)) => None,
            Err(e) => return Err(runtime(format!("asking {} about {id}", entry.runtime))(e)),
        };
        let (restart_count, reason) = self.supervision_summary(id);
        let s = state.clone().unwrap_or(ContainerState {
            id: id.into(),
            ..Default::default()
        });
        Ok(Status {
            id: id.into(),
            runtime: entry.runtime.clone(),
            status: self.status_word(id, state.as_ref()),
            restart_count,
            reason,
            health: self.health_of(&entry).map(|h| h.to_api()),
            version: entry.version.clone(),
            probation_until: record.as_ref().and_then(crate::ops::probation::until_text),
            // Shown once the rolled-back version is removed (ops/rollback.rs).
            rolled_back: record
                .as_ref()
                .and_then(|r| r.rolled_back.clone())
                .filter(|_| !self.rollback_finishing(id))
                .map(|r| berth_api::RolledBack {
                    from: r.from,
                    reason: r.reason,
                    at: r.at,
                }),
            previous_version: record
                .as_ref()
                .and_then(|r| r.previous.as_ref())
                .map(|p| p.version.clone()),
            running: s.running,
            pid: s.pid,
            exit_code: s.exit_code,
            started_at: s.started_at,
        })
    }

    pub fn stats(&self, id: &str) -> Result<berth_api::Stats, OpError> {
        let entry = self.entry(id)?;
        let s = self
            .driver_for(&entry)?
            .runtime()
            .stats(id)
            .map_err(runtime(format!("statistics of {id}")))?;
        Ok(berth_api::Stats {
            cpu_percent: s.cpu_percent,
            memory_bytes: s.memory_bytes,
            memory_limit_bytes: s.memory_limit_bytes,
            net_rx_bytes: s.net_rx_bytes,
            net_tx_bytes: s.net_tx_bytes,
            block_read_bytes: s.block_read_bytes,
            block_write_bytes: s.block_write_bytes,
            pids: s.pids,
        })
    }
}
