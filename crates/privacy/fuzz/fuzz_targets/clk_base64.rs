//! CLK decoding must reject arbitrary text without panicking, and round-trip what it accepts.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(filter) = dsf_privacy::BloomFilter::from_base64(text)
    {
        let again = dsf_privacy::BloomFilter::from_base64(&filter.to_base64()).expect("round trip");
        assert_eq!(again, filter);
    }
});
