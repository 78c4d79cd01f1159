//! Envelope decoding must reject arbitrary bytes without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn key() -> &'static rsa::PrivateKey {
    static KEY: OnceLock<rsa::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        dsf_privacy::envelope::private_key_from_pem(include_str!(
            "../../tests/data/keys/site-a.key.pem"
        ))
        .expect("test key")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = dsf_privacy::envelope::header(data);
    let _ = dsf_privacy::envelope::open(data, "site-a", key());
});
