//! Fuzzes image reference parsing (every `docker://`, `oci:`, archive and Isar form):
//! no panic; a registry reference prints as one that parses to itself, and its host
//! holds nothing a unit file or an argv could be broken with.
#![no_main]

use berth_image::{ImageRef, RegistryRef};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ImageRef::Registry(r)) = text.parse::<ImageRef>() {
        let printed = r.to_string();
        assert_eq!(RegistryRef::parse(&printed).as_ref(), Ok(&r), "{printed}");
        assert!(
            !printed.contains(|c: char| c.is_whitespace() || c.is_control() || "\"'\\;`$".contains(c)),
            "{printed:?}"
        );
    }
});
