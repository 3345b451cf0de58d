//! Containers in a device root filesystem, at build time (build host only):
//! packages pre-installed for berthd (`install`), systemd units for devices without
//! berthd as meta-virtualization writes them (`units`), and Isar's image loader
//! (`loader`). Every path is resolved inside the rootfs (`root`).

pub mod bundled;
pub mod error;
pub mod install;
pub mod loader;
pub mod populate;
pub use berth_fs::root;
pub mod units;

pub use error::RootfsError;
pub use root::Root;
