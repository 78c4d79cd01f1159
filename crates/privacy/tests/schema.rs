//! Linkage schema parsing and record validation.

use dsf_privacy::{ClkEncoder, EncodeError, LinkageSchema, SchemaError};

fn schema(features: &str, clk_config: &str) -> Result<LinkageSchema, SchemaError> {
    LinkageSchema::from_json(&format!(
        r#"{{"version": 3, "clkConfig": {clk_config}, "features": [{features}]}}"#
    ))
}

const CONFIG: &str = r#"{"l": 1024, "kdf": {"type": "HKDF"}}"#;

fn field(format: &str, hashing: &str) -> String {
    format!(r#"{{"identifier": "x", "format": {format}, "hashing": {hashing}}}"#)
}

const NGRAM: &str = r#"{"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 10}, "hash": {"type": "doubleHash"}}"#;

#[test]
fn committed_schemas_parse_with_their_settings() {
    let s = LinkageSchema::from_json(&crate::read_data("clkhash/schemas/double_hash_folded.json"))
        .expect("valid schema");
    assert_eq!((s.l, s.xor_folds, s.hash_length()), (500, 1, 1000));
    assert_eq!(s.kdf.key_size, 32);
    assert_eq!(s.kdf.salt.as_deref(), Some(&b"salt"[..]));
    assert_eq!(s.features.len(), 8);
    assert!(s.features[0].spec.is_none(), "id is ignored");
}

#[test]
fn unsupported_versions_and_shapes_are_rejected() {
    let v2 = r#"{"version": 2, "clkConfig": {"l": 1024, "kdf": {"type": "HKDF"}}, "features": []}"#;
    assert!(matches!(LinkageSchema::from_json(v2), Err(SchemaError::Version(v)) if v == "2"));
    assert!(matches!(
        LinkageSchema::from_json("[]"),
        Err(SchemaError::Json(_))
    ));
    assert!(matches!(
        LinkageSchema::from_json("{"),
        Err(SchemaError::Json(_))
    ));
    assert!(matches!(schema("", CONFIG), Err(SchemaError::Invalid(_))));
    let folds = r#"{"l": 1024, "xorFolds": 1, "kdf": {"type": "HKDF"}}"#;
    assert!(matches!(
        schema(&field(r#"{"type": "string"}"#, NGRAM), folds),
        Err(SchemaError::Invalid(m)) if m.contains("xor_folds")
    ));
    let kdf = r#"{"l": 1024, "kdf": {"type": "PBKDF2"}}"#;
    assert!(schema(&field(r#"{"type": "string"}"#, NGRAM), kdf).is_err());
}

#[test]
fn unknown_properties_follow_the_v3_master_schema() {
    // Allowed (no additionalProperties restriction in v3): top level, clkConfig, kdf.
    let extra = r#"{"version": 3, "comment": "x", "clkConfig": {"l": 64, "kdf": {"type": "HKDF", "note": 1}, "extra": 2},
        "features": [{"identifier": "x", "format": {"type": "string"}, "hashing": {"comparison": {"type": "exact"}, "strategy": {"bitsPerToken": 5}}}]}"#;
    assert!(LinkageSchema::from_json(extra).is_ok());
    // Forbidden: hashing and strategy.
    let hashing = field(
        r#"{"type": "string"}"#,
        r#"{"comparison": {"type": "exact"}, "strategy": {"bitsPerToken": 5}, "weight": 1}"#,
    );
    assert!(matches!(
        schema(&hashing, CONFIG),
        Err(SchemaError::Json(_))
    ));
}

#[test]
fn invalid_features_name_their_index() {
    let cases = [
        field(
            r#"{"type": "string"}"#,
            r#"{"comparison": {"type": "ngram", "n": 0}, "strategy": {"bitsPerToken": 10}}"#,
        ),
        field(
            r#"{"type": "string"}"#,
            r#"{"comparison": {"type": "ngram", "n": 2}, "strategy": {}}"#,
        ),
        field(
            r#"{"type": "string"}"#,
            r#"{"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 70000}}"#,
        ),
        field(
            r#"{"type": "string"}"#,
            r#"{"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 1}, "hash": {"type": "md5"}}"#,
        ),
        field(r#"{"type": "string", "pattern": "("}"#, NGRAM),
        field(r#"{"type": "date", "format": "%H"}"#, NGRAM),
        field(r#"{"type": "colour"}"#, NGRAM),
        field(r#"{"type": "string", "colour": "red"}"#, NGRAM),
    ];
    for case in cases {
        let two = format!(r#"{{"identifier": "first", "ignored": true}}, {case}"#);
        match schema(&two, CONFIG) {
            Err(SchemaError::Feature {
                index, identifier, ..
            }) => {
                assert_eq!((index, identifier.as_str()), (1, "x"), "{case}");
            }
            other => panic!("{case}: expected a feature error, got {other:?}"),
        }
    }
}

#[test]
fn blake_hash_needs_a_power_of_two_length() {
    let s = schema(
        &field(
            r#"{"type": "string"}"#,
            r#"{"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 10}}"#,
        ),
        r#"{"l": 1000, "kdf": {"type": "HKDF"}}"#,
    )
    .expect("schema itself is valid");
    assert!(matches!(
        ClkEncoder::new(&s, b"secret"),
        Err(EncodeError::Schema(_))
    ));
}

#[test]
fn key_derivation_limit_is_an_error_not_a_panic() {
    let features: Vec<String> = (0..70)
        .map(|i| format!(r#"{{"identifier": "f{i}", "ignored": true}}"#))
        .collect();
    let s = schema(&features.join(","), CONFIG).expect("valid schema");
    assert!(matches!(
        ClkEncoder::new(&s, b"secret"),
        Err(EncodeError::Schema(_))
    ));
}

#[test]
fn invalid_entries_are_reported_with_their_column() {
    let s = LinkageSchema::from_json(&crate::read_data(
        "clkhash/schemas/double_hash_bigrams.json",
    ))
    .expect("valid schema");
    let mut encoder = ClkEncoder::new(&s, b"secret").expect("encoder");
    let good = [
        "1",
        "Anna",
        "Meyer",
        "01/02/1990",
        "f",
        "12345",
        "42",
        "Jena",
    ];
    assert!(encoder.encode(&good).is_ok());
    let bad_cases = [
        (3, "31/02/1990", "dob"),
        (3, "1990-02-01", "dob"),
        (4, "x", "sex"),
        (5, "1234", "postcode"),
        (6, "121", "age"),
        (6, "4.5", "age"),
    ];
    for (column, value, name) in bad_cases {
        let mut row = good;
        row[column] = value;
        match encoder.encode(&row) {
            Err(EncodeError::InvalidEntry { column, .. }) => assert_eq!(column, name, "{value}"),
            other => panic!("{value}: expected invalid entry, got {other:?}"),
        }
    }
    assert_eq!(
        encoder.encode(&good[..3]),
        Err(EncodeError::RowLength {
            expected: 8,
            found: 3
        })
    );
    let header = [
        "id",
        "given_name",
        "surname",
        "dob",
        "sex",
        "postcode",
        "age",
        "town",
    ];
    assert!(matches!(
        encoder.check_header(&header),
        Err(EncodeError::Header { index: 7, .. })
    ));
}

#[test]
fn missing_value_sentinel_skips_validation_and_uses_the_replacement() {
    let s = LinkageSchema::from_json(&crate::read_data(
        "clkhash/schemas/double_hash_bigrams.json",
    ))
    .expect("valid schema");
    let mut encoder = ClkEncoder::new(&s, b"secret").expect("encoder");
    let row = |sex: &'static str| ["1", "Anna", "Meyer", "", sex, "", "", "Jena"];
    let missing = encoder.encode(&row("")).expect("sentinel accepted");
    let replaced = encoder.encode(&row("u")).expect("valid");
    assert_eq!(missing, replaced, "sex '' is hashed as its replacement 'u'");
    assert_ne!(missing, encoder.encode(&row("f")).expect("valid"));
}

mod robustness {
    use dsf_privacy::{BloomFilter, ClkEncoder, LinkageSchema};
    use proptest::prelude::*;

    proptest! {
        /// Parsing never panics on arbitrary text, nor on corrupted valid schemas, and any
        /// schema that parses can be used to encode arbitrary values without panicking.
        #[test]
        fn schema_and_encoding_never_panic(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
            values in prop::collection::vec(".{0,12}", 8),
        ) {
            let mut text = crate::read_data("clkhash/schemas/double_hash_folded.json").into_bytes();
            for (at, byte) in flips {
                let i = at.index(text.len());
                text[i] = byte;
            }
            if let Ok(text) = String::from_utf8(text)
                && let Ok(schema) = LinkageSchema::from_json(&text)
                && schema.hash_length() <= 1 << 16
                && let Ok(mut encoder) = ClkEncoder::new(&schema, b"secret")
            {
                let _ = encoder.encode(&values);
            }
        }

        #[test]
        fn arbitrary_text_is_not_a_panic(text in ".{0,200}") {
            let _ = LinkageSchema::from_json(&text);
            let _ = BloomFilter::from_base64(&text);
        }
    }
}

/// A value that fails after some of its n-grams were hashed (here a non-ASCII replacement for
/// a missing value in an ASCII column) leaves nothing behind for the next record.
#[test]
fn a_failed_value_does_not_change_the_next_encoding() {
    let hashing = r#"{"comparison": {"type": "ngram", "n": 2}, "strategy": {"bitsPerToken": 10},
        "hash": {"type": "doubleHash"}, "missingValue": {"sentinel": "?", "replaceWith": "abcü"}}"#;
    let s = schema(
        &field(r#"{"type": "string", "encoding": "ascii"}"#, hashing),
        CONFIG,
    )
    .expect("valid schema");
    let mut encoder = ClkEncoder::new(&s, b"secret").expect("encoder");
    assert!(matches!(
        encoder.encode(&["?"]),
        Err(EncodeError::InvalidEntry { .. })
    ));
    let mut fresh = ClkEncoder::new(&s, b"secret").expect("encoder");
    assert_eq!(
        encoder.encode(&["xyz"]).expect("encode"),
        fresh.encode(&["xyz"]).expect("encode")
    );
}
