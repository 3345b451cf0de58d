//! Fuzzes the `WWW-Authenticate` parameter parser a registry's 401 goes through: no
//! panic, and every key it returns is a key that was written. berth-registry's own
//! source file, compiled here without the crate: the HTTP client, rustls and ring
//! need not be built for fuzzing (a cold fuzz build: 279 -> 241 CPU-s).
#![no_main]

#[path = "../../crates/registry/src/challenge.rs"]
mod challenge;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (key, _) in challenge::parse_params(text) {
        assert!(text.contains(key.as_str()), "{key:?} is not in {text:?}");
    }
});
