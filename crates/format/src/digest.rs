//! Content digests: `sha256:` and 64 lower-case hex digits, as the OCI image spec
//! writes them. The rule lives here once; a `Digest` is only ever well formed.

use sha2::{Digest as _, Sha256};
use std::fmt;

/// A sha256 content digest. Only well-formed ones exist, so the hex can name a file
/// (`blobs/sha256/<hex>`) without any other check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{value:?} is not a digest: {why}")]
pub struct BadDigest {
    pub value: String,
    pub why: &'static str,
}

impl Digest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The digest whose sha256 is `hash` (a hasher's output).
    pub fn from_sha256(hash: [u8; 32]) -> Digest {
        Digest {
            hex: hex::encode(hash),
        }
    }

    /// The 64 lower-case hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl std::str::FromStr for Digest {
    type Err = BadDigest;

    /// `sha256:` and 64 lower-case hex digits, as the OCI image spec writes them.
    fn from_str(value: &str) -> Result<Digest, BadDigest> {
        let bad = |why| BadDigest {
            value: value.chars().take(80).collect(),
            why,
        };
        let (algorithm, hex) = value
            .split_once(':')
            .ok_or_else(|| bad("no algorithm (sha256:...)"))?;
        if algorithm != "sha256" {
            return Err(bad("only sha256 is supported"));
        }
        if !is_sha256_hex(hex) {
            return Err(bad("sha256 needs 64 lower-case hex digits"));
        }
        Ok(Digest { hex: hex.into() })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

/// Whether `hex` is a sha256 as digests and image IDs write it: 64 lower-case hex
/// digits.
pub fn is_sha256_hex(hex: &str) -> bool {
    hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_with_64_lower_case_hex_digits_is_a_digest() {
        let hex = "a".repeat(64);
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        assert_eq!(d.hex(), hex);
        assert_eq!(d.to_string(), format!("sha256:{hex}"));
        for bad in [
            hex.clone(),
            format!("sha512:{hex}"),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("sha256:{}/", "a".repeat(63)),
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad}");
        }
        assert_eq!(
            Digest::of(b"").hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
