//! Fuzzes the `WWW-Authenticate` parameter parser a registry's 401 goes through: no
//! panic, and every key it returns is a key that was written.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for (key, _) in berth_registry::client::parse_params(text) {
        assert!(text.contains(key.as_str()), "{key:?} is not in {text:?}");
    }
});
