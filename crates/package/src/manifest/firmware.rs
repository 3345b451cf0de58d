//! `firmware_versions`: the device firmware a package runs on (Digi documents the
//! key as the range of compatible firmware versions; its tools never read it).
//! berth defines the syntax (docs/package-format.md):
//!
//! - empty: any firmware;
//! - a comma list of exact versions (`"4.0.1, 4.0.2"`): any one of them;
//! - a comma list of comparisons (`">=2.1, <3"`): all of them. Operators `>=`,
//!   `>`, `<=`, `<`, `=`.
//!
//! The two forms do not mix. Versions compare piece by piece: runs of digits as
//! numbers, other runs as text, a number above text; separators (`.`, `-`, `+`, `_`,
//! `~`) only separate; a missing trailing piece counts as 0 against a number and
//! sorts before text. So `2.1` = `2.1.0` < `2.10` < `2.10-r1`, and `2.rc1` < `2.1`.

use std::cmp::Ordering;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

/// A parsed `firmware_versions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirmwareRange {
    Any,
    /// One of these versions.
    OneOf(Vec<String>),
    /// Every comparison holds.
    AllOf(Vec<(String, String)>),
}

impl FirmwareRange {
    /// Parses the text, or says which rule it breaks.
    pub fn parse(text: &str) -> Result<FirmwareRange, String> {
        if text.trim().is_empty() {
            return Ok(FirmwareRange::Any);
        }
        let mut exact = Vec::new();
        let mut compared = Vec::new();
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                return Err("has an empty item between commas".into());
            }
            let (op, version) = split_op(item);
            let version = version.trim();
            if version.is_empty() || version.contains(char::is_whitespace) {
                return Err(format!(
                    "{item:?} is not a version or a comparison like \">=2.1\""
                ));
            }
            match op {
                Some(op) => compared.push((op.to_string(), version.to_string())),
                None => exact.push(version.to_string()),
            }
        }
        match (exact.is_empty(), compared.is_empty()) {
            (false, false) => Err(
                "mixes exact versions and comparisons (use a list of versions, or comparisons that all hold)"
                    .into(),
            ),
            (true, _) => Ok(FirmwareRange::AllOf(compared)),
            (false, true) => Ok(FirmwareRange::OneOf(exact)),
        }
    }

    /// Whether firmware `version` is in the range.
    pub fn includes(&self, version: &str) -> bool {
        match self {
            FirmwareRange::Any => true,
            FirmwareRange::OneOf(list) => {
                list.iter().any(|v| compare(version, v) == Ordering::Equal)
            }
            FirmwareRange::AllOf(comparisons) => comparisons.iter().all(|(op, v)| {
                let ord = compare(version, v);
                match parse_op(op) {
                    Op::Ge => ord != Ordering::Less,
                    Op::Gt => ord == Ordering::Greater,
                    Op::Le => ord != Ordering::Greater,
                    Op::Lt => ord == Ordering::Less,
                    Op::Eq => ord == Ordering::Equal,
                }
            }),
        }
    }
}

impl fmt::Display for FirmwareRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FirmwareRange::Any => f.write_str("any"),
            FirmwareRange::OneOf(list) => f.write_str(&list.join(", ")),
            FirmwareRange::AllOf(c) => {
                let items: Vec<String> = c.iter().map(|(op, v)| format!("{op}{v}")).collect();
                f.write_str(&items.join(", "))
            }
        }
    }
}

fn split_op(item: &str) -> (Option<&str>, &str) {
    for op in [">=", "<=", ">", "<", "="] {
        if let Some(rest) = item.strip_prefix(op) {
            return (Some(op), rest);
        }
    }
    (None, item)
}

