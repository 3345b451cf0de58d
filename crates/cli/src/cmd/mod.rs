pub mod bundle;
pub mod check;
pub mod image;
pub mod keygen;
pub mod pack;
pub mod pack_image;
pub mod pull;
pub mod push;
pub mod rollout;
pub mod rootfs;

/// SOURCE_DATE_EPOCH in seconds for the commands that write times (berth-format's
/// one reading of it); a malformed value is bad input (exit 2).
pub fn epoch_seconds() -> Result<Option<i64>, crate::exit::Failure> {
    let bad = |e: &dyn std::fmt::Display| crate::exit::Failure::bad_input(e.to_string());
    match berth_format::epoch::source_date_epoch().map_err(|e| bad(&e))? {
        Some(secs) => i64::try_from(secs)
            .map(Some)
            .map_err(|_| bad(&format!("SOURCE_DATE_EPOCH {secs}: too far in the future"))),
        None => Ok(None),
    }
}
