//! Reading PEM certificates, private keys and revocation lists; password-protected keys.

use std::path::Path;

use pkcs8::der::SecretDocument;
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncryptedPrivateKeyInfoRef, LineEnding, PrivateKeyInfoRef};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs8KeyDer,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::PkiError;
use crate::info::{CertificateInfo, certificate_info, rfc3339};

const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// PBKDF2-HMAC-SHA256 rounds for keys this crate encrypts (AES-256-CBC, as `openssl pkcs8`
/// writes them, so the reference implementation and OpenSSL read them too).
const PBKDF2_ROUNDS: u32 = 100_000;

fn read(path: &Path) -> Result<Vec<u8>, PkiError> {
    std::fs::read(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Every PEM item of one kind in a file; fails if there is none.
fn load_pem_items<T: PemObject>(path: &Path, what: &str) -> Result<Vec<T>, PkiError> {
    let pem = read(path)?;
    let items = T::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::invalid(path, format!("malformed PEM: {e}")))?;
    if items.is_empty() {
        return Err(PkiError::invalid(
            path,
            format!("no PEM {what} in the file"),
        ));
    }
    Ok(items)
}

/// Reads every certificate of a PEM file, leaf first as written; fails if there is none.
pub fn load_certificates(path: impl AsRef<Path>) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let path = path.as_ref();
    let certs: Vec<CertificateDer<'static>> = load_pem_items(path, "certificate")?;
    if certs
        .iter()
        .any(|cert| X509Certificate::from_der(cert).is_err())
    {
        return Err(PkiError::invalid(path, "not an X.509 certificate"));
    }
    Ok(certs)
}

/// Reads every certificate revocation list of a PEM file (`X509 CRL`); fails if there is none.
pub fn load_crls(
    path: impl AsRef<Path>,
) -> Result<Vec<CertificateRevocationListDer<'static>>, PkiError> {
    load_pem_items(path.as_ref(), "revocation list (X509 CRL)")
}

/// Reads a PEM private key: `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2, needs `password`),
/// `PRIVATE KEY` (PKCS#8), `EC PRIVATE KEY` (SEC1) or `RSA PRIVATE KEY` (PKCS#1).
///
/// A password given for an unencrypted key is ignored.
pub fn load_private_key(
    path: impl AsRef<Path>,
    password: Option<&str>,
) -> Result<PrivateKeyDer<'static>, PkiError> {
    let path = path.as_ref();
    let pem = read(path)?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains(&format!("-----BEGIN {ENCRYPTED_LABEL}-----")) {
        let Some(password) = password else {
            return Err(PkiError::invalid(
                path,
                "the private key is encrypted and no password was given",
            ));
        };
        return decrypt(path, &text, password);
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(PkiError::invalid(
            path,
            "legacy OpenSSL-encrypted key, convert it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`",
        ));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        PkiError::invalid(
            path,
            format!("no PEM private key (PKCS#8, SEC1 or PKCS#1) in the file: {e}"),
        )
    })
}

fn decrypt(path: &Path, text: &str, password: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    let wrong = || PkiError::WrongPassword {
        path: path.to_owned(),
    };
    // Only the encrypted block: files may carry comments or further blocks.
    let begin = format!("-----BEGIN {ENCRYPTED_LABEL}-----");
    let end = format!("-----END {ENCRYPTED_LABEL}-----");
    let start = text.find(&begin).ok_or_else(wrong)?;
    let stop = text[start..].find(&end).ok_or_else(wrong)? + start + end.len();
    let (label, doc) = SecretDocument::from_pem(&text[start..stop]).map_err(|_| wrong())?;
    if label != ENCRYPTED_LABEL {
        return Err(wrong());
    }
    let info = EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(|_| wrong())?;
    let plain = info.decrypt(password).map_err(|_| wrong())?;
    // A wrong password may still unpad correctly; the result must be a PKCS#8 structure.
    PrivateKeyInfoRef::try_from(plain.as_bytes()).map_err(|_| wrong())?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        plain.as_bytes().to_vec(),
    )))
}

/// Encrypts a PKCS#8 DER private key with a password: PEM `ENCRYPTED PRIVATE KEY`, PBES2 with
/// PBKDF2-HMAC-SHA256 and AES-256-CBC.
pub fn encrypt_private_key_pem(pkcs8_der: &[u8], password: &str) -> Result<String, PkiError> {
    let failed = |e: &dyn std::fmt::Display| PkiError::generate("encrypting the private key", e);
    let rng = SystemRandom::new();
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    rng.fill(&mut salt).map_err(|e| failed(&e))?;
    rng.fill(&mut iv).map_err(|e| failed(&e))?;
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ROUNDS, &salt, iv)
        .map_err(|e| failed(&e))?;
    let info = PrivateKeyInfoRef::try_from(pkcs8_der).map_err(|e| failed(&e))?;
    let doc = info
        .encrypt_with_params(params, password)
        .map_err(|e| failed(&e))?;
    let pem = doc
        .to_pem(ENCRYPTED_LABEL, LineEnding::LF)
        .map_err(|e| failed(&e))?;
    Ok(pem.as_str().to_owned())
}

/// Checks a certificate file and its key file as a server or client would at start-up: the
/// private key belongs to the (first) certificate, and the certificate is valid at `now`.
pub fn check_certified_key(
    cert_path: impl AsRef<Path>,
    key_path: impl AsRef<Path>,
    password: Option<&str>,
    now: OffsetDateTime,
) -> Result<CertificateInfo, PkiError> {
    let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
    let certs = load_certificates(cert_path)?;
    let leaf = certs
        .first()
        .ok_or_else(|| PkiError::invalid(cert_path, "no certificate"))?;
    let key = load_private_key(key_path, password)?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| PkiError::invalid(key_path, format!("unsupported private key: {e}")))?;
    let (_, cert) = X509Certificate::from_der(leaf)
        .map_err(|_| PkiError::invalid(cert_path, "not an X.509 certificate"))?;
    let matches = signing_key
        .public_key()
        .is_some_and(|spki| spki.as_ref() == cert.public_key().raw);
    if !matches {
        return Err(PkiError::KeyMismatch {
            key: key_path.to_owned(),
            cert: cert_path.to_owned(),
        });
    }
    let info = certificate_info(leaf)
        .ok_or_else(|| PkiError::invalid(cert_path, "not an X.509 certificate"))?;
    if now > info.not_after {
        return Err(PkiError::Expired {
            path: cert_path.to_owned(),
            not_after: rfc3339(info.not_after),
        });
    }
    if now < info.not_before {
        return Err(PkiError::NotYetValid {
            path: cert_path.to_owned(),
            not_before: rfc3339(info.not_before),
        });
    }
    Ok(info)
}
