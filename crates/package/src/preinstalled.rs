//! Where a device image keeps the packages berthd installs at its start: written by
//! `berth rootfs install` on the build host, read by berthd on the device.

/// Under berthd's working path: the directory of pre-installed packages.
pub const PREINSTALLED_DIR: &str = "preinstalled";
/// Beside a package, its file name + this: berthd deletes the package once it is
/// installed (Isar's CONTAINER_DELETE_AFTER_LOAD). Without it the file stays, for a
/// factory reset.
pub const DELETE_AFTER_INSTALL: &str = ".delete-after-install";

/// Whether `name` is a package file's name there (`<id>.tar.gz`, or `.tar.zst`).
pub fn is_package_name(name: &str) -> bool {
    !name.starts_with('.') && (name.ends_with(".tar.gz") || name.ends_with(".tar.zst"))
}
