//! `SOURCE_DATE_EPOCH` (reproducible-builds.org): the time a reproducible build
//! writes instead of now. One reading for every command that honours it (`pack`,
//! `image build`, `bundle generate`, `rootfs install --populate-storage`): unset or
//! empty is "not given"; anything but whole seconds since 1970 in decimal digits is
//! an error, as the specification asks, never silently now.

pub const VAR: &str = "SOURCE_DATE_EPOCH";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("SOURCE_DATE_EPOCH must be whole seconds since 1970 in decimal digits, got {0:?}")]
pub struct BadEpoch(pub String);

/// The environment's `SOURCE_DATE_EPOCH` in seconds, `None` when unset or empty.
pub fn source_date_epoch() -> Result<Option<u64>, BadEpoch> {
    match std::env::var_os(VAR) {
        None => Ok(None),
        Some(v) => parse(&v.to_string_lossy()),
    }
}

/// `value` read as `SOURCE_DATE_EPOCH` is.
pub fn parse(value: &str) -> Result<Option<u64>, BadEpoch> {
    if value.is_empty() {
        return Ok(None);
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BadEpoch(value.into()));
    }
    value.parse().map(Some).map_err(|_| BadEpoch(value.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_or_nothing_else_is_an_error() {
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("0"), Ok(Some(0)));
        assert_eq!(parse("1700000000"), Ok(Some(1_700_000_000)));
        for bad in [
            " 1",
            "1 ",
            "-1",
            "+1",
            "1.5",
            "1e9",
            "now",
            "99999999999999999999",
        ] {
            assert_eq!(parse(bad), Err(BadEpoch(bad.into())), "{bad:?}");
        }
    }
}
