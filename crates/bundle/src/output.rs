//! What a generation leaves: config.json as BundleGen writes it (Python's
//! `json.dump(indent=4, ensure_ascii=False)`: four-space indent, `": "`, no final
//! newline), and OUTPUTDIR.tar.gz or OUTPUTDIR.ipk. The tarball holds the bundle's
//! content at its root (`config.json`, `rootfs/…`) as BundleGen's does, minus the
//! entry with an empty name BundleGen's tarfile call adds first; entries sorted, no
//! user or group names, owners and mode changed as the platform's `tarball` section
//! says. An .ipk is BundleGen's: a gzip tarball of `data.tar.gz`, `control.tar.gz`
//! and `debian-binary`.

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// config.json's bytes.
pub fn config_json(config: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    config.serialize(&mut ser).expect("JSON values serialise");
    out
}

/// How entries are written: owner forced where set, mode masked, mtimes clamped.
#[derive(Debug, Clone, Copy, Default)]
pub struct TarOptions {
    pub uid: Option<u64>,
    pub gid: Option<u64>,
    pub mode_mask: Option<u32>,
    pub epoch: Option<i64>,
}

/// Parses `tarball.fileMask` (octal digits, as BundleGen's `int(mask, 8)`).
pub fn parse_mask(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("tarball.fileMask {text:?} is not an octal mode (770)"))
}

/// Every path below `dir`, relative, sorted by bytes, directories before content.
fn walk(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let child = rel.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                stack.push(child.clone());
            }
            out.push(child);
        }
    }
    out.sort_by(|a, b| {
        a.as_os_str()
            .as_encoded_bytes()
            .cmp(b.as_os_str().as_encoded_bytes())
    });
    Ok(out)
}

/// The content of `dir` as a gzip tarball written to `out`.
pub fn write_tgz(dir: &Path, out: &mut dyn Write, options: &TarOptions) -> io::Result<()> {
    let gz =
        berth_compress::ParallelGzipWriter::new(out, berth_compress::DEFAULT_LEVEL, threads())?;
    let mut b = tar::Builder::new(gz);
    let mut buf = vec![0; berth_image::build::layer_tar::COPY_CHUNK];
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for rel in walk(dir)? {
        let path = dir.join(&rel);
        let m = fs::symlink_metadata(&path)?;
        let t = m.file_type();
        let mut h = tar::Header::new_gnu();
        h.set_mode(m.mode() & 0o7777 & options.mode_mask.unwrap_or(0o7777));
        h.set_uid(options.uid.unwrap_or(m.uid() as u64));
        h.set_gid(options.gid.unwrap_or(m.gid() as u64));
        let mtime = match options.epoch {
            Some(epoch) => m.mtime().clamp(0, epoch.max(0)),
            None => m.mtime().max(0),
        };
        h.set_mtime(mtime as u64);
        h.set_size(0);
        if t.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, &rel, io::empty())?;
        } else if t.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            b.append_link(&mut h, &rel, fs::read_link(&path)?)?;
        } else if t.is_file() {
            if m.nlink() > 1 {
                if let Some(first) = links.get(&(m.dev(), m.ino())) {
                    h.set_entry_type(tar::EntryType::Link);
                    b.append_link(&mut h, &rel, first)?;
                    continue;
                }
                links.insert((m.dev(), m.ino()), rel.clone());
            }
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(m.len());
            let file = fs::File::open(&path)?;
            berth_image::build::layer_tar::append_file(&mut b, &mut h, &rel, file, &mut buf)?;
        } else if t.is_fifo() {
            h.set_entry_type(tar::EntryType::Fifo);
            b.append_data(&mut h, &rel, io::empty())?;
        }
        // Device nodes and sockets: a rootless unpack has none to keep.
    }
    b.into_inner()?.finish()?;
    Ok(())
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A gzip tarball of in-memory files, in the order given (mode 0644, owner 0).
fn small_tgz(files: &[(&str, &[u8])], epoch: i64) -> io::Result<Vec<u8>> {
    let gz = berth_compress::ParallelGzipWriter::new(Vec::new(), berth_compress::DEFAULT_LEVEL, 1)?;
    let mut b = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_mtime(epoch.max(0) as u64);
        h.set_size(bytes.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *bytes)?;
    }
    b.into_inner()?.finish()
}

/// The .ipk of `dir`: data.tar.gz (the bundle, owners as they are), control.tar.gz
/// (`control`), debian-binary (`2.0`).
pub fn write_ipk(dir: &Path, control: &str, out: &mut dyn Write, epoch: i64) -> io::Result<()> {
    let mut data = Vec::new();
    write_tgz(
        dir,
        &mut data,
        &TarOptions {
            epoch: Some(epoch),
            ..TarOptions::default()
        },
    )?;
    let control = small_tgz(&[("control", control.as_bytes())], epoch)?;
    let ipk = small_tgz(
        &[
            ("data.tar.gz", &data),
            ("control.tar.gz", &control),
            ("debian-binary", b"2.0"),
        ],
        epoch,
    )?;
    out.write_all(&ipk)
}

/// BundleGen's control file; its `Architecture` is arch and variant run together
/// (`armv7`), and `armNone` without a variant, which berth writes as `arm`.
pub fn control_file(app: &Value, platform: &serde_json::Map<String, Value>) -> String {
    let text = |v: &Value, default: &str| v.as_str().unwrap_or(default).to_string();
    let arch = platform.get("arch").cloned().unwrap_or_default();
    let architecture = match (&arch["arch"], &arch["variant"]) {
        (Value::Null, _) => String::new(),
        (a, Value::Null) => a.as_str().map_or_else(|| a.to_string(), String::from),
        (a, v) => format!(
            "{}{}",
            a.as_str().map_or_else(|| a.to_string(), String::from),
            v.as_str().map_or_else(|| v.to_string(), String::from)
        ),
    };
    format!(
        "Package: {}\nVersion: {}\nArchitecture: {architecture}\nDescription: {}\nPriority: {}\nDepends: \n",
        text(&app["id"], "test_package"),
        text(&app["version"], "1.0.0"),
        text(&app["description"], "some package"),
        text(&app["priority"], "optional"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn config_json_is_formatted_as_python_dumps_it() {
        let v = json!({"a": [], "b": {}, "c": [1, "é"], "d": {"e": true}});
        let text = String::from_utf8(config_json(&v)).unwrap();
        let python = "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n        1,\n        \"é\"\n    ],\n    \"d\": {\n        \"e\": true\n    }\n}";
        assert_eq!(text, python);
    }

    #[test]
    fn masks_are_octal() {
        assert_eq!(parse_mask("770"), Ok(0o770));
        assert!(
            parse_mask("89").is_err() && parse_mask("").is_err() && parse_mask("77777").is_err()
        );
    }
}
