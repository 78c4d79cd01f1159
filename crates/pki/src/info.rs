use sha2::{Digest, Sha512};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The DSF certificate thumbprint: lowercase hex SHA-512 of the DER certificate (128 characters).
pub fn thumbprint(der: &[u8]) -> String {
    Sha512::digest(der)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What log lines and start-up checks tell about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject's common name, if it has one.
    pub subject_common_name: Option<String>,
    /// The full subject distinguished name (RFC 4514 style).
    pub subject: String,
    /// The issuer distinguished name.
    pub issuer: String,
    /// Serial number, big-endian bytes as encoded.
    pub serial: Vec<u8>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// The DSF thumbprint ([`thumbprint`]).
    pub thumbprint: String,
}

impl std::fmt::Display for CertificateInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, valid {} to {}, thumbprint {}",
            self.subject,
            rfc3339(self.not_before),
            rfc3339(self.not_after),
            self.thumbprint
        )
    }
}

/// Reads subject, issuer, serial and validity of a DER certificate; `None` if it is not one.
pub fn certificate_info(der: &[u8]) -> Option<CertificateInfo> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let subject_common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    Some(CertificateInfo {
        subject_common_name,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial().to_vec(),
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        thumbprint: thumbprint(der),
    })
}

/// A time as RFC 3339 in UTC, e.g. `2026-01-01T00:00:00Z`.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}
