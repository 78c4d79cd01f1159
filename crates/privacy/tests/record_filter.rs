//! Record-level Bloom filters in the HiGHmed design.

use dsf_privacy::record_filter::{
    FieldConfig, RecordFilterConfig, RecordFilterEncoder, RecordFilterError, RecordFilterKeys,
};

fn encoder(secret: &[u8]) -> RecordFilterEncoder {
    RecordFilterEncoder::new(
        RecordFilterConfig::highmed(),
        &RecordFilterKeys::from_secret(secret),
    )
    .expect("valid configuration")
}

const PERSON: [&str; 9] = [
    "Johanna",
    "Schmidt",
    "01.02.1960",
    "F",
    "Hauptstraße 1",
    "69117",
    "Heidelberg",
    "DE",
    "A123456789",
];

#[test]
fn encodings_are_deterministic_and_keyed() {
    let e = encoder(b"shared secret");
    let f = e.encode(&PERSON).expect("encode");
    assert_eq!(f.len(), 3000);
    assert_eq!(
        f,
        encoder(b"shared secret").encode(&PERSON).expect("encode")
    );
    let other = encoder(b"another secret").encode(&PERSON).expect("encode");
    assert_ne!(f, other);
    assert!(
        f.dice(&other) < 0.7,
        "different keys give unrelated filters"
    );
}

/// Pinned encoding: any change to the record filter design or its key derivation must be
/// deliberate, because all sites have to encode identically.
#[test]
fn known_answer() {
    let f = encoder(b"shared secret").encode(&PERSON).expect("encode");
    assert_eq!(
        f.to_base64(),
        "gIsUoRAGSBIiEg04NtnJAnAeiJ6AFJER+zYsmAA8gMPQQANiggkFlQUEVQgEBLSSiMwSIRiBAkMYmgGKigApIIAAZoQZJsMASI6EAngACUgAgGKMUQUJtAgEWJwMHCQelCzIpEaB5OFByIQUYMQCFQkO6IhBhASzgCeSCGUCgCAGkMngxBGIQgTEE2xJCxF9ABMOAKMwYCIM2DACwAIWjSwJDmLATFATAQMgjRghwRDMBgUnwhwE0IMjAUG1I2EA9g8VhCVCCH0wAAzCAKoAkAYoAK8TycEQsiXAEYIFYDAkgEAoOi1DAUQQg7JEyiQRQqDBQ4YIdO1IgQiFBCSQsOIvwzYBBgOAJIgU4p7oCDIAQwgLAVeEgQASYIoICAqUCKURiIQggwBHTCOcMGAhE9EEAkA4oSAKwpIIlIIEgRsAmggATEBidVABAiAAlA3AJQ1AEQExjIFAUgCiVAKSEC8bCgLdZkAbZSQIWQQBAAlAAYFYqEAM"
    );
}

#[test]
fn bits_per_gram_and_n_are_per_field() {
    let keys = RecordFilterKeys::from_secret(b"k");
    let field = |n, bits_per_gram| FieldConfig {
        name: "name".into(),
        length: 1000,
        weight: 0.5,
        n,
        bits_per_gram,
    };
    let config = RecordFilterConfig {
        fields: vec![field(2, 1), field(3, 20)],
        length: 2000,
    };
    let e = RecordFilterEncoder::new(config, &keys).expect("valid");
    // "anna": 5 bigrams with one bit each; 6 trigrams with up to 20 bits each.
    let small = e.field_filter(0, "anna").expect("field").popcount();
    let large = e.field_filter(1, "anna").expect("field").popcount();
    assert!((1..=5).contains(&small), "{small}");
    assert!((40..=120).contains(&large), "{large}");
}

#[test]
fn typos_keep_records_similar_and_other_persons_apart() {
    let e = encoder(b"shared secret");
    let f = e.encode(&PERSON).expect("encode");
    let mut typo = PERSON;
    typo[0] = "Johana";
    typo[4] = "Hauptstr. 1";
    let g = e.encode(&typo).expect("encode");
    let other = e
        .encode(&[
            "Peter",
            "Weber",
            "12.11.1975",
            "M",
            "Ring 7",
            "37073",
            "Göttingen",
            "DE",
            "B987654321",
        ])
        .expect("encode");
    assert!(f.dice(&g) > 0.85, "typo: {}", f.dice(&g));
    assert!(f.dice(&other) < f.dice(&g));
}

#[test]
fn every_field_contributes_by_its_weight() {
    // Only the country is filled: weight 0.2 of 3000 bits, sampled from a 500-bit field filter
    // holding 4 bigrams with 15 bits each (at most 60 distinct bits, sampled 1.2 times).
    let e = encoder(b"k");
    let mut only_country = [""; 9];
    only_country[7] = "DE";
    let f = e.encode(&only_country).expect("encode");
    let field = e.field_filter(7, "DE").expect("field");
    assert!(field.popcount() > 0 && field.popcount() <= 45);
    let sampled = f.popcount();
    // 600 samples of a 500-bit filter: every set bit once, bits < 100 twice.
    let expected: u32 = (0..600).map(|b| u32::from(field.get(b % 500))).sum();
    assert_eq!(sampled, expected);
    assert_eq!(e.encode(&[""; 9]).expect("encode").popcount(), 0);
}

#[test]
fn invalid_configurations_and_records_are_errors() {
    let keys = RecordFilterKeys::from_secret(b"k");
    let mut c = RecordFilterConfig::highmed();
    c.fields[0].weight = 0.5;
    assert!(matches!(
        RecordFilterEncoder::new(c, &keys),
        Err(RecordFilterError::Config(_))
    ));
    let mut c = RecordFilterConfig::highmed();
    c.fields[1].length = 0;
    assert!(RecordFilterEncoder::new(c, &keys).is_err());
    let mut c = RecordFilterConfig::highmed();
    c.fields[2].n = 0;
    assert!(RecordFilterEncoder::new(c, &keys).is_err());
    let mut c = RecordFilterConfig::highmed();
    c.fields[3].bits_per_gram = 0;
    assert!(RecordFilterEncoder::new(c, &keys).is_err());
    let c = RecordFilterConfig {
        fields: vec![],
        length: 10,
    };
    assert!(RecordFilterEncoder::new(c, &keys).is_err());
    let single = RecordFilterConfig {
        fields: vec![FieldConfig {
            name: "name".into(),
            length: 100,
            weight: 1.0,
            n: 2,
            bits_per_gram: 5,
        }],
        length: 64,
    };
    let e = RecordFilterEncoder::new(single, &keys).expect("valid");
    assert_eq!(
        e.encode(&["a", "b"]),
        Err(RecordFilterError::RowLength {
            expected: 1,
            found: 2
        })
    );
    assert_eq!(e.encode(&["ab"]).expect("encode").len(), 64);
}
