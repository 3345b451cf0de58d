//! logs: a container's output from its log file under the working path (written
//! by conmon for podman, by berthd's console pump for LXC), filtered by time, and
//! followed as it grows. A container that has written nothing yet has no file: its
//! log is empty, and following waits for its first line.

use crate::daemon::Daemon;
use crate::error::OpError;
use std::time::SystemTime;

/// What a logs request asks for.
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub tail: Option<u64>,
    pub follow: bool,
    pub since: Option<SystemTime>,
}

impl Daemon {
    /// Sends the log's bytes to `send` (false: the client is gone), first what is
    /// there, then (following) what comes, until the client goes away.
    pub fn logs(
        &self,
        id: &str,
        request: &LogRequest,
        mut send: impl FnMut(Vec<u8>) -> bool,
    ) -> Result<(), OpError> {
        self.entry(id)?;
        let wp = self.home.working_path();
        let (text, end) = crate::container_log::read(wp, id, request.since, request.tail)
            .map_err(crate::error::io(format!("reading the log of {id}")))?;
        if !send(text) || !request.follow {
            return Ok(());
        }
        crate::container_log::follow(wp, id, end, send);
        Ok(())
    }
}
