//! Certificates for DSF sites.
//!
//! DSF sites authenticate each other with X.509 client certificates over mutual TLS; an
//! organization is known by the SHA-512 [`thumbprint`] of its client certificate. This crate
//! issues development certificates ([`CertificateAuthority`]), reads PEM certificates, private
//! keys (also password-protected PKCS#8) and revocation lists for servers and clients, and checks
//! at start-up that a key belongs to its certificate and that the certificate is valid now.
//!
//! Keys are ECDSA P-384, as in the reference implementation's development setup. All
//! cryptography runs on `ring`.

mod ca;
mod error;
mod files;
mod info;

pub use ca::{CertificateAuthority, IssuedCertificate, Validity};
pub use error::PkiError;
pub use files::{
    check_certified_key, encrypt_private_key_pem, load_certificates, load_crls, load_private_key,
};
pub use info::{CertificateInfo, certificate_info, thumbprint};
pub use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
pub use time::OffsetDateTime;
