//! berth's gzip: packages and image layers are written as a series of independent
//! gzip members, one per 1 MiB block, deflated with libdeflate on several threads.
//! The output depends only on the input and the level, never on the thread count;
//! it is a valid gzip stream for every reader (RFC 1952 §2.2: members concatenate),
//! and each member's header records its length (`member.rs`), so `ParallelGunzip`
//! inflates such a stream on several cores too. A crate of its own because the
//! package format (on devices too) and the image builder (build host) both use it.

mod decode;
mod encode;
mod exact;
pub mod member;

pub use decode::ParallelGunzip;
pub use encode::{ParallelGzip, ParallelGzipWriter};
pub use member::GZIP_HEADER;

/// Input block size: one gzip member per block. Larger blocks compress a little
/// better (measured on 256 MiB of binaries at level 6: 4 MiB blocks 0.13% smaller
/// than 1 MiB ones) and cost readers more memory per thread.
pub const PAR_BLOCK: usize = 1024 * 1024;

/// The default level: libdeflate's 5. Measured on a 1 GiB docker-archive of
/// binaries: 0.5% smaller than GNU gzip -6 and 4.6x as fast per core (level 6:
/// 1.2% smaller, 3.9x; level 4: 1.7% larger). bench/pack-verify.sh has the figures.
pub const DEFAULT_LEVEL: u32 = 5;

/// Names what shapes the compressed bytes besides the level (the compressor, its
/// block size and member format), for caches keyed on output bytes.
pub const FORMAT_ID: &str = "libdeflate-1.x-1MiB-br-members";

/// The levels libdeflate has.
pub const LEVELS: std::ops::RangeInclusive<u32> = 1..=12;

#[cfg(test)]
mod tests;
