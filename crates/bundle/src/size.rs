//! Sizes as BundleGen reads them (`humanfriendly.parse_size(text, binary=True)`):
//! a number with an optional unit, where every unit is binary — `100M`, `100MB` and
//! `100MiB` are all 100 × 2^20 — and a bare number is bytes. Decimals are allowed
//! (`1.5G`); the result is truncated to whole bytes, as humanfriendly does.

/// The size `text` means, in bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (t[..split].trim(), t[split..].trim());
    if number.is_empty() || number.matches('.').count() > 1 {
        return Err(format!(
            "{text:?} is not a size (a number and an optional unit: 100M, 1.5GiB, 4096)"
        ));
    }
    let exponent = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        "p" | "pb" | "pib" => 5,
        "e" | "eb" | "eib" => 6,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (K, M, G, T, P, E; binary)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size"))?;
    let bytes = value * 1024f64.powi(exponent);
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    // Whole numbers exactly (no float rounding for 2^60-sized values).
    if !number.contains('.') {
        let whole: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?;
        return whole
            .checked_mul(1u64 << (10 * exponent))
            .ok_or_else(|| format!("{text:?} is too large"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn units_are_binary_whatever_their_spelling() {
        for (text, bytes) in [
            ("4096", 4096),
            ("100M", 100 << 20),
            ("100MB", 100 << 20),
            ("100 MiB", 100 << 20),
            ("1G", 1 << 30),
            ("1.5K", 1536),
            ("23", 23),
            ("2k", 2048),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
        for bad in ["", "M", "1.2.3M", "12Q", "-1M", "99999999999E"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
