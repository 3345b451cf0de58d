//! Layers that try every way out of their root, and the sentinel they aim at.

use crate::images::*;
use crate::*;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use tar::EntryType;

/// The sentinel outside the unpack: its tree (types, contents, modes, owners, times)
/// and the metadata of the directory itself.
pub fn sentinel(outside: &Path) -> (BTreeMap<String, String>, String) {
    let m = std::fs::symlink_metadata(outside).unwrap();
    let own = format!(
        "mode {:o} owner {}:{} mtime {}",
        m.mode(),
        m.uid(),
        m.gid(),
        m.mtime()
    );
    (tree(outside), own)
}

/// Layers that try every way out of the root they are applied to, aimed at the
/// directory `o` (which holds a file `secret` and a directory `q`).
pub fn hostile_layers(o: &str) -> Vec<(&'static str, Vec<u8>)> {
    let up = "../../../../../../../../..";
    vec![
        (
            "dotdot-name",
            LayerTar::new()
                .raw(&format!("{up}{o}/pwned"), EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "absolute-name",
            LayerTar::new()
                .raw(&format!("{o}/pwned"), EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "through-absolute-symlink",
            LayerTar::new()
                .symlink("evil", o)
                .raw("evil/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "through-relative-symlink",
            LayerTar::new()
                .symlink("evil", &format!("{up}{o}"))
                .raw("evil/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "through-a-symlink-chain",
            LayerTar::new()
                .symlink("a", "b")
                .symlink("b", &format!("c{o}"))
                .symlink("c", up)
                .raw("a/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "dotdot-after-symlink",
            LayerTar::new()
                .dir("d", 0o755)
                .symlink("d/s", "/")
                .raw(
                    &format!("d/s/{up}{o}/pwned"),
                    EntryType::Regular,
                    None,
                    b"x",
                )
                .finish(),
        ),
        (
            "hardlink-to-outside",
            LayerTar::new()
                .raw(
                    "stolen",
                    EntryType::Link,
                    Some(&format!("{up}{o}/secret")),
                    b"",
                )
                .finish(),
        ),
        (
            "hardlink-through-symlink",
            LayerTar::new()
                .symlink("evil", o)
                .raw("stolen", EntryType::Link, Some("evil/secret"), b"")
                .finish(),
        ),
        (
            "write-through-a-hardlinked-symlink",
            LayerTar::new()
                .symlink("evil", &format!("{o}/secret"))
                .raw("h", EntryType::Link, Some("evil"), b"")
                .raw("h", EntryType::Regular, None, b"overwritten")
                .finish(),
        ),
        (
            "file-over-symlink",
            LayerTar::new()
                .symlink("f", &format!("{o}/secret"))
                .raw("f", EntryType::Regular, None, b"overwritten")
                .finish(),
        ),
        (
            "whiteout-through-symlink",
            LayerTar::new()
                .symlink("evil", o)
                .raw("evil/.wh.secret", EntryType::Regular, None, b"")
                .finish(),
        ),
        (
            "whiteout-dotdot",
            LayerTar::new()
                .raw(
                    &format!("{up}{o}/.wh.secret"),
                    EntryType::Regular,
                    None,
                    b"",
                )
                .finish(),
        ),
        (
            "opaque-through-symlink",
            LayerTar::new()
                .symlink("evil", o)
                .raw("evil/.wh..wh..opq", EntryType::Regular, None, b"")
                .finish(),
        ),
        (
            "directory-over-symlink",
            LayerTar::new()
                .symlink("evil", o)
                .dir("evil", 0o777)
                .raw("evil/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "device-node-name-escape",
            LayerTar::new()
                .raw(&format!("{up}{o}/null"), EntryType::Char, None, b"")
                .finish(),
        ),
        (
            "symlink-loop",
            LayerTar::new()
                .symlink("loop", "loop")
                .raw("loop/pwned", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "etc-symlinked-out-then-written",
            LayerTar::new()
                .raw(".wh.etc", EntryType::Regular, None, b"")
                .symlink("etc", o)
                .raw("etc/hostname", EntryType::Regular, None, b"x")
                .finish(),
        ),
        (
            "whiteout-of-the-root",
            LayerTar::new()
                .raw(".wh..", EntryType::Regular, None, b"")
                .finish(),
        ),
        // Issue 21, finding 1: a directory's mode and time are restored at the end of
        // the layer; a later entry replaced the directory with a symlink to a host file.
        (
            "directory-mode-through-a-later-absolute-symlink",
            LayerTar::new()
                .dir("a", 0o4777)
                .symlink("a", &format!("{o}/secret"))
                .finish(),
        ),
        (
            "directory-mode-through-a-later-relative-symlink",
            LayerTar::new()
                .dir("a", 0o4777)
                .symlink("a", &format!("{up}{o}/secret"))
                .finish(),
        ),
        // ... or replaced a parent of it with a symlink to a host directory.
        (
            "directory-mode-through-a-later-parent-symlink",
            LayerTar::new()
                .dir("p", 0o755)
                .dir("p/q", 0o777)
                .symlink("p", o)
                .finish(),
        ),
        (
            "directory-time-through-a-later-parent-symlink",
            LayerTar::new()
                .dir("p", 0o755)
                .dir("p/q", 0o755)
                .file("p/q/new", b"x", 0o644)
                .symlink("p", &format!("{up}{o}"))
                .finish(),
        ),
    ]
}

/// The cases of `hostile_layers` berth refuses, each with the rule its one error line
/// names; every other case is applied inside the root (the names cleaned, the links
/// resolved there). Whatever the outcome, nothing outside the root changes.
pub const REFUSED: &[(&str, &str)] = &[
    ("hardlink-to-outside", "hard link target"),
    ("hardlink-through-symlink", "hard link target"),
    ("symlink-loop", "too many levels of symbolic links"),
    ("whiteout-of-the-root", "a whiteout that names no file"),
];

/// The rule berth refuses hostile case `name` by, or None when it applies it inside.
pub fn refusal(name: &str) -> Option<&'static str> {
    REFUSED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, rule)| *rule)
}

/// What an escape would hit: a directory `outside` in `work` with a secret file and
/// a directory, with modes and times of their own.
pub fn make_sentinel(work: &Path) -> std::path::PathBuf {
    let outside = work.join("outside");
    std::fs::create_dir_all(outside.join("q")).unwrap();
    std::fs::write(outside.join("secret"), "untouched").unwrap();
    for (path, mode) in [(outside.join("secret"), 0o600), (outside.join("q"), 0o700)] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        std::fs::File::open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    outside
}