fn parse_op(op: &str) -> Op {
    match op {
        ">=" => Op::Ge,
        ">" => Op::Gt,
        "<=" => Op::Le,
        "<" => Op::Lt,
        _ => Op::Eq,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Number(&'a str),
    Text(&'a str),
}

fn pieces(v: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = v;
    while let Some(c) = rest.chars().next() {
        if matches!(c, '.' | '-' | '+' | '_' | '~') {
            rest = &rest[1..];
            continue;
        }
        let digit = c.is_ascii_digit();
        let end = rest
            .find(|ch: char| {
                ch.is_ascii_digit() != digit || matches!(ch, '.' | '-' | '+' | '_' | '~')
            })
            .unwrap_or(rest.len());
        let run = &rest[..end];
        out.push(if digit {
            Piece::Number(run.trim_start_matches('0'))
        } else {
            Piece::Text(run)
        });
        rest = &rest[end..];
    }
    out
}

/// Orders two versions (see the module's rule).
pub fn compare(a: &str, b: &str) -> Ordering {
    let (pa, pb) = (pieces(a), pieces(b));
    let zero = Piece::Number("");
    for i in 0..pa.len().max(pb.len()) {
        let ord = match (pa.get(i), pb.get(i)) {
            (None, Some(Piece::Text(_))) => Ordering::Less,
            (Some(Piece::Text(_)), None) => Ordering::Greater,
            (x, y) => order(x.unwrap_or(&zero), y.unwrap_or(&zero)),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn order(x: &Piece<'_>, y: &Piece<'_>) -> Ordering {
    match (x, y) {
        (Piece::Number(m), Piece::Number(n)) => m.len().cmp(&n.len()).then(m.cmp(n)),
        // A number ranks above text: 2.1 > 2.rc1.
        (Piece::Number(_), Piece::Text(_)) => Ordering::Greater,
        (Piece::Text(_), Piece::Number(_)) => Ordering::Less,
        (Piece::Text(s), Piece::Text(t)) => s.cmp(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_piece_by_piece() {
        assert_eq!(compare("2.1", "2.1.0"), Ordering::Equal);
        assert_eq!(compare("2.9", "2.10"), Ordering::Less);
        assert_eq!(compare("2.10", "2.10-r1"), Ordering::Less);
        assert_eq!(compare("4.0.1.6", "4.0.1.10"), Ordering::Less);
        assert_eq!(compare("02.1", "2.1"), Ordering::Equal);
        assert_eq!(compare("2.rc1", "2.1"), Ordering::Less);
        assert_eq!(compare("3", "2.99.99"), Ordering::Greater);
    }

    #[test]
    fn a_range_of_comparisons_needs_all_of_them() {
        let r = FirmwareRange::parse(">=2.1, <3").unwrap();
        for (v, inside) in [
            ("2.0.9", false),
            ("2.1", true),
            ("2.9.9", true),
            ("3", false),
            ("3.0.1", false),
        ] {
            assert_eq!(r.includes(v), inside, "{v}");
        }
        assert_eq!(r.to_string(), ">=2.1, <3");
    }

    #[test]
    fn a_list_of_versions_needs_one_of_them_and_empty_means_any() {
        let r = FirmwareRange::parse("4.0.1, 4.0.2").unwrap();
        assert!(r.includes("4.0.2") && r.includes("4.0.1.0") && !r.includes("4.0.3"));
        assert_eq!(FirmwareRange::parse("  ").unwrap(), FirmwareRange::Any);
        assert!(FirmwareRange::Any.includes("anything"));
    }

    #[test]
    fn broken_ranges_name_the_rule() {
        let err = |t: &str| FirmwareRange::parse(t).unwrap_err();
        assert!(err("2.1, >=3").starts_with("mixes exact versions and comparisons"));
        assert_eq!(err("2.1,,3"), "has an empty item between commas");
        assert_eq!(
            err(">="),
            "\">=\" is not a version or a comparison like \">=2.1\""
        );
        assert_eq!(
            err("2.1 beta"),
            "\"2.1 beta\" is not a version or a comparison like \">=2.1\""
        );
    }
}
