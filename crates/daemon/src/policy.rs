//! The restart policy (DESIGN.md, docs/restart-health-rollback.md), as a pure state machine
//! over an injectable clock, so the window logic is tested without waiting.
//!
//! - `restart.enabled: false`: an unexpected exit leaves the container `exited`.
//! - Otherwise, if `max_retries` restart attempts already happened within the last
//!   `window` seconds, berthd gives up: `failed`, with the reason. Else it waits
//!   `retry_delay` seconds and starts the container again, timestamping the attempt.
//! - So there are never more than `max_retries` automatic restarts in any span of
//!   `window` seconds, and a container that stays up longer than `window` earns a
//!   fresh budget. A manual start clears the history.

use berth_package::manifest::RestartPolicy;
use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds (with fractions) on some monotonic-enough scale.
pub trait Clock: Send + Sync {
    fn now(&self) -> f64;
}

/// Wall-clock time.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> f64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }
}

/// What to do about an unexpected exit.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Restarting is off: the container stays exited.
    StayExited,
    /// Start it again after this delay.
    RestartAfter(Duration),
    /// The budget is spent: the container is failed, for this reason.
    GiveUp(String),
}

/// One container's restart history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// When each automatic restart was attempted, oldest first.
    pub attempts: VecDeque<f64>,
}

impl History {
    /// Decides what an unexpected exit at `now` leads to.
    pub fn on_unexpected_exit(&mut self, policy: &RestartPolicy, now: f64) -> Decision {
        if !policy.enabled {
            return Decision::StayExited;
        }
        let window = f64::from(policy.window);
        while self.attempts.front().is_some_and(|t| now - t >= window) {
            self.attempts.pop_front();
        }
        if self.attempts.len() >= policy.max_retries as usize {
            return Decision::GiveUp(format!(
                "stopped unexpectedly after {} restart{} within {}s (restart.max_retries {}, restart.window {})",
                self.attempts.len(),
                if self.attempts.len() == 1 { "" } else { "s" },
                policy.window,
                policy.max_retries,
                policy.window
            ));
        }
        Decision::RestartAfter(Duration::from_secs(policy.retry_delay.into()))
    }

    /// Timestamps an automatic restart attempt.
    pub fn record_attempt(&mut self, now: f64) {
        self.attempts.push_back(now);
    }

    /// A manual start: the budget is full again.
    pub fn clear(&mut self) {
        self.attempts.clear();
    }
}

/// What berthd tracks of a container between events: the restart history and what
/// the last manual action wanted.
#[derive(Debug, Default)]
pub struct Supervision {
    pub history: History,
    /// A stop through berthd is under way or done: its exit is not a crash.
    pub stop_requested: bool,
    /// Why berthd gave up restarting it.
    pub failed: Option<String>,
    pub last_exit_code: Option<i32>,
    pub restart_count: u32,
    /// Bumped by every manual action, so a pending automatic restart knows it is stale.
    pub generation: u64,
    /// An automatic restart is waiting out its delay: further exit events of the
    /// same stop (runtimes may report one twice) are not new crashes.
    pub pending: bool,
    /// berthd started it or saw it running since its last exit was answered: its
    /// next exit is one to answer (from the event stream, or the tick if the stream
    /// missed it).
    pub running_seen: bool,
    /// This run's health, for a container with a health check.
    pub health: Option<crate::health::Health>,
    /// When this run's health began, on the clock's scale (`start_period` counts
    /// from here).
    pub health_since: f64,
    /// When the last check ended (the next is due `interval` later).
    pub health_last: f64,
    /// A check is running.
    pub health_busy: bool,
    /// berthd stopped it as unhealthy, for this reason: its exit is answered by
    /// the restart policy with it.
    pub unhealthy_stop: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(enabled: bool, max_retries: u32, window: u32, retry_delay: u32) -> RestartPolicy {
        RestartPolicy {
            enabled,
            max_retries,
            window,
            retry_delay,
        }
    }

    /// A container that exits `run` seconds after each start, restarted per policy
    /// on a fake clock; returns how many restarts happened and the final decision.
    fn simulate(p: &RestartPolicy, run: f64, horizon: f64) -> (usize, Decision) {
        let mut h = History::default();
        let mut now = 0.0;
        let mut restarts = 0;
        loop {
            now += run;
            match h.on_unexpected_exit(p, now) {
                Decision::RestartAfter(d) => {
                    now += d.as_secs_f64();
                    h.record_attempt(now);
                    restarts += 1;
                    if now > horizon {
                        return (restarts, Decision::RestartAfter(d));
                    }
                }
                other => return (restarts, other),
            }
        }
    }

    #[test]
    fn exactly_max_retries_restarts_then_failed() {
        let (n, last) = simulate(&policy(true, 3, 60, 1), 1.0, 1e6);
        assert_eq!(n, 3);
        assert!(
            matches!(last, Decision::GiveUp(ref r) if r.contains("3 restarts within 60s")),
            "{last:?}"
        );
    }

    #[test]
    fn disabled_restart_stays_exited() {
        let mut h = History::default();
        assert_eq!(
            h.on_unexpected_exit(&policy(false, 3, 60, 1), 5.0),
            Decision::StayExited
        );
    }

    #[test]
    fn zero_retries_gives_up_at_once() {
        let mut h = History::default();
        assert!(matches!(
            h.on_unexpected_exit(&policy(true, 0, 60, 1), 5.0),
            Decision::GiveUp(_)
        ));
    }

    #[test]
    fn running_longer_than_the_window_earns_a_fresh_budget() {
        // Up for 10 s each time, window 5 s: every crash finds no attempt in the window.
        let (n, last) = simulate(&policy(true, 1, 5, 0), 10.0, 1000.0);
        assert!(n > 50, "{n}");
        assert!(matches!(last, Decision::RestartAfter(_)));
    }

    #[test]
    fn never_more_than_max_retries_in_any_window() {
        // Property over a grid of policies and run times: count attempts in every window.
        for max in 0..5u32 {
            for window in [1u32, 3, 10, 60] {
                for delay in [0u32, 1, 2] {
                    for run in [0.1, 0.5, 1.0, 4.0, 11.0] {
                        let p = policy(true, max, window, delay);
                        let mut h = History::default();
                        let mut times = Vec::new();
                        let mut now = 0.0;
                        for _ in 0..200 {
                            now += run;
                            match h.on_unexpected_exit(&p, now) {
                                Decision::RestartAfter(d) => {
                                    now += d.as_secs_f64();
                                    h.record_attempt(now);
                                    times.push(now);
                                }
                                _ => break,
                            }
                        }
                        for (i, t) in times.iter().enumerate() {
                            let in_window = times[i..]
                                .iter()
                                .take_while(|u| **u - t < f64::from(window))
                                .count();
                            assert!(
                                in_window <= max as usize,
                                "{p:?} run {run}: {in_window} attempts within {window}s"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_manual_start_clears_the_history() {
        let p = policy(true, 1, 60, 0);
        let mut h = History::default();
        assert!(matches!(
            h.on_unexpected_exit(&p, 1.0),
            Decision::RestartAfter(_)
        ));
        h.record_attempt(1.0);
        assert!(matches!(h.on_unexpected_exit(&p, 2.0), Decision::GiveUp(_)));
        h.clear();
        assert!(matches!(
            h.on_unexpected_exit(&p, 3.0),
            Decision::RestartAfter(_)
        ));
    }
}
