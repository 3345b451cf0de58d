//! The supervision records berthd keeps per container, and what it writes of them to
//! state.json so a restarted (or killed) berthd keeps each restart budget.

use crate::daemon::Daemon;
use crate::state::Sample;
use crate::store::ContainerEntry;
use berth_runtime::ContainerState;

impl Daemon {
    /// A manual action on `id`: a pending automatic restart is void; `wanted_running`
    /// says whether an exit from now on is a crash; a start clears the history. The
    /// caller tells `seen_running` once a start worked: a start that fails is no run
    /// whose exit the policy answers.
    pub fn manual(&self, id: &str, wanted_running: bool) {
        let mut sup = self.supervision();
        let s = sup.entry(id.to_string()).or_default();
        s.generation += 1;
        s.pending = false;
        s.stop_requested = !wanted_running;
        s.running_seen = false;
        s.unhealthy_stop = None;
        if wanted_running {
            s.history.clear();
            s.failed = None;
            s.restart_count = 0;
            crate::health::watch::restart_health(s, self.clock.now());
            drop(sup);
            self.persist_supervision(id);
        }
    }

    /// berthd saw `id` running (adopted, autostarted, sampled): its next exit is one
    /// to answer.
    pub fn seen_running(&self, id: &str) {
        self.supervision()
            .entry(id.to_string())
            .or_default()
            .running_seen = true;
    }

    /// Writes `id`'s restart history, count and failure into state.json.
    pub fn persist_supervision(&self, id: &str) {
        let Some((attempts, count, failed)) = self.supervision().get(id).map(|s| {
            let attempts: Vec<f64> = s.history.attempts.iter().copied().collect();
            (attempts, s.restart_count, s.failed.clone())
        }) else {
            return;
        };
        self.home.update_state(|st| {
            let r = st.containers.entry(id.to_string()).or_default();
            r.restart_attempts = attempts;
            r.restart_count = count;
            r.failed_reason = failed;
        });
    }

    /// berthd gives up on `id`: the failure goes to state.json first and only then
    /// into what the API answers, so that nobody is told "failed" that a kill -9
    /// could still take back.
    pub fn record_failure(&self, id: &str, reason: String) {
        self.home.update_state(|st| {
            st.containers
                .entry(id.to_string())
                .or_default()
                .failed_reason = Some(reason.clone());
        });
        self.supervision().entry(id.to_string()).or_default().failed = Some(reason);
    }

    /// At start, after recovery: the restart histories state.json kept.
    pub fn restore_supervision(&self) {
        let state = self.home.state();
        let mut sup = self.supervision();
        for (id, r) in state.containers {
            let s = sup.entry(id).or_default();
            s.history.attempts = r.restart_attempts.into();
            s.restart_count = r.restart_count;
            s.failed = r.failed_reason;
            s.health = r.health;
        }
    }

    /// A container berthd gave up on whose restart budget is still spent (attempts
    /// within the window): it stays failed, even across a restart of berthd.
    pub fn budget_spent(&self, entry: &ContainerEntry) -> Option<String> {
        let now = self.clock.now();
        let sup = self.supervision();
        let s = sup.get(&entry.id)?;
        let window = f64::from(entry.restart.window);
        let recent = s
            .history
            .attempts
            .iter()
            .filter(|t| now - **t < window)
            .count();
        s.failed
            .clone()
            .filter(|_| recent >= entry.restart.max_retries as usize)
    }

    /// berthd's word for a container's state: the runtime's, except `failed` when
    /// berthd gave up restarting it, and `missing` when the runtime lost it.
    pub fn status_word(&self, id: &str, state: Option<&ContainerState>) -> String {
        match state {
            None => "missing".into(),
            Some(s) if s.running => s.status.clone(),
            Some(s) => match self.supervision().get(id).and_then(|x| x.failed.clone()) {
                Some(_) => "failed".into(),
                None => s.status.clone(),
            },
        }
    }

    /// The health of `entry`'s container, when it has a check (`starting` until the
    /// first verdict).
    pub fn health_of(&self, entry: &ContainerEntry) -> Option<crate::health::Health> {
        entry.health.as_ref()?;
        Some(
            self.supervision()
                .get(&entry.id)
                .and_then(|s| s.health.clone())
                .unwrap_or_default(),
        )
    }

    /// Restart count and the reason berthd gave up, if it did.
    pub fn supervision_summary(&self, id: &str) -> (u32, Option<String>) {
        self.supervision()
            .get(id)
            .map(|s| (s.restart_count, s.failed.clone()))
            .unwrap_or_default()
    }

    /// The monitor tick's samples into state.json. The restart count and the failure
    /// are the supervisor's to write (persist_supervision, record_failure): a tick
    /// that copied them from a snapshot taken before its write could take back a
    /// failure written in between.
    pub fn record_samples(&self, samples: Vec<(String, Sample)>) {
        self.home.update_state(|s| {
            for (id, sample) in samples {
                let r = s.containers.entry(id).or_default();
                r.last_status = Some(sample.status.clone());
                r.sample = Some(sample);
            }
        });
    }
}
