//! systemd's second opinion on units: `systemd-analyze verify`, and podman's own
//! Quadlet generator for .container files.

use crate::*;
use std::path::{Path, PathBuf};

/// podman 5.4's quadlet binary (Debian 12's podman 4.3 has none), put there by
/// scripts/setup.sh.
pub const QUADLET: &str = "/opt/berth-test/quadlet";

/// `systemd-analyze verify` of `unit`: its exit code and what it said of the unit.
/// It exits 0 on values it ignores (`Restart=unless-stopped`), so its warnings
/// about the file count too.
pub fn verify(unit: &Path) -> Result<(), String> {
    let out = run(cmd("systemd-analyze", &["verify"]).arg(unit));
    let name = unit.file_name().unwrap().to_string_lossy().into_owned();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let about: Vec<&str> = err.lines().filter(|l| l.contains(&name)).collect();
    if out.status.success() && about.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {err}", unit.display()))
    }
}

/// The services Quadlet generates from `dir`'s .container files, written to `out`.
pub fn quadlet_services(dir: &Path, out: &Path) -> Vec<PathBuf> {
    require(&[QUADLET]);
    let printed = run(cmd(QUADLET, &["-dryrun"]).env("QUADLET_UNIT_DIRS", dir));
    assert!(
        printed.status.success(),
        "{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    let text = String::from_utf8(printed.stdout).unwrap();
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for line in text.lines() {
        let header = line.strip_prefix("---").and_then(|l| l.strip_suffix("---"));
        match (header, files.last_mut()) {
            (Some(name), _) => files.push((out.join(name), String::new())),
            (None, Some((_, body))) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    for (path, body) in &files {
        std::fs::write(path, body).unwrap();
    }
    let files: Vec<PathBuf> = files.into_iter().map(|(p, _)| p).collect();
    files
}

/// The Quadlets under `root`'s /etc/containers/systemd turned into services (in
/// `out`) and each verified; returns their file names, sorted.
pub fn verify_quadlets(root: &Path, out: &Path) -> Vec<String> {
    let services = quadlet_services(&root.join("etc/containers/systemd"), out);
    for service in &services {
        verify(service).unwrap();
    }
    let mut names: Vec<String> = services
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
