//! Fuzzes the package reader with raw bytes and with gzip-wrapped tar streams: it
//! must never panic, hang or write anything, whatever it is fed.
//!
//! Run (cargo install cargo-fuzz; on stable, without a sanitizer):
//!   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run read_package -s none -- -max_total_time=90
//! Not part of CI: it runs for as long as it is given.
#![no_main]

use berth_package::{read_package, ReadOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = ReadOptions {
        compressed_len: Some(data.len() as u64),
        ..Default::default()
    };
    let _ = read_package(std::io::Cursor::new(data.to_vec()), &opts);
    // The same bytes as the tar stream inside a gzip package reach the tar parser
    // and the entry checks directly.
    let wrapped = berth_package::testkit::gzip(data);
    let _ = read_package(std::io::Cursor::new(wrapped), &ReadOptions::default());
});
