//! Fuzzes the package reader with raw bytes and with gzip-wrapped tar streams: it
//! must never panic, hang or write anything, whatever it is fed.
//!
//! Run: cargo +nightly fuzz run read_package (needs nightly; not part of CI).
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
