//! Fuzzes the OCI / Docker manifest and index parser: no panic, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = berth_image::manifest::parse(data, "fuzz");
});
