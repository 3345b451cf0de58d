//! Health checks (docs/restart-health-rollback.md, "Health"): a pure state machine per
//! container run (`Health::on_result`), the probes (`probe.rs`: a command inside
//! the container, or an HTTP GET / TCP connect by berthd), and the thread that runs
//! them when due, one at a time per container, and has an unhealthy container
//! restarted under its restart policy (`watch.rs`).

pub mod probe;
pub mod watch;

#[cfg(test)]
mod supervised;

use berth_package::manifest::HealthCheck;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No verdict yet in this run (or only failures within `start_period`).
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// One run's health, as status, state.json and the API show it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// Failures in a row (those within `start_period` not counted).
    pub failing_streak: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_output: Option<String>,
    /// When the last check ended (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check: Option<String>,
}

impl Health {
    pub fn to_api(&self) -> berth_api::Health {
        berth_api::Health {
            status: self.status.as_str().into(),
            failing_streak: self.failing_streak,
            last_output: self.last_output.clone(),
            last_check: self.last_check.clone(),
        }
    }
}

/// A registered check as the API shows it.
pub fn check_to_api(c: &HealthCheck) -> berth_api::HealthCheck {
    use berth_package::manifest::Probe;
    let (mut cmd, mut http, mut tcp) = (None, None, None);
    match &c.probe {
        Probe::Cmd(argv) => cmd = Some(argv.clone()),
        Probe::Http(url) => http = Some(url.clone()),
        Probe::Tcp(addr) => tcp = Some(addr.clone()),
    }
    berth_api::HealthCheck {
        cmd,
        http,
        tcp,
        interval: c.interval,
        timeout: c.timeout,
        retries: c.retries,
        start_period: c.start_period,
    }
}

/// An image's own HEALTHCHECK as a berth check: `CMD` runs its argv, `CMD-SHELL`
/// its command through `/bin/sh -c` (as Docker does), `NONE` is none; durations
/// round up to whole seconds, and 0 means Docker's default.
pub fn from_image(hc: &berth_runtime::ImageHealthcheck) -> Option<HealthCheck> {
    use berth_package::manifest::health::{DEFAULT_INTERVAL, DEFAULT_RETRIES, DEFAULT_TIMEOUT};
    use berth_package::manifest::Probe;
    let argv = match hc.test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
        Some((kind, [command])) if kind == "CMD-SHELL" => {
            vec!["/bin/sh".into(), "-c".into(), command.clone()]
        }
        _ => return None,
    };
    let secs = |ns: u64, default: u32| match ns.div_ceil(1_000_000_000) {
        0 => default,
        s => u32::try_from(s).unwrap_or(u32::MAX),
    };
    Some(HealthCheck {
        probe: Probe::Cmd(argv),
        interval: secs(hc.interval, DEFAULT_INTERVAL),
        timeout: secs(hc.timeout, DEFAULT_TIMEOUT),
        retries: if hc.retries == 0 {
            DEFAULT_RETRIES
        } else {
            hc.retries
        },
        start_period: secs(hc.start_period, 0),
    })
}

/// What a check's result changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Unchanged,
    BecameHealthy,
    /// `retries` failures in a row: the container is to be restarted.
    BecameUnhealthy,
}

/// The most of a check's output kept (Docker keeps 4 KiB).
pub const MAX_OUTPUT: usize = 4096;

