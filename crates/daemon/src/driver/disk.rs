//! Free-space checks before a payload is written. Sizes come from a manifest and are
//! hostile input: every product is checked, and an overflow is "no space".

use crate::error::OpError;
use std::path::{Path, PathBuf};

pub fn free_bytes(path: &Path) -> u64 {
    rustix::fs::statvfs(path)
        .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
        .unwrap_or(0)
}

pub fn same_filesystem(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev(),
        _ => false,
    }
}

/// The nearest directory of `path` that exists (a store not yet created).
pub fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"))
        .to_path_buf()
}

/// `factor * size` plus 5 % plus 16 MiB, or `None` when that overflows.
pub fn need_with_margin(size: u64, factor: u64) -> Option<u64> {
    let n = size.checked_mul(factor)?;
    n.checked_add(n / 20)?.checked_add(16 << 20)
}

/// Checks that each path's filesystem has the bytes it needs (`None`: more than
/// any disk holds). `what` says what is installed, for the message.
pub fn check(needs: &[(PathBuf, Option<u64>)], id: &str, what: &str) -> Result<(), OpError> {
    for (path, need) in needs {
        let free = free_bytes(path);
        let Some(need) = need else {
            return Err(OpError::NoSpace(format!(
                "installing {id} ({what}) needs more space than any filesystem has"
            )));
        };
        if free < *need {
            return Err(OpError::NoSpace(format!(
                "installing {id} ({what}) needs {} MiB free on the filesystem of {}, which has {} MiB",
                need >> 20,
                path.display(),
                free >> 20
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_size_that_overflows_is_no_space_not_a_wrap() {
        assert_eq!(need_with_margin(u64::MAX / 2, 4), None);
        assert_eq!(need_with_margin(u64::MAX - 1, 1), None);
        assert_eq!(
            need_with_margin(1 << 20, 2),
            Some((2 << 20) + (2 << 20) / 20 + (16 << 20))
        );
        let dir = tempfile::tempdir().unwrap();
        let err = check(
            &[(dir.path().into(), need_with_margin(u64::MAX / 3, 4))],
            "x",
            "a bundle",
        )
        .unwrap_err();
        assert!(matches!(err, OpError::NoSpace(_)), "{err}");
    }
}
