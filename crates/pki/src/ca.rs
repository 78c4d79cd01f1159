//! A development certificate authority issuing server and client certificates.

use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P384_SHA384, RevokedCertParams, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use time::{Duration, OffsetDateTime};

use crate::PkiError;
use crate::files::{encrypt_private_key_pem, load_certificates, load_private_key};

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First instant of validity.
    pub not_before: OffsetDateTime,
    /// Last instant of validity.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From an hour ago (tolerating clock skew between sites) until `days` days from now.
    pub fn days(days: u32) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(i64::from(days)),
        }
    }
}

/// A certificate issued by a [`CertificateAuthority`], with its new private key.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM: `PRIVATE KEY`, or `ENCRYPTED PRIVATE KEY` if a password was given.
    pub key_pem: String,
    /// The certificate, DER.
    pub der: CertificateDer<'static>,
    /// The serial number, big-endian bytes (for revocation lists).
    pub serial: Vec<u8>,
}

/// A certificate authority for development and test federations: self-signed root, ECDSA P-384.
pub struct CertificateAuthority {
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("thumbprint", &crate::thumbprint(&self.cert))
            .finish_non_exhaustive()
    }
}

fn new_key(what: &str) -> Result<KeyPair, PkiError> {
    KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).map_err(|e| PkiError::generate(what, e))
}

/// A positive random 128-bit serial number.
fn new_serial(what: &str) -> Result<Vec<u8>, PkiError> {
    let mut serial = vec![0u8; 16];
    SystemRandom::new()
        .fill(&mut serial)
        .map_err(|e| PkiError::generate(what, e))?;
    serial[0] = (serial[0] & 0x7f) | 0x40;
    Ok(serial)
}

fn key_pem(key: &KeyPair, password: Option<&str>) -> Result<String, PkiError> {
    match password {
        Some(password) => encrypt_private_key_pem(key.serialized_der(), password),
        None => Ok(key.serialize_pem()),
    }
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

impl CertificateAuthority {
    /// A new self-signed root valid for ten years: basic constraints CA, keyCertSign and cRLSign.
    pub fn generate(common_name: &str) -> Result<Self, PkiError> {
        Self::generate_with_validity(common_name, Validity::days(3650))
    }

    /// A new self-signed root with the given validity.
    pub fn generate_with_validity(common_name: &str, validity: Validity) -> Result<Self, PkiError> {
        let what = format!("CA certificate {common_name}");
        let key = new_key(&what)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.serial_number = Some(SerialNumber::from(new_serial(&what)?));
        let cert = params
            .self_signed(&key)
            .map_err(|e| PkiError::generate(&what, e))?;
        Ok(Self {
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA certificate (first certificate of the PEM file) and its PKCS#8 private key,
    /// encrypted or not.
    pub fn load(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
        password: Option<&str>,
    ) -> Result<Self, PkiError> {
        let (cert_path, key_path) = (cert_path.as_ref(), key_path.as_ref());
        crate::check_certified_key(cert_path, key_path, password, OffsetDateTime::now_utc())?;
        let cert = load_certificates(cert_path)?
            .into_iter()
            .next()
            .ok_or_else(|| PkiError::invalid(cert_path, "no certificate"))?;
        let key = match load_private_key(key_path, password)? {
            key @ PrivateKeyDer::Pkcs8(_) => KeyPair::try_from(&key)
                .map_err(|e| PkiError::invalid(key_path, format!("unusable CA key: {e}")))?,
            _ => {
                return Err(PkiError::invalid(
                    key_path,
                    "a CA key must be PKCS#8 (PEM PRIVATE KEY or ENCRYPTED PRIVATE KEY)",
                ));
            }
        };
        let issuer = Issuer::from_ca_cert_der(&cert, key)
            .map_err(|e| PkiError::invalid(cert_path, format!("unusable CA certificate: {e}")))?;
        if !issuer.key_usages().is_empty()
            && !issuer.key_usages().contains(&KeyUsagePurpose::KeyCertSign)
        {
            return Err(PkiError::invalid(
                cert_path,
                "the certificate may not sign certificates (no keyCertSign key usage)",
            ));
        }
        Ok(Self { cert, issuer })
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        der_to_pem("CERTIFICATE", &self.cert)
    }

    /// The CA's private key, PEM; encrypted (PKCS#8 PBES2) if a password is given.
    pub fn key_pem(&self, password: Option<&str>) -> Result<String, PkiError> {
        key_pem(self.issuer.key(), password)
    }

    /// Issues a TLS server certificate: serverAuth, a DNS subject alternative name for each of
    /// `dns_names` (entries that parse as IP addresses become IP SANs), or for `common_name` if
    /// the list is empty.
    pub fn issue_server(
        &self,
        common_name: &str,
        dns_names: &[String],
        validity: Validity,
        key_password: Option<&str>,
    ) -> Result<IssuedCertificate, PkiError> {
        let names = if dns_names.is_empty() {
            vec![common_name.to_owned()]
        } else {
            dns_names.to_vec()
        };
        let mut sans = Vec::with_capacity(names.len());
        for name in &names {
            sans.push(match name.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(name.as_str().try_into().map_err(|e| {
                    PkiError::generate(
                        format!("server certificate {common_name}"),
                        format!("DNS name {name:?}: {e}"),
                    )
                })?),
            });
        }
        self.issue(
            common_name,
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            validity,
            key_password,
        )
    }

    /// Issues a TLS client certificate identifying a site: clientAuth, subject CN = `common_name`.
    pub fn issue_client(
        &self,
        common_name: &str,
        validity: Validity,
        key_password: Option<&str>,
    ) -> Result<IssuedCertificate, PkiError> {
        self.issue(
            common_name,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
            validity,
            key_password,
        )
    }

    fn issue(
        &self,
        common_name: &str,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
        validity: Validity,
        key_password: Option<&str>,
    ) -> Result<IssuedCertificate, PkiError> {
        let what = format!("certificate {common_name}");
        let key = new_key(&what)?;
        let serial = new_serial(&what)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(common_name);
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.serial_number = Some(SerialNumber::from(serial.clone()));
        params.use_authority_key_identifier_extension = true;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| PkiError::generate(&what, e))?;
        Ok(IssuedCertificate {
            cert_pem: cert.pem(),
            key_pem: key_pem(&key, key_password)?,
            der: cert.der().clone(),
            serial,
        })
    }

    /// A revocation list (PEM `X509 CRL`) signed by this CA listing the given serial numbers.
    pub fn revocation_list(
        &self,
        revoked_serials: &[Vec<u8>],
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, PkiError> {
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(
                u64::try_from(this_update.unix_timestamp()).unwrap_or(1),
            ),
            issuing_distribution_point: None,
            revoked_certs: revoked_serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from(serial.clone()),
                    revocation_time: this_update,
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer)
            .and_then(|crl| crl.pem())
            .map_err(|e| PkiError::generate("revocation list", e))
    }
}

fn der_to_pem(label: &'static str, der: &[u8]) -> String {
    // Encoding fails only on a length overflow, impossible for a certificate held in memory.
    pkcs8::der::pem::encode_string(label, pkcs8::LineEnding::LF, der).unwrap_or_default()
}
