#![no_main]
//! Arbitrary bytes as a catalog file: must give Ok or an Err naming the file, never panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(e) = provisioning::catalog::parse_catalog_json("fuzz.json", &text) {
        let message = e.to_string();
        assert!(
            message.contains("fuzz.json"),
            "error does not name the file: {message}"
        );
    }
});
