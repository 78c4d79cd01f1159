//! Envelopes: round trips, tampering, wrong recipients and keys, malformed input, PEM handling.

use dsf_privacy::envelope::{
    EnvelopeError, header, open, private_key_from_pem, private_key_to_pem, public_key_from_pem,
    public_key_to_pem, seal,
};
use proptest::prelude::*;
use rsa::{PrivateKey, PublicKey};

fn private(name: &str) -> PrivateKey {
    private_key_from_pem(&crate::read_data(&format!("keys/{name}.key.pem"))).expect("key")
}

fn public(name: &str) -> PublicKey {
    public_key_from_pem(&crate::read_data(&format!("keys/{name}.pub.pem"))).expect("public key")
}

/// Offset of the AES-GCM part (nonce ‖ ciphertext ‖ tag) in a single-recipient envelope:
/// magic (7), sender, recipient count (2), recipient id, wrapped key; fields length-prefixed (2).
fn body_offset(sealed: &[u8], sender: &str, recipient: &str) -> usize {
    let at = 7 + 2 + sender.len() + 2 + 2 + recipient.len();
    at + 2 + usize::from(u16::from_be_bytes([sealed[at], sealed[at + 1]]))
}

#[test]
fn seal_and_open_round_trip() {
    let sealed = seal(
        "dic-1.example",
        &[("dms.example", &public("site-a"))],
        b"data set",
    )
    .expect("seal");
    assert_eq!(&sealed[..7], b"DSFENV\x01");
    let opened = open(&sealed, "dms.example", &private("site-a")).expect("open");
    assert_eq!(opened.plaintext, b"data set");
    assert_eq!(opened.header.sender, "dic-1.example");
    assert_eq!(opened.header.recipients, vec!["dms.example".to_owned()]);
    // Fresh content key and nonce each time.
    let again = seal(
        "dic-1.example",
        &[("dms.example", &public("site-a"))],
        b"data set",
    )
    .expect("seal");
    assert_ne!(sealed, again);
}

/// An envelope sealed by an earlier build must still open: the format is a wire format.
#[test]
fn known_answer_envelope_opens() {
    let sealed = std::fs::read(crate::data("envelope/v1-to-site-a.bin")).expect("fixture");
    let opened = open(&sealed, "dms.example", &private("site-a")).expect("open");
    assert_eq!(opened.plaintext, b"DSF envelope format 1: known answer");
    assert_eq!(opened.header.sender, "dic-1.example");
    assert!(matches!(
        open(&sealed, "dms.example", &private("site-b")),
        Err(EnvelopeError::Decrypt)
    ));
}

#[test]
fn several_recipients_each_open_with_their_own_key() {
    let (a, b) = (public("site-a"), public("site-b"));
    let sealed = seal("ttp", &[("site-a", &a), ("site-b", &b)], b"pseudonyms").expect("seal");
    assert_eq!(
        open(&sealed, "site-a", &private("site-a"))
            .expect("a")
            .plaintext,
        b"pseudonyms"
    );
    assert_eq!(
        open(&sealed, "site-b", &private("site-b"))
            .expect("b")
            .plaintext,
        b"pseudonyms"
    );
    assert!(matches!(
        open(&sealed, "site-a", &private("site-b")),
        Err(EnvelopeError::Decrypt)
    ));
    assert_eq!(
        header(&sealed).expect("header").recipients,
        ["site-a", "site-b"]
    );
}

#[test]
fn wrong_recipient_and_wrong_key_are_clean_errors() {
    let sealed = seal("s", &[("site-a", &public("site-a"))], b"x").expect("seal");
    assert!(matches!(
        open(&sealed, "site-b", &private("site-b")),
        Err(EnvelopeError::NotARecipient(r)) if r == "site-b"
    ));
    assert!(matches!(
        open(&sealed, "site-a", &private("site-b")),
        Err(EnvelopeError::Decrypt)
    ));
}

