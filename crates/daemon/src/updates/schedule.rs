//! When each followed tag is checked next: every `interval` seconds plus a random
//! jitter; after registry errors sooner at first and then later (`retry` seconds,
//! doubled after each further error, at most `interval`). Monotonic time: a device
//! whose clock is set at boot does not skip or repeat checks.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant, SystemTime};

#[derive(Default)]
pub struct Schedule {
    due: HashMap<String, Instant>,
    /// Checks under way: a container's check never overlaps its own.
    running: HashSet<String>,
}

impl Schedule {
    /// The ids in `followed` whose check is due at `now`, marked running. One seen
    /// for the first time is due after `first` (a fresh jitter: a fleet booted at
    /// once does not check at once); ids no longer followed are dropped.
    pub fn take_due(
        &mut self,
        followed: &[String],
        now: Instant,
        mut first: impl FnMut() -> Duration,
    ) -> Vec<String> {
        self.due.retain(|id, _| followed.contains(id));
        let mut out = Vec::new();
        for id in followed {
            let due = *self.due.entry(id.clone()).or_insert_with(|| now + first());
            if due <= now && !self.running.contains(id) {
                self.running.insert(id.clone());
                out.push(id.clone());
            }
        }
        out
    }

    /// `id`'s check ended; the next one in `after`.
    pub fn done(&mut self, id: &str, now: Instant, after: Duration) {
        self.running.remove(id);
        self.due.insert(id.to_string(), now + after);
    }

    /// Not checked until `done`: an install from its tag is under way, and is the
    /// check (one would report on a follow half recorded).
    pub fn hold(&mut self, id: &str) {
        self.running.insert(id.to_string());
    }

    /// Checked at the next tick (a retry asked, a tag just followed).
    pub fn due_now(&mut self, id: &str) {
        self.due.insert(id.to_string(), Instant::now());
    }

    pub fn forget(&mut self, id: &str) {
        self.due.remove(id);
    }

    /// When `id` is checked next, RFC 3339 (now, when it is running).
    pub fn next_text(&self, id: &str) -> Option<String> {
        let due = *self.due.get(id)?;
        let wall = SystemTime::now() + due.saturating_duration_since(Instant::now());
        Some(humantime::format_rfc3339_seconds(wall).to_string())
    }
}

/// The wait after `failures` registry errors in a row: `retry` seconds after the
/// first, doubled after each further one, never more than `interval`.
pub fn retry_delay(failures: u32, retry: u32, interval: u32) -> Duration {
    let doubled = u64::from(retry).saturating_mul(1u64 << failures.saturating_sub(1).min(32));
    Duration::from_secs(doubled.min(u64::from(interval)))
}

/// A random wait from 0 to `max` seconds (millisecond steps), from the standard
/// library's randomly keyed hasher: no random-number crate on the device.
pub fn jitter(max: u32) -> Duration {
    if max == 0 {
        return Duration::ZERO;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    Duration::from_millis(h.finish() % (u64::from(max) * 1000 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_back_off_doubling_up_to_the_interval() {
        let delays: Vec<u64> = (1..=7).map(|n| retry_delay(n, 30, 600).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 480, 600, 600]);
        assert_eq!(retry_delay(1000, 30, 3600).as_secs(), 3600);
    }

    #[test]
    fn jitter_stays_within_its_bound_and_varies() {
        assert_eq!(jitter(0), Duration::ZERO);
        let draws: HashSet<Duration> = (0..50).map(|_| jitter(10)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_secs(10)));
        assert!(draws.len() > 10, "{draws:?}");
    }

    #[test]
    fn an_install_from_the_tag_holds_its_checks_until_it_is_done() {
        let mut s = Schedule::default();
        let ids = vec!["a".to_string()];
        // Held before the id is followed (the install registers it midway).
        s.hold("a");
        let now = Instant::now();
        assert!(s.take_due(&ids, now, || Duration::ZERO).is_empty());
        assert!(s
            .take_due(&ids, now + Duration::from_secs(100), || unreachable!())
            .is_empty());
        s.done("a", now, Duration::from_secs(60));
        assert!(s
            .take_due(&ids, now + Duration::from_secs(59), || unreachable!())
            .is_empty());
        assert_eq!(
            s.take_due(&ids, now + Duration::from_secs(60), || unreachable!()),
            ["a"]
        );
    }

    #[test]
    fn a_check_is_due_once_until_it_is_done_and_unfollowed_ids_go() {
        let mut s = Schedule::default();
        let t0 = Instant::now();
        let ids = vec!["a".to_string(), "b".to_string()];
        let mut firsts = [Duration::ZERO, Duration::from_secs(5)].into_iter();
        assert_eq!(s.take_due(&ids, t0, || firsts.next().unwrap()), ["a"]);
        // Running: not due again; b not yet.
        assert!(s
            .take_due(&ids, t0 + Duration::from_secs(1), || unreachable!())
            .is_empty());
        assert_eq!(
            s.take_due(&ids, t0 + Duration::from_secs(5), || unreachable!()),
            ["b"]
        );
        s.done("a", t0 + Duration::from_secs(5), Duration::from_secs(10));
        assert!(s
            .take_due(&ids, t0 + Duration::from_secs(14), || unreachable!())
            .is_empty());
        assert_eq!(
            s.take_due(&ids, t0 + Duration::from_secs(15), || unreachable!()),
            ["a"]
        );
        s.done("a", t0, Duration::ZERO);
        s.done("b", t0, Duration::ZERO);
        assert_eq!(s.take_due(&["b".to_string()], t0, || unreachable!()), ["b"]);
        assert!(s.next_text("a").is_none());
    }
}
