//! `created_at`: RFC 3339, UTC, milliseconds, `Z`.

/// `created_at` as written by the writer: RFC 3339, UTC, milliseconds, `Z`.
pub fn format_created_at(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Milliseconds since the epoch of a `created_at` value.
pub fn parse_created_at(s: &str) -> Option<u64> {
    if !s.ends_with('Z') {
        return None;
    }
    let t = humantime::parse_rfc3339(s).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis() as u64)
}
