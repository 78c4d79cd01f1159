//! Linkage schema parsing and encoder setup must reject arbitrary text without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(schema) = dsf_privacy::LinkageSchema::from_json(text)
        && schema.hash_length() <= 1 << 16
    {
        let _ = dsf_privacy::ClkEncoder::new(&schema, b"secret");
    }
});
