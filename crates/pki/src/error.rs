use std::path::PathBuf;

/// What went wrong; every message is one line naming the file and the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A file holds no item of the kind asked for, or a malformed one.
    #[error("{}: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// An encrypted key could not be decrypted.
    #[error("{}: wrong password or not an encrypted PKCS#8 key", path.display())]
    WrongPassword {
        /// The key file.
        path: PathBuf,
    },
    /// The private key does not belong to the certificate.
    #[error("private key {} does not match certificate {}", key.display(), cert.display())]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The certificate's validity ended before the time of the check.
    #[error("certificate {} expired on {not_after}", path.display())]
    Expired {
        /// The certificate file.
        path: PathBuf,
        /// End of validity, RFC 3339.
        not_after: String,
    },
    /// The certificate's validity starts after the time of the check.
    #[error("certificate {} is not valid before {not_before}", path.display())]
    NotYetValid {
        /// The certificate file.
        path: PathBuf,
        /// Start of validity, RFC 3339.
        not_before: String,
    },
    /// Generating a key, certificate or revocation list failed.
    #[error("{what}: {reason}")]
    Generate {
        /// What was being generated.
        what: String,
        /// Why it failed.
        reason: String,
    },
}

impl PkiError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn generate(what: impl std::fmt::Display, reason: impl std::fmt::Display) -> Self {
        Self::Generate {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}
