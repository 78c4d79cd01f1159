//! Encrypted envelopes for data sent between sites: AES-256-GCM content encryption with the
//! content key wrapped by RSA-OAEP (SHA-256) for each recipient, as the MII processes encrypt
//! data sets, but with OAEP instead of PKCS#1 v1.5 key wrapping.
//!
//! Layout (all lengths big-endian `u16`):
//!
//! ```text
//! "DSFENV" 0x01
//! len(sender) sender
//! count(recipients)
//! count × ( len(id) id  len(wrapped key) wrapped key )
//! nonce (12 random bytes) ‖ AES-256-GCM ciphertext ‖ tag (16 bytes)
//! ```
//!
//! The associated data is `sender|receiver` (UTF-8), as in the MII processes; with several
//! recipients it is `sender|r1,r2,…` in header order, so the sender and the full recipient list are
//! authenticated and an envelope cannot be re-addressed. Identifiers therefore may not contain `|`
//! or `,`. The envelope does not authenticate the sender by signature: that comes from the
//! transport (mutual TLS between DSF sites), the envelope keeps the content from everyone else.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::traits::PublicKeyParts;
use rsa::{PrivateKey, PublicKey};

use zeroize::Zeroizing;

use crate::random;

const MAGIC: &[u8; 7] = b"DSFENV\x01";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Smallest RSA modulus accepted for recipients.
pub const MIN_RSA_BITS: usize = 2048;

/// Errors sealing or opening envelopes and reading keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The data ends before the envelope does.
    #[error("envelope is truncated")]
    Truncated,
    /// The data is not an envelope of this format and version.
    #[error("not a DSF envelope (bad magic or version)")]
    Format,
    /// A header field is malformed.
    #[error("malformed envelope header: {0}")]
    Header(String),
    /// The envelope is not addressed to this recipient.
    #[error("envelope is not addressed to '{0}'")]
    NotARecipient(String),
    /// The key cannot be unwrapped or the content fails authentication (tampering, wrong key).
    #[error("envelope cannot be decrypted: wrong key or tampered data")]
    Decrypt,
    /// An identifier is empty, too long or contains `|` or `,`.
    #[error("invalid identifier '{0}': must be 1-1024 bytes without '|' or ','")]
    Identifier(String),
    /// A key is unusable.
    #[error("key: {0}")]
    Key(String),
    /// The random number generator failed.
    #[error(transparent)]
    Random(#[from] random::RandomError),
}

/// Generates an RSA private key of `bits` bits (at least [`MIN_RSA_BITS`]).
pub fn generate_key(bits: usize) -> Result<PrivateKey, EnvelopeError> {
    if bits < MIN_RSA_BITS {
        return Err(EnvelopeError::Key(format!(
            "RSA keys need at least {MIN_RSA_BITS} bits"
        )));
    }
    PrivateKey::new(&mut getrandom::SysRng, bits).map_err(|e| EnvelopeError::Key(e.to_string()))
}

/// PKCS#8 PEM (`PRIVATE KEY`) of a private key.
pub fn private_key_to_pem(key: &PrivateKey) -> Result<String, EnvelopeError> {
    key.to_pkcs8_pem(LineEnding::LF)
        .map(|pem| pem.to_string())
        .map_err(|e| EnvelopeError::Key(e.to_string()))
}

/// SubjectPublicKeyInfo PEM (`PUBLIC KEY`) of a public key.
pub fn public_key_to_pem(key: &PublicKey) -> Result<String, EnvelopeError> {
    key.to_public_key_pem(LineEnding::LF)
        .map_err(|e| EnvelopeError::Key(e.to_string()))
}

/// Reads a PKCS#8 (`PRIVATE KEY`) PEM private key.
pub fn private_key_from_pem(pem: &str) -> Result<PrivateKey, EnvelopeError> {
    PrivateKey::from_pkcs8_pem(pem)
        .map_err(|e| EnvelopeError::Key(format!("not an RSA private key PEM: {e}")))
}

/// Reads a recipient's public key from PEM: a `PUBLIC KEY` or the first
/// `CERTIFICATE` (X.509) in the text, whose subject public key is used.
pub fn public_key_from_pem(pem: &str) -> Result<PublicKey, EnvelopeError> {
    use pkcs8::spki::DecodePublicKey;
    use x509_cert::der::{DecodePem, Encode};
    if pem.contains("-----BEGIN CERTIFICATE-----") {
        let start = pem.find("-----BEGIN CERTIFICATE-----").unwrap_or(0);
        let end = pem[start..]
            .find("-----END CERTIFICATE-----")
            .map(|i| start + i + "-----END CERTIFICATE-----".len())
            .ok_or_else(|| EnvelopeError::Key("unterminated certificate PEM".into()))?;
        let cert = x509_cert::Certificate::from_pem(&pem[start..end])
            .map_err(|e| EnvelopeError::Key(format!("invalid certificate: {e}")))?;
        let der = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| EnvelopeError::Key(e.to_string()))?;
        return PublicKey::from_public_key_der(&der)
            .map_err(|e| EnvelopeError::Key(format!("certificate key is not RSA: {e}")));
    }
    PublicKey::from_public_key_pem(pem)
        .map_err(|e| EnvelopeError::Key(format!("not an RSA public key PEM: {e}")))
}

fn check_id(id: &str) -> Result<(), EnvelopeError> {
    if id.is_empty() || id.len() > 1024 || id.contains(['|', ',']) {
        return Err(EnvelopeError::Identifier(id.to_owned()));
    }
    Ok(())
}

