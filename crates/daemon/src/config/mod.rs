//! berthd's configuration: the cc-container-mng.conf schema (`version`, `service`,
//! `logging`) plus berth's own sections (`api`, `trust`, `runtimes`). A missing file at the default
//! path means the built-in defaults; wrong types or values stop the start-up with one
//! line per problem naming the key; unknown keys are warned about and ignored.

use crate::FileIssues;
use berth_package::manifest::{json_object, Checker};
use std::path::{Path, PathBuf};

/// Where berthd looks for its configuration when `--config` is not given, in order:
/// its own file, then Digi's cc-containerd's (so berthd replaces it without edits).
pub const DEFAULT_CONFIG_PATHS: [&str; 2] =
    ["/etc/berth/berthd.conf", "/etc/cc-container-mng.conf"];
pub const DEFAULT_WORKING_PATH: &str = "/var/lib/berth";

mod fields;
mod model;
pub mod registry;
mod sections;

pub use model::{
    Api, Config, Device, FileSink, ImageEngine, Level, Logging, Runtimes, Service, Sink, Trust,
    Updates,
};

/// Where `device.id` comes from when the configuration does not set it.
pub const MACHINE_ID_PATH: &str = "/etc/machine-id";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(FileIssues),
}

/// A loaded configuration and the warnings (unknown keys) to log.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// None when the built-in defaults are used.
    pub path: Option<PathBuf>,
    pub warnings: Vec<String>,
}

/// Loads `explicit` (which must exist), or the first of `DEFAULT_CONFIG_PATHS` that
/// exists, or the built-in defaults; `device.id` defaults to the machine id.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let mut loaded = load_from(explicit, &DEFAULT_CONFIG_PATHS.map(Path::new))?;
    if loaded.config.device.id.is_none() {
        loaded.config.device.id = std::fs::read_to_string(MACHINE_ID_PATH)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
    }
    Ok(loaded)
}

/// `load`, with the default paths given (tests point them into a directory).
pub fn load_from(explicit: Option<&Path>, defaults: &[&Path]) -> Result<Loaded, ConfigError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => match defaults.iter().find(|p| p.exists()) {
            Some(p) => p.to_path_buf(),
            None => {
                return Ok(Loaded {
                    config: Config::default(),
                    path: None,
                    warnings: Vec::new(),
                })
            }
        },
    };
    let bytes = std::fs::read(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let (config, warnings) = parse(&bytes).map_err(|issues| {
        ConfigError::Invalid(FileIssues {
            path: path.clone(),
            issues,
        })
    })?;
    let warnings = warnings
        .into_iter()
        .map(|w| format!("{}: {w}", path.display()))
        .collect();
    Ok(Loaded {
        config,
        path: Some(path),
        warnings,
    })
}

/// Parses and validates configuration bytes: the configuration and its warnings, or
/// every broken rule.
pub fn parse(
    bytes: &[u8],
) -> Result<(Config, Vec<String>), Vec<berth_package::manifest::FieldIssue>> {
    let root = json_object(bytes).map_err(|issue| vec![issue])?;
    let mut c = Checker::default();
    let mut warnings = Vec::new();
    fields::unknown_keys("", &root, &mut warnings);
    let mut cfg = Config::default();
    sections::version(&mut c, &root);
    type Parser = fn(&mut Checker, &serde_json::Map<String, serde_json::Value>, &mut Config);
    let parsers: [(&str, Parser); 7] = [
        ("service", sections::service),
        ("logging", sections::logging),
        ("api", sections::api),
        ("trust", sections::trust),
        ("runtimes", sections::runtimes),
        ("device", sections::device),
        ("updates", sections::updates),
    ];
    for (name, parse_section) in parsers {
        if let Some(s) = fields::section(&mut c, &root, name) {
            parse_section(&mut c, s, &mut cfg);
        }
    }
    cfg.registry = registry::parse(&mut c, &root);
    if c.issues.is_empty() {
        Ok((cfg, warnings))
    } else {
        Err(c.issues)
    }
}

#[cfg(test)]
mod tests;
