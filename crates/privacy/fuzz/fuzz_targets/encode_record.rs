//! Encoding arbitrary field values (dates, integers, numbers, n-grams) must not panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn schema() -> &'static dsf_privacy::LinkageSchema {
    static SCHEMA: OnceLock<dsf_privacy::LinkageSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        dsf_privacy::LinkageSchema::from_json(include_str!(
            "../../tests/data/clkhash/schemas/double_hash_folded.json"
        ))
        .expect("schema")
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let fields: Vec<&str> = text.split('\u{1f}').collect();
    let mut record = vec![""; schema().features.len()];
    for (slot, value) in record.iter_mut().zip(fields) {
        *slot = value;
    }
    if let Ok(mut encoder) = dsf_privacy::ClkEncoder::new(schema(), b"secret") {
        let _ = encoder.encode(&record);
    }
});
