//! Pseudonyms.
//!
//! - [`SitePseudonymizer`]: a site's own pseudonyms, `HMAC-SHA256` under a per-site, per-purpose
//!   key derived from the site's secret key. Stable for the same site, purpose and identifier;
//!   different purposes give unlinkable pseudonyms; not reversible without the key.
//! - [`assign_study_pseudonyms`]: the linking party gives every linked group of a study a fresh
//!   random pseudonym (a new study gives new, unlinkable pseudonyms), and
//!   [`seal_study_pseudonyms`] delivers to each site only its own rows' pseudonyms, in an
//!   [envelope] that only that site can open.
//!
//! Differences from the HiGHmed pseudonyms (dsf-processes.md §9.2), deliberate: the HiGHmed site
//! id (MEDICID) is an AES-GCM encryption of the EHR id that the site can decrypt; here the site
//! pseudonym is a keyed one-way hash that nobody can invert; the site maps it back by
//! recomputing it for its own identifiers (or keeping a table). The HiGHmed TTP pseudonym encrypts the list of MEDICIDs under a study key so the
//! TTP can decode it later; here the study pseudonym is random and the linking party keeps the
//! group membership ([`GroupPseudonym::members`]) for as long as it needs it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rsa::{PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::envelope::{self, EnvelopeError};
use crate::linkage::RecordRef;
use crate::random;

/// Errors creating or delivering pseudonyms.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PseudonymError {
    /// The site key is shorter than 32 bytes.
    #[error("pseudonym keys need at least 32 bytes, got {0}")]
    KeyTooShort(usize),
    /// A group refers to a data set without a site.
    #[error("group member from data set {0}, but only {1} sites were given")]
    UnknownDataset(usize, usize),
    /// The delivered list cannot be read.
    #[error("pseudonym list is malformed: {0}")]
    Malformed(String),
    /// Sealing or opening failed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The random number generator failed.
    #[error(transparent)]
    Random(#[from] random::RandomError),
}

/// Creates a site's pseudonyms for one purpose.
#[derive(Clone)]
pub struct SitePseudonymizer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for SitePseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SitePseudonymizer(..)")
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

fn length_prefixed(mac: &mut Hmac<Sha256>, part: &[u8]) {
    mac.update(&(part.len() as u64).to_be_bytes());
    mac.update(part);
}

impl SitePseudonymizer {
    /// A pseudonymizer for `site` and `purpose` under the site's secret `key` (≥ 32 bytes).
    pub fn new(key: &[u8], site: &str, purpose: &str) -> Result<Self, PseudonymError> {
        if key.len() < 32 {
            return Err(PseudonymError::KeyTooShort(key.len()));
        }
        let mut derive = mac(key);
        length_prefixed(&mut derive, b"dsf-privacy site pseudonym v1");
        length_prefixed(&mut derive, site.as_bytes());
        length_prefixed(&mut derive, purpose.as_bytes());
        Ok(Self {
            mac: mac(&derive.finalize().into_bytes()),
        })
    }

    /// The pseudonym of a local identifier: Base64url (no padding) of
    /// `HMAC-SHA256(derived key, identifier)`, 43 characters.
    pub fn pseudonym(&self, identifier: &str) -> String {
        let mut m = self.mac.clone();
        m.update(identifier.as_bytes());
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    }

    /// Whether `pseudonym` is the pseudonym of `identifier`, compared in constant time.
    pub fn verify(&self, identifier: &str, pseudonym: &str) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(pseudonym) else {
            return false;
        };
        let mut m = self.mac.clone();
        m.update(identifier.as_bytes());
        m.verify_slice(&tag).is_ok()
    }
}

/// The cross-site pseudonym of one linked group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPseudonym {
    /// Members of the group.
    pub members: Vec<RecordRef>,
    /// Random pseudonym (128 bits, Base64url).
    pub pseudonym: String,
}

/// Gives each group (typically [`crate::linkage::Linkage::groups`] plus unlinked records as
/// groups of one) a fresh random pseudonym.
pub fn assign_study_pseudonyms(
    groups: &[Vec<RecordRef>],
) -> Result<Vec<GroupPseudonym>, PseudonymError> {
    groups
        .iter()
        .map(|members| {
            let mut bytes = [0u8; 16];
            random::fill(&mut bytes)?;
            Ok(GroupPseudonym {
                members: members.clone(),
                pseudonym: URL_SAFE_NO_PAD.encode(bytes),
            })
        })
        .collect()
}

/// What one site receives: its rows and their study pseudonyms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SitePseudonyms {
    /// Study identifier.
    pub study: String,
    /// `(row, pseudonym)` for this site's rows, sorted by row.
    pub rows: Vec<(usize, String)>,
}

/// Seals for every site (data set `i` = `sites[i]`) the pseudonyms of its own rows, from the
/// linking party `sender`. Returns one envelope per site, in site order.
pub fn seal_study_pseudonyms(
    sender: &str,
    study: &str,
    assigned: &[GroupPseudonym],
    sites: &[(&str, &PublicKey)],
) -> Result<Vec<Vec<u8>>, PseudonymError> {
    let mut per_site: Vec<SitePseudonyms> = sites
        .iter()
        .map(|_| SitePseudonyms {
            study: study.to_owned(),
            rows: Vec::new(),
        })
        .collect();
    for group in assigned {
        for m in &group.members {
            per_site
                .get_mut(m.dataset)
                .ok_or(PseudonymError::UnknownDataset(m.dataset, sites.len()))?
                .rows
                .push((m.row, group.pseudonym.clone()));
        }
    }
    per_site
        .iter_mut()
        .zip(sites)
        .map(|(list, (site, key))| {
            list.rows.sort();
            let json =
                serde_json::to_vec(list).map_err(|e| PseudonymError::Malformed(e.to_string()))?;
            Ok(envelope::seal(sender, &[(site, key)], &json)?)
        })
        .collect()
}

/// Opens a site's pseudonym list sealed by [`seal_study_pseudonyms`].
pub fn open_study_pseudonyms(
    sealed: &[u8],
    site: &str,
    key: &PrivateKey,
) -> Result<SitePseudonyms, PseudonymError> {
    let opened = envelope::open(sealed, site, key)?;
    serde_json::from_slice(&opened.plaintext).map_err(|e| PseudonymError::Malformed(e.to_string()))
}
