//! Extended attributes a built layer keeps: file capabilities (`security.capability`,
//! what makes `ping` work unprivileged), `user.*`, `trusted.*`, IMA/EVM signatures.
//! Left out: SELinux labels (the build host's policy, not the image's), POSIX ACLs
//! and other `system.*` names (filesystem-specific encodings), and umoci's rootless
//! bookkeeping (`user.rootlesscontainers`). Written as PAX `SCHILY.xattr.NAME`
//! records, as GNU tar, umoci and containers/storage write them, sorted by name.

use rustix::io::Errno;
use std::io;
use std::path::Path;

fn kept(name: &str) -> bool {
    name != "security.selinux" && name != "user.rootlesscontainers" && !name.starts_with("system.")
}

/// The kept attributes of `path` (not following a symlink), sorted by name. A
/// filesystem without xattrs has none.
pub fn read(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let size = match rustix::fs::llistxattr_query(path) {
        Ok(0) => return Ok(Vec::new()),
        Ok(n) => n,
        Err(Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut list = vec![0u8; size];
    let n = rustix::fs::llistxattr(path, &mut list[..])?;
    list.truncate(n);
    let mut out = Vec::new();
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "an xattr name that is not UTF-8",
            )
        })?;
        if !kept(name) {
            continue;
        }
        let len = match rustix::fs::lgetxattr_query(path, name) {
            Ok(len) => len,
            Err(Errno::NODATA) => continue, // removed since listed
            Err(e) => return Err(e.into()),
        };
        let mut value = vec![0u8; len];
        let n = rustix::fs::lgetxattr(path, name, &mut value[..])?;
        value.truncate(n);
        out.push((name.to_string(), value));
    }
    out.sort();
    Ok(out)
}

/// The PAX records of `xattrs`.
pub fn pax_records(xattrs: &[(String, Vec<u8>)]) -> Vec<(String, &[u8])> {
    xattrs
        .iter()
        .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_attributes_are_read_sorted_and_bookkeeping_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "x").unwrap();
        for (k, v) in [
            ("user.zeta", &b"2"[..]),
            ("user.alpha", b"\x00\x01binary"),
            ("user.rootlesscontainers", b"uid"),
        ] {
            rustix::fs::setxattr(&f, k, v, rustix::fs::XattrFlags::empty())
                .expect("the test directory's filesystem must hold user xattrs");
        }
        let got = read(&f).unwrap();
        assert_eq!(
            got,
            vec![
                ("user.alpha".to_string(), b"\x00\x01binary".to_vec()),
                ("user.zeta".to_string(), b"2".to_vec())
            ]
        );
    }
}