#[test]
fn any_modified_byte_is_detected() {
    let (sender, recipient) = ("dic-1", "dms");
    let sealed = seal(sender, &[(recipient, &public("site-a"))], b"secret payload").expect("seal");
    let key = private("site-a");
    let body = body_offset(&sealed, sender, recipient);
    // The wrapped key, the nonce, the ciphertext and the tag.
    for i in [body - 1, body, body + 11, body + 12, sealed.len() - 1] {
        let mut t = sealed.clone();
        t[i] ^= 0x01;
        assert!(
            matches!(open(&t, recipient, &key), Err(EnvelopeError::Decrypt)),
            "byte {i}"
        );
    }
    // Re-addressing: the sender name is bound by the associated data.
    let mut forged = sealed.clone();
    forged[9] = b'D';
    assert!(matches!(
        open(&forged, recipient, &key),
        Err(EnvelopeError::Decrypt)
    ));
}

#[test]
fn truncated_and_malformed_input_are_errors() {
    let sealed = seal("s", &[("r", &public("site-a"))], b"payload").expect("seal");
    let key = private("site-a");
    for len in [0, 3, 7, 9, 12, 300, sealed.len() - 20, sealed.len() - 1] {
        let result = open(&sealed[..len], "r", &key);
        assert!(
            matches!(
                result,
                Err(EnvelopeError::Truncated | EnvelopeError::Format | EnvelopeError::Decrypt)
            ),
            "length {len}: {result:?}"
        );
    }
    assert!(matches!(
        open(b"NOTANENVELOPE-----", "r", &key),
        Err(EnvelopeError::Format)
    ));
    let mut v2 = sealed.clone();
    v2[6] = 2;
    assert!(matches!(open(&v2, "r", &key), Err(EnvelopeError::Format)));
}

#[test]
fn identifiers_and_weak_or_foreign_keys_are_refused() {
    let a = public("site-a");
    for bad in ["", "a|b", "a,b"] {
        assert!(matches!(
            seal(bad, &[("r", &a)], b"x"),
            Err(EnvelopeError::Identifier(_))
        ));
        assert!(matches!(
            seal("s", &[(bad, &a)], b"x"),
            Err(EnvelopeError::Identifier(_))
        ));
    }
    assert!(matches!(
        seal("s", &[], b"x"),
        Err(EnvelopeError::Header(_))
    ));
    assert!(matches!(
        seal("s", &[("r", &a), ("r", &a)], b"x"),
        Err(EnvelopeError::Header(_))
    ));
    assert!(matches!(
        seal("s", &[("r", &public("weak"))], b"x"),
        Err(EnvelopeError::Key(_))
    ));
    assert!(matches!(
        public_key_from_pem(&crate::read_data("keys/ec.pub.pem")),
        Err(EnvelopeError::Key(_))
    ));
    assert!(matches!(
        public_key_from_pem("not a pem"),
        Err(EnvelopeError::Key(_))
    ));
    assert!(matches!(
        private_key_from_pem("not a pem"),
        Err(EnvelopeError::Key(_))
    ));
}

#[test]
fn certificates_and_pem_round_trips() {
    let from_cert = public_key_from_pem(&crate::read_data("keys/site-a.cert.pem")).expect("cert");
    assert_eq!(from_cert, public("site-a"));
    let sealed = seal("s", &[("site-a", &from_cert)], b"via certificate").expect("seal");
    assert_eq!(
        open(&sealed, "site-a", &private("site-a"))
            .expect("open")
            .plaintext,
        b"via certificate"
    );
    let key = private("site-b");
    let pem = private_key_to_pem(&key).expect("pem");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(private_key_from_pem(&pem).expect("parse"), key);
    let public_pem = public_key_to_pem(&key.to_public_key()).expect("pem");
    assert_eq!(
        public_key_from_pem(&public_pem).expect("parse"),
        public("site-b")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn round_trip_arbitrary_payloads(payload in prop::collection::vec(any::<u8>(), 0..4096)) {
        let sealed = seal("s", &[("site-a", &public("site-a"))], &payload).expect("seal");
        prop_assert_eq!(open(&sealed, "site-a", &private("site-a")).expect("open").plaintext, payload);
    }

    /// The decoder never panics on arbitrary bytes, with or without a valid prefix.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..700), prefix in any::<bool>()) {
        let mut data = if prefix { b"DSFENV\x01".to_vec() } else { Vec::new() };
        data.extend(bytes);
        let _ = header(&data);
        prop_assert!(open(&data, "site-a", &private("site-a")).is_err());
    }
}
