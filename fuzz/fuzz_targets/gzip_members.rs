//! Fuzzes berth's parallel gzip reader (layers and packages, on devices too): it must
//! never panic, and whatever it reads must be what a reference reader (flate2's
//! multi-member decoder) reads from the same bytes: a stream two readers read
//! differently is a layer that is one image to berth and another to the engine
//! (issue 21, finding 8).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Read;

fuzz_target!(|data: &[u8]| {
    // No bytes read as nothing to berth, as an error to flate2; callers refuse an
    // empty package or layer before they decode it.
    if data.is_empty() {
        return;
    }
    let mut ours = Vec::new();
    let read = berth_compress::ParallelGunzip::with_threads(data, 2).read_to_end(&mut ours);
    if read.is_ok() {
        let mut theirs = Vec::new();
        let reference = flate2::read::MultiGzDecoder::new(data).read_to_end(&mut theirs);
        assert!(reference.is_ok(), "berth read a stream the reference refuses");
        assert_eq!(ours, theirs, "berth and the reference read different bytes");
    }
});
