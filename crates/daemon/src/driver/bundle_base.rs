//! An installed bundle as a delta's base: a file is found by the path the delta
//! names (where the base version held it), resolved inside the bundle — its
//! symlinks followed as the container would, never out of it — and only if it is
//! a regular file of the size the delta says. Its content is checked by the reader
//! (its SHA-256) as it is read: a file the container changed is refused, not used.

use berth_package::delta::Base;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

pub struct BundleBase {
    root: berth_fs::Root,
}

impl BundleBase {
    pub fn new(dir: PathBuf) -> io::Result<BundleBase> {
        let root = berth_fs::Root::open(&dir)
            .map_err(|e| io::Error::new(io::ErrorKind::NotFound, e.to_string()))?;
        Ok(BundleBase { root })
    }
}

impl Base for BundleBase {
    fn open(&mut self, digest: &str, size: u64, path: Option<&str>) -> io::Result<Box<dyn Read>> {
        let not_found = || io::Error::new(io::ErrorKind::NotFound, digest.to_string());
        let path = path.ok_or_else(not_found)?;
        let host = self.root.path(path, false).map_err(|_| not_found())?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(&host)
            .map_err(|_| not_found())?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() != size {
            return Err(not_found());
        }
        Ok(Box::new(io::BufReader::new(file).take(size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_inside_the_bundle_only() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs/etc")).unwrap();
        std::fs::write(bundle.join("rootfs/etc/app"), b"hello").unwrap();
        std::fs::write(dir.path().join("host-secret"), b"hello").unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("host-secret"),
            bundle.join("rootfs/etc/link"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/", bundle.join("rootfs/up")).unwrap();
        let mut base = BundleBase::new(bundle).unwrap();
        let mut got = String::new();
        base.open("sha256:x", 5, Some("rootfs/etc/app"))
            .unwrap()
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "hello");
        for outside in [
            "rootfs/etc/link",
            "../host-secret",
            "rootfs/up/etc/passwd",
            "/etc/passwd",
        ] {
            let r = base.open("sha256:x", 5, Some(outside));
            assert!(r.is_err(), "{outside} reached");
        }
        assert!(
            base.open("sha256:x", 6, Some("rootfs/etc/app")).is_err(),
            "size checked"
        );
        assert!(base.open("sha256:x", 5, None).is_err());
    }
}
