//! Platforms (`OS/ARCH[/VARIANT]`) and the choice of an index's manifest for one, as
//! containerd chooses: the exact platform first, then for ARM the older variants a
//! CPU also runs (v8 → v7 → v6 → v5); arm64 with no variant is arm64/v8. Debian's
//! architecture names are read as Isar maps them (armhf = arm/v7, armel = arm/v6).

use berth_format::arch::go_arch;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("platform {value:?}: {why}")]
pub struct BadPlatform {
    pub value: String,
    pub why: &'static str,
}

impl Platform {
    /// Linux on this machine's architecture.
    pub fn host() -> Platform {
        let (architecture, variant) = go_arch(std::env::consts::ARCH);
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: variant.map(String::from),
        }
    }

    /// The variants this platform runs, best first: itself, then for ARM the older
    /// ones (arm64 with no variant counts as v8).
    fn acceptable(&self) -> Vec<Option<String>> {
        let variant = self
            .variant
            .clone()
            .or_else(|| (self.architecture == "arm64").then(|| "v8".to_string()));
        let order: &[&str] = match self.architecture.as_str() {
            "arm64" => &["v8"],
            "arm" => &["v8", "v7", "v6", "v5"],
            _ => &[],
        };
        match variant {
            Some(v) if order.contains(&v.as_str()) => order
                .iter()
                .skip_while(|o| **o != v)
                .map(|o| Some(o.to_string()))
                .collect(),
            other => vec![other],
        }
    }

    /// The index entry to use for this platform: `entries` are the platforms of an
    /// index's manifests, in order; returns the position of the best one.
    pub fn choose(&self, entries: &[Option<Platform>]) -> Option<usize> {
        let normal = |p: &Platform| {
            let v = p
                .variant
                .clone()
                .or_else(|| (p.architecture == "arm64").then(|| "v8".to_string()));
            (p.os.clone(), p.architecture.clone(), v)
        };
        for variant in self.acceptable() {
            let wanted = (self.os.clone(), self.architecture.clone(), variant);
            if let Some(i) = entries
                .iter()
                .position(|e| e.as_ref().is_some_and(|p| normal(p) == wanted))
            {
                return Some(i);
            }
        }
        None
    }
}

impl std::str::FromStr for Platform {
    type Err = BadPlatform;

    /// `OS/ARCH[/VARIANT]` (`linux/arm/v7`), or a Debian architecture name alone
    /// (`armhf`), meaning Linux.
    fn from_str(value: &str) -> Result<Platform, BadPlatform> {
        let bad = |why| BadPlatform {
            value: value.chars().take(80).collect(),
            why,
        };
        let parts: Vec<&str> = value.split('/').collect();
        let ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        };
        if !parts.iter().all(|p| ok(p)) {
            return Err(bad("each part is lower-case letters, digits or _"));
        }
        let (os, arch, variant) = match parts.as_slice() {
            [arch] => ("linux", *arch, None),
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(bad("write OS/ARCH[/VARIANT], e.g. linux/arm/v7")),
        };
        let (architecture, implied) = go_arch(arch);
        Ok(Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.or(implied).map(String::from),
        })
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn platforms_and_debian_names_parse() {
        assert_eq!(p("linux/amd64").to_string(), "linux/amd64");
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        assert_eq!(p("armhf").to_string(), "linux/arm/v7");
        assert_eq!(p("armel").to_string(), "linux/arm/v6");
        assert_eq!(p("arm64").to_string(), "linux/arm64/v8");
        for bad in ["", "linux//arm", "Linux/amd64", "a/b/c/d", "linux/arm/v7 "] {
            assert!(bad.parse::<Platform>().is_err(), "{bad:?}");
        }
        assert_eq!(Platform::host().os, "linux");
    }

    #[test]
    fn the_index_entry_is_chosen_as_containerd_does() {
        let index = [
            Some(p("linux/amd64")),
            Some(Platform {
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: None,
            }),
            Some(p("linux/arm/v6")),
            None,
            Some(p("linux/arm/v7")),
        ];
        assert_eq!(p("linux/amd64").choose(&index), Some(0));
        // arm64 with no variant is arm64/v8.
        assert_eq!(p("linux/arm64/v8").choose(&index), Some(1));
        assert_eq!(p("linux/arm/v7").choose(&index), Some(4));
        assert_eq!(p("armhf").choose(&index), Some(4));
        // v8 (32-bit) falls back to v7 before v6; v6 never takes v7.
        assert_eq!(p("linux/arm/v8").choose(&index), Some(4));
        assert_eq!(p("linux/arm/v6").choose(&index), Some(2));
        assert_eq!(p("linux/arm/v5").choose(&index), None);
        assert_eq!(p("linux/riscv64").choose(&index), None);
        assert_eq!(p("windows/amd64").choose(&index), None);
    }
}