impl Health {
    /// The result of one check that ended at `at`, `since_start` seconds into the run.
    pub fn on_result(
        &mut self,
        check: &HealthCheck,
        healthy: bool,
        output: &str,
        since_start: f64,
        at: String,
    ) -> Transition {
        let mut out = output.trim_end().to_string();
        if out.len() > MAX_OUTPUT {
            let mut cut = MAX_OUTPUT;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
        }
        self.last_output = Some(out);
        self.last_check = Some(at);
        let before = self.status;
        if healthy {
            self.failing_streak = 0;
            self.status = HealthStatus::Healthy;
        } else if self.status == HealthStatus::Starting
            && since_start < f64::from(check.start_period)
        {
            // Grace: a slow start is not a failure.
        } else {
            self.failing_streak += 1;
            if self.failing_streak >= check.retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        match (before, self.status) {
            (b, HealthStatus::Healthy) if b != HealthStatus::Healthy => Transition::BecameHealthy,
            (b, HealthStatus::Unhealthy) if b != HealthStatus::Unhealthy => {
                Transition::BecameUnhealthy
            }
            _ => Transition::Unchanged,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_package::manifest::Probe;

    fn check(retries: u32, start_period: u32) -> HealthCheck {
        HealthCheck {
            probe: Probe::Cmd(vec!["true".into()]),
            interval: 1,
            timeout: 1,
            retries,
            start_period,
        }
    }

    fn run(h: &mut Health, c: &HealthCheck, results: &[(bool, f64)]) -> Vec<Transition> {
        results
            .iter()
            .map(|(ok, t)| h.on_result(c, *ok, "out", *t, format!("t{t}")))
            .collect()
    }

    #[test]
    fn retries_failures_in_a_row_make_it_unhealthy_once() {
        let c = check(3, 0);
        let mut h = Health::default();
        let t = run(
            &mut h,
            &c,
            &[(false, 1.0), (false, 2.0), (false, 3.0), (false, 4.0)],
        );
        use Transition::*;
        assert_eq!(t, [Unchanged, Unchanged, BecameUnhealthy, Unchanged]);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Unhealthy, 4));
        assert_eq!(h.last_check.as_deref(), Some("t4"));
    }

    #[test]
    fn a_success_resets_the_streak() {
        let c = check(2, 0);
        let mut h = Health::default();
        use Transition::*;
        let t = run(
            &mut h,
            &c,
            &[(false, 1.0), (true, 2.0), (false, 3.0), (true, 4.0)],
        );
        assert_eq!(t, [Unchanged, BecameHealthy, Unchanged, Unchanged]);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Healthy, 0));
        let t = run(&mut h, &c, &[(false, 5.0), (false, 6.0)]);
        assert_eq!(t, [Unchanged, BecameUnhealthy]);
    }

    #[test]
    fn failures_within_the_start_period_do_not_count_until_it_is_healthy() {
        let c = check(1, 10);
        let mut h = Health::default();
        use Transition::*;
        let t = run(&mut h, &c, &[(false, 1.0), (false, 9.0)]);
        assert_eq!(t, [Unchanged, Unchanged]);
        assert_eq!((h.status, h.failing_streak), (HealthStatus::Starting, 0));
        assert_eq!(run(&mut h, &c, &[(false, 10.0)]), [BecameUnhealthy]);
        // Once healthy, the start period no longer shields a failure.
        let mut h = Health::default();
        assert_eq!(
            run(&mut h, &c, &[(true, 1.0), (false, 2.0)]),
            [BecameHealthy, BecameUnhealthy]
        );
    }

    #[test]
    fn an_images_healthcheck_becomes_a_command_check() {
        let hc = |test: &[&str], interval: u64| berth_runtime::ImageHealthcheck {
            test: test.iter().map(|s| s.to_string()).collect(),
            interval,
            timeout: 1_500_000_000,
            retries: 0,
            start_period: 0,
        };
        let h = from_image(&hc(&["CMD", "/bin/check", "x"], 5_000_000_000)).unwrap();
        assert_eq!(h.probe, Probe::Cmd(vec!["/bin/check".into(), "x".into()]));
        assert_eq!(
            (h.interval, h.timeout, h.retries, h.start_period),
            (5, 2, 3, 0)
        );
        let h = from_image(&hc(&["CMD-SHELL", "curl -f localhost || exit 1"], 0)).unwrap();
        assert_eq!(
            h.probe,
            Probe::Cmd(vec![
                "/bin/sh".into(),
                "-c".into(),
                "curl -f localhost || exit 1".into()
            ])
        );
        assert_eq!(h.interval, 30);
        assert_eq!(from_image(&hc(&["NONE"], 0)), None);
        assert_eq!(from_image(&hc(&[], 0)), None);
    }

    #[test]
    fn long_output_is_cut_on_a_character_boundary() {
        let mut h = Health::default();
        let long = "é".repeat(MAX_OUTPUT);
        h.on_result(&check(1, 0), true, &long, 0.0, "t".into());
        let kept = h.last_output.unwrap();
        assert!(kept.len() <= MAX_OUTPUT && kept.chars().all(|c| c == 'é'));
    }
}
