//! Which files of a root filesystem go into which layer: meta-virtualization's
//! `OCI_LAYERS` syntax (`NAME:TYPE:CONTENT`, items joined by `+`) with the types
//! `directories`, `files`, `host` (`SRC:DST` from outside the rootfs) and `packages`
//! (the files a package owns, read from the rootfs's own dpkg or opkg database).
//! A file goes to the first layer that takes it; one no layer takes is left out
//! unless a rest layer collects it.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerKind {
    /// Directories of the rootfs, with everything below them.
    Directories(Vec<PathBuf>),
    /// Single paths of the rootfs.
    Files(Vec<PathBuf>),
    /// `SRC:DST`: files from the build host put at DST.
    Host(Vec<(PathBuf, PathBuf)>),
    /// Packages of the rootfs's package database.
    Packages(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSpec {
    pub name: String,
    pub kind: LayerKind,
}

impl std::str::FromStr for LayerSpec {
    type Err = String;

    /// `NAME:TYPE:CONTENT`.
    fn from_str(s: &str) -> Result<LayerSpec, String> {
        let mut parts = s.splitn(3, ':');
        let (name, kind, content) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(k), Some(c)) if !n.is_empty() && !c.is_empty() => (n, k, c),
            _ => return Err(format!("{s:?}: a layer is NAME:TYPE:CONTENT")),
        };
        if !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!("{s:?}: a layer name is letters, digits, . _ -"));
        }
        let items: Vec<&str> = content.split('+').filter(|i| !i.is_empty()).collect();
        let rel = |i: &str| -> Result<PathBuf, String> {
            let p = crate::unpack::inside::clean(Path::new(i));
            if p.as_os_str().is_empty() {
                return Err(format!("{s:?}: {i:?} names the whole rootfs"));
            }
            Ok(p)
        };
        let kind = match kind {
            "directories" => {
                LayerKind::Directories(items.iter().map(|i| rel(i)).collect::<Result<_, _>>()?)
            }
            "files" => LayerKind::Files(items.iter().map(|i| rel(i)).collect::<Result<_, _>>()?),
            "host" => LayerKind::Host(
                items
                    .iter()
                    .map(|i| match i.split_once(':') {
                        Some((src, dst)) if !src.is_empty() => Ok((PathBuf::from(src), rel(dst)?)),
                        _ => Err(format!("{s:?}: a host item is SRC:DST")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "packages" => LayerKind::Packages(items.iter().map(|i| i.to_string()).collect()),
            other => {
                return Err(format!(
                    "{s:?}: type {other:?} is not directories, files, host or packages"
                ))
            }
        };
        Ok(LayerSpec {
            name: name.into(),
            kind,
        })
    }
}

/// Every path of `rootfs` (relative, sorted by bytes), directories before their content.
pub fn walk(rootfs: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(rootfs.join(&dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        let mut subdirs = Vec::new();
        for name in names {
            let rel = dir.join(&name);
            if fs::symlink_metadata(rootfs.join(&rel))?.is_dir() {
                subdirs.push(rel.clone());
            }
            out.push(rel);
        }
        stack.extend(subdirs.into_iter().rev());
    }
    out.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(out)
}

/// The files package `name` owns, from `var/lib/dpkg/info/NAME[:ARCH].list` or
/// `var/lib/opkg/info/NAME.list` of the rootfs, or its rpm database (`rpmdb.rs`).
pub fn package_files(rootfs: &Path, name: &str) -> Result<Vec<PathBuf>, String> {
    if name.contains('/') || name.starts_with('.') {
        return Err(format!("package name {name:?}"));
    }
    let mut lists = Vec::new();
    for db in [
        "var/lib/dpkg/info",
        "var/lib/opkg/info",
        "usr/lib/opkg/info",
    ] {
        // Resolved inside the rootfs: a symlinked database directory must not
        // lead to the host's.
        let Ok(dir) = crate::unpack::inside::resolve(rootfs, Path::new(db), true) else {
            continue;
        };
        let Ok(entries) = fs::read_dir(rootfs.join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(".list") else {
                continue;
            };
            if stem == name || stem.split_once(':').is_some_and(|(n, _)| n == name) {
                lists.push(e.path());
            }
        }
    }
    if lists.is_empty() {
        if let Some(files) = super::rpmdb::package_files(rootfs, name)? {
            return Ok(files);
        }
        return Err(format!(
            "package {name:?} is not in the rootfs's dpkg, opkg or rpm database"
        ));
    }
    let mut files = Vec::new();
    for list in lists {
        let text = fs::read_to_string(&list).map_err(|e| format!("{}: {e}", list.display()))?;
        for line in text.lines() {
            // opkg may follow a path with a tab and more fields.
            let path = line.split('\t').next().unwrap_or("");
            let rel = crate::unpack::inside::clean(Path::new(path));
            if !rel.as_os_str().is_empty() {
                files.push(rel);
            }
        }
    }
    Ok(files)
}

/// What each layer takes: per layer, the rootfs paths it holds (with their parent
/// directories), and the host files it adds. The rest of the rootfs goes to
/// `rest` when given, else nowhere.
pub struct Selection {
    pub layers: Vec<Selected>,
}

/// One layer's share: its name, the rootfs paths it holds, the host files it adds.
pub struct Selected {
    pub name: String,
    pub paths: Vec<PathBuf>,
    pub host: Vec<(PathBuf, PathBuf)>,
}

/// Whether a layer takes a rootfs path.
type Taker = Box<dyn Fn(&Path) -> bool>;

pub fn select(rootfs: &Path, specs: &[LayerSpec], rest: Option<&str>) -> Result<Selection, String> {
    let all = walk(rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))?;
    if specs.is_empty() {
        return Ok(Selection {
            layers: vec![Selected {
                name: rest.unwrap_or("rootfs").to_string(),
                paths: all,
                host: Vec::new(),
            }],
        });
    }
    let mut taken = BTreeSet::new();
    let mut layers = Vec::new();
    for spec in specs {
        let (wanted, host): (Taker, Vec<(PathBuf, PathBuf)>) = match &spec.kind {
            LayerKind::Directories(dirs) => {
                let dirs = dirs.clone();
                (
                    Box::new(move |p: &Path| dirs.iter().any(|d| p.starts_with(d))),
                    Vec::new(),
                )
            }
            LayerKind::Files(files) => {
                let files: BTreeSet<PathBuf> = files.iter().cloned().collect();
                (Box::new(move |p: &Path| files.contains(p)), Vec::new())
            }
            LayerKind::Packages(names) => {
                let mut files = BTreeSet::new();
                for n in names {
                    files.extend(package_files(rootfs, n)?);
                }
                (Box::new(move |p: &Path| files.contains(p)), Vec::new())
            }
            LayerKind::Host(items) => (Box::new(|_: &Path| false), items.clone()),
        };
        let mut paths = BTreeSet::new();
        for p in &all {
            if !taken.contains(p) && wanted(p) {
                taken.insert(p.clone());
                for a in p.ancestors().skip(1) {
                    if a.as_os_str().is_empty() {
                        break;
                    }
                    paths.insert(a.to_path_buf());
                }
                paths.insert(p.clone());
            }
        }
        layers.push(Selected {
            name: spec.name.clone(),
            paths: sorted(paths),
            host,
        });
    }
    if let Some(rest) = rest {
        let mut paths = BTreeSet::new();
        for p in all.iter().filter(|p| !taken.contains(*p)) {
            for a in p.ancestors() {
                if a.as_os_str().is_empty() {
                    break;
                }
                paths.insert(a.to_path_buf());
            }
        }
        layers.push(Selected {
            name: rest.to_string(),
            paths: sorted(paths),
            host: Vec::new(),
        });
    }
    Ok(Selection { layers })
}

fn sorted(paths: BTreeSet<PathBuf>) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = paths.into_iter().collect();
    v.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_package_database_is_followed_inside_the_rootfs_never_to_the_host() {
        let host = tempfile::tempdir().unwrap();
        std::fs::write(host.path().join("evil.list"), "/etc/shadow\n").unwrap();
        let rootfs = tempfile::tempdir().unwrap();
        let lib = rootfs.path().join("var/lib/dpkg");
        std::fs::create_dir_all(&lib).unwrap();
        // An absolute link: on the host it would name the host's directory.
        std::os::unix::fs::symlink(host.path(), lib.join("info")).unwrap();
        let e = package_files(rootfs.path(), "evil").unwrap_err();
        assert!(
            e.contains("not in the rootfs's dpkg, opkg or rpm database"),
            "{e}"
        );
        // The same link target inside the rootfs is where the lists are read.
        let inside = rootfs.path().join(host.path().strip_prefix("/").unwrap());
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::write(inside.join("evil.list"), "/opt/x\n").unwrap();
        assert_eq!(
            package_files(rootfs.path(), "evil").unwrap(),
            [PathBuf::from("opt/x")]
        );
    }
}
