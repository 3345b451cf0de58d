//! End-to-end tests: berth against real podman, GNU tar, Python's tarfile (what
//! Digi's tools read packages with) and sha256sum.

mod bundle;
mod bundle_inputs;
mod bundle_libs;
mod compat;
mod crash;
mod daemon;
mod device_bundle;
mod digi;
mod fleet;
mod follow;
mod health;
mod image;
mod image_build;
mod image_build_cache;
mod image_build_packages;
mod image_copy;
mod image_hostile;
mod image_unpack;
mod install;
mod install_from;
mod interop;
mod lifecycle;
mod pack_image;
mod podman;
mod probation;
mod push_pull;
mod rootfs_install;
mod rootfs_loader;
mod rootfs_populate;
mod rootfs_units;
mod runtime_podman;
mod runtimes;
mod supervise;
mod unpack_hostile;
mod upgrade;
