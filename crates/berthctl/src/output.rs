//! How berthctl shows things to people: status lines, sizes, install progress.

use berth_api::Status;
use std::io::IsTerminal;

pub fn status_line(st: &Status) -> String {
    let mut line = format!("{}: {} ({})", st.id, st.status, st.runtime);
    if let Some(pid) = st.pid {
        line.push_str(&format!(", pid {pid}"));
    }
    if let Some(code) = st.exit_code {
        line.push_str(&format!(", exit code {code}"));
    }
    if let Some(t) = &st.started_at {
        line.push_str(&format!(", started {t}"));
    }
    if st.restart_count > 0 {
        let times = if st.restart_count == 1 {
            "once".to_string()
        } else {
            format!("{} times", st.restart_count)
        };
        line.push_str(&format!(", restarted {times} by berthd"));
    }
    if let Some(h) = &st.health {
        line.push_str(&format!(", {}", h.status));
        if h.failing_streak > 0 {
            line.push_str(&format!(" ({} failed check", h.failing_streak));
            line.push_str(if h.failing_streak == 1 { ")" } else { "s)" });
        }
    }
    if let Some(reason) = &st.reason {
        line.push_str(&format!("; {reason}"));
    }
    if let Some(until) = &st.probation_until {
        line.push_str(&format!(
            "; version {} on probation until {until}",
            st.version
        ));
    }
    if let Some(r) = &st.rolled_back {
        line.push_str(&format!(
            "; rolled back from {} ({}): {}",
            r.from, r.at, r.reason
        ));
    }
    line + "\n"
}

pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// On a terminal: one line rewritten as bytes go out.
pub fn progress_line(total: Option<u64>) -> impl FnMut(u64) {
    let tty = std::io::stderr().is_terminal();
    let mut last = 0u64;
    move |sent| {
        if !tty || sent - last < (4 << 20) {
            return;
        }
        last = sent;
        match total {
            Some(t) if t > 0 => eprint!(
                "\rinstalling: {:>3}% ({} of {})   ",
                sent * 100 / t,
                human(sent),
                human(t)
            ),
            _ => eprint!("\rinstalling: {} sent   ", human(sent)),
        }
    }
}

/// Clears the progress line, on a terminal.
pub fn end_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
}