fn associated_data(sender: &str, recipients: &[&str]) -> Vec<u8> {
    format!("{sender}|{}", recipients.join(",")).into_bytes()
}

fn put(out: &mut Vec<u8>, field: &[u8]) -> Result<(), EnvelopeError> {
    let len = u16::try_from(field.len())
        .map_err(|_| EnvelopeError::Header("field longer than 65535 bytes".into()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(field);
    Ok(())
}

/// Encrypts `plaintext` from `sender` to each `(id, public key)` recipient.
pub fn seal(
    sender: &str,
    recipients: &[(&str, &PublicKey)],
    plaintext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    check_id(sender)?;
    if recipients.is_empty() || recipients.len() > 1000 {
        return Err(EnvelopeError::Header("need 1 to 1000 recipients".into()));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    random::fill(key.as_mut_slice())?;
    let mut out = MAGIC.to_vec();
    put(&mut out, sender.as_bytes())?;
    out.extend_from_slice(&(recipients.len() as u16).to_be_bytes());
    let mut ids = Vec::with_capacity(recipients.len());
    for (id, public) in recipients {
        check_id(id)?;
        if ids.contains(id) {
            return Err(EnvelopeError::Header(format!(
                "recipient '{id}' listed twice"
            )));
        }
        if public.size() * 8 < MIN_RSA_BITS {
            return Err(EnvelopeError::Key(format!(
                "recipient '{id}' has a key below {MIN_RSA_BITS} bits"
            )));
        }
        let wrapped = public
            .oaep_encrypt::<Sha256>(key.as_slice())
            .map_err(|e| EnvelopeError::Key(e.to_string()))?;
        put(&mut out, id.as_bytes())?;
        put(&mut out, &wrapped)?;
        ids.push(*id);
    }
    let mut nonce = [0u8; NONCE_LEN];
    random::fill(&mut nonce)?;
    let cipher =
        Aes256Gcm::new_from_slice(key.as_slice()).map_err(|e| EnvelopeError::Key(e.to_string()))?;
    let aad = associated_data(sender, &ids);
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| EnvelopeError::Header("plaintext too long".into()))?;
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// A parsed envelope header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// Sender identifier.
    pub sender: String,
    /// Recipient identifiers in order.
    pub recipients: Vec<String>,
}

/// Content of an opened envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Authenticated header.
    pub header: EnvelopeHeader,
    /// Decrypted content.
    pub plaintext: Vec<u8>,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EnvelopeError> {
        if self.0.len() < n {
            return Err(EnvelopeError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<usize, EnvelopeError> {
        let b = self.take(2)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    fn field(&mut self) -> Result<&'a [u8], EnvelopeError> {
        let n = self.u16()?;
        self.take(n)
    }

    fn text(&mut self) -> Result<String, EnvelopeError> {
        let bytes = self.field()?;
        let text = std::str::from_utf8(bytes)
            .map_err(|_| EnvelopeError::Header("identifier is not UTF-8".into()))?;
        check_id(text)?;
        Ok(text.to_owned())
    }
}

struct Parsed<'a> {
    header: EnvelopeHeader,
    wrapped: Vec<&'a [u8]>,
    body: &'a [u8],
}

fn parse(envelope: &[u8]) -> Result<Parsed<'_>, EnvelopeError> {
    let mut r = Reader(envelope);
    if r.take(MAGIC.len()).map_err(|_| EnvelopeError::Format)? != MAGIC {
        return Err(EnvelopeError::Format);
    }
    let sender = r.text()?;
    let count = r.u16()?;
    if count == 0 {
        return Err(EnvelopeError::Header("no recipients".into()));
    }
    let mut recipients = Vec::with_capacity(count.min(1000));
    let mut wrapped = Vec::with_capacity(count.min(1000));
    for _ in 0..count {
        recipients.push(r.text()?);
        wrapped.push(r.field()?);
    }
    if r.0.len() < NONCE_LEN + TAG_LEN {
        return Err(EnvelopeError::Truncated);
    }
    Ok(Parsed {
        header: EnvelopeHeader { sender, recipients },
        wrapped,
        body: r.0,
    })
}

/// Reads the (unauthenticated) header of an envelope, e.g. to pick the right key.
pub fn header(envelope: &[u8]) -> Result<EnvelopeHeader, EnvelopeError> {
    parse(envelope).map(|p| p.header)
}

/// Decrypts an envelope addressed to `recipient` with its private key.
pub fn open(envelope: &[u8], recipient: &str, key: &PrivateKey) -> Result<Opened, EnvelopeError> {
    let parsed = parse(envelope)?;
    let index = parsed
        .header
        .recipients
        .iter()
        .position(|r| r == recipient)
        .ok_or_else(|| EnvelopeError::NotARecipient(recipient.to_owned()))?;
    let content_key = Zeroizing::new(
        key.oaep_decrypt::<Sha256>(parsed.wrapped[index])
            .map_err(|_| EnvelopeError::Decrypt)?,
    );
    let cipher = Aes256Gcm::new_from_slice(&content_key).map_err(|_| EnvelopeError::Decrypt)?;
    let (nonce, ciphertext) = parsed.body.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| EnvelopeError::Truncated)?;
    let ids: Vec<&str> = parsed
        .header
        .recipients
        .iter()
        .map(String::as_str)
        .collect();
    let aad = associated_data(&parsed.header.sender, &ids);
    let plaintext = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| EnvelopeError::Decrypt)?;
    Ok(Opened {
        header: parsed.header,
        plaintext,
    })
}
