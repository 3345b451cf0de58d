//! Shared libraries: ELF reading (`elf`), BundleGen's host-or-image matching
//! (`matching`), and a device rootfs's `_libs.json` (`platform_libs`).

pub mod elf;
mod matching;
pub mod platform_libs;

pub use matching::LibMatcher;
