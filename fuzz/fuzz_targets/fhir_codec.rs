//! Fuzzes the FHIR codec: any bytes are read as JSON and as XML without panicking, and whatever
//! is accepted is written in both formats, read back, and must stay the same.
//!
//! Run with `cargo +nightly fuzz run fhir_codec` in this directory.

#![no_main]

use dsf_fhir::{Format, parse, serialize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for input in [Format::Json, Format::Xml] {
        let Ok(resource) = parse(data, input) else {
            continue;
        };
        for output in [Format::Json, Format::Xml] {
            for pretty in [false, true] {
                let bytes = serialize(&resource, output, pretty);
                let again = match parse(&bytes, output) {
                    Ok(r) => r,
                    Err(e) => panic!("own {output:?} output is rejected: {e}"),
                };
                if output == Format::Json {
                    // JSON holds the value as it is.
                    assert_eq!(
                        again.as_json(),
                        resource.as_json(),
                        "JSON round trip differs"
                    );
                }
                // After one pass through a format, a second pass changes nothing.
                let third = parse(&serialize(&again, output, pretty), output);
                match third {
                    Ok(r) => assert_eq!(
                        r.as_json(),
                        again.as_json(),
                        "{output:?} round trip is unstable"
                    ),
                    Err(e) => panic!("own {output:?} output is rejected on the second pass: {e}"),
                }
            }
        }
    }
});
