//! [`RecordFilterEncoder`]: record-level Bloom filters (RBF) in the HiGHmed design: one field
//! Bloom filter per identifying field, sampled into a composite filter by per-field weights and
//! shuffled with a keyed permutation shared by all sites.
//!
//! Per field: the value is padded with `n - 1` spaces on each side and split into character
//! n-grams (`n` per field, bigrams in HiGHmed); every n-gram sets `k` bits (per field, 15 in
//! HiGHmed) of a field filter of
//! `m` bits at `(h1 + i h2) mod m`, `h1 = HMAC-SHA256(key1, gram)`, `h2 = HMAC-SHA256(key2, gram)`
//! read as unsigned big-endian integers. The record filter takes `round(length * weight)` bits
//! from each field filter cyclically (`bit b = field[b mod m]`), concatenates them and applies
//! a permutation drawn with Fisher–Yates from an HMAC-SHA256 counter-mode stream under the
//! permutation key.
//!
//! Deliberate differences from the HiGHmed reference implementation (see dsf-processes.md §9.1):
//! - every field uses its own weight (the reference passes the first-name weight for all nine
//!   fields, leaving 10 % of a 3000-bit filter always zero);
//! - sampling wraps at the field filter's real length `m` (the reference wraps at Java's
//!   `BitSet.size()`, the capacity rounded up to 64, and so samples bits that are always zero);
//! - weights must sum to 1 and the sampled bits fill the whole record filter exactly (the last
//!   field absorbs the rounding);
//! - the second hash is HMAC-SHA256 with its own key instead of HMAC-SHA3-256, digests are read
//!   as unsigned numbers instead of Java's signed `BigInteger`, and when `h2 mod m = 0` it is
//!   replaced by 1 so that a gram never collapses onto a single bit;
//! - the permutation is keyed (HMAC-SHA256 stream, unbiased rejection sampling) instead of
//!   `java.util.Random` seeded with a 64-bit number; filters are serialised like CLKs
//!   ([`BloomFilter::to_base64`]) rather than as `BitSet.toByteArray()`.
//!
//! All three keys come from one shared secret via HKDF-SHA256, so the sites need to agree on one
//! secret that the linking party never sees.

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::filter::BloomFilter;
use crate::tokens::ngrams;

/// Errors in a record filter configuration or record.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum RecordFilterError {
    /// The configuration is inconsistent.
    #[error("record filter configuration: {0}")]
    Config(String),
    /// A record has the wrong number of fields.
    #[error("record has {found} fields, the configuration has {expected}")]
    RowLength {
        /// Configured fields.
        expected: usize,
        /// Fields in the record.
        found: usize,
    },
}

/// One identifying field of a record filter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FieldConfig {
    /// Field name (the CSV column for `dsf privacy encode --record-filter`).
    pub name: String,
    /// Field filter length `m` in bits.
    pub length: usize,
    /// Share of the record filter taken from this field.
    pub weight: f64,
    /// The n of this field's n-grams (HiGHmed uses 2, the default in JSON).
    #[serde(default = "highmed_n")]
    pub n: usize,
    /// Bits set per n-gram (HiGHmed uses 15, the default in JSON).
    #[serde(default = "highmed_bits_per_gram")]
    pub bits_per_gram: u32,
}

fn highmed_n() -> usize {
    2
}

fn highmed_bits_per_gram() -> u32 {
    15
}

/// Settings shared by all sites.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordFilterConfig {
    /// The fields, in record order.
    pub fields: Vec<FieldConfig>,
    /// Record filter length in bits (HiGHmed uses 3000).
    pub length: usize,
}

impl RecordFilterConfig {
    /// The HiGHmed field set with the field lengths the processes use and the intended weights
    /// (first name, last name, birthday, sex, street, zip code, city, country, insurance number).
    pub fn highmed() -> Self {
        let fields = [
            ("firstName", 500, 0.1),
            ("lastName", 500, 0.1),
            ("birthday", 250, 0.1),
            ("sex", 50, 0.2),
            ("street", 500, 0.05),
            ("zipCode", 250, 0.1),
            ("city", 500, 0.05),
            ("country", 500, 0.2),
            ("insuranceNumber", 500, 0.1),
        ]
        .into_iter()
        .map(|(name, length, weight)| FieldConfig {
            name: name.to_owned(),
            length,
            weight,
            n: highmed_n(),
            bits_per_gram: highmed_bits_per_gram(),
        })
        .collect();
        Self {
            fields,
            length: 3000,
        }
    }

    /// Reads a configuration from JSON: `{"length": 3000, "fields": [{"name": "firstName",
    /// "length": 500, "weight": 0.1, "n": 2, "bitsPerGram": 15}, ...]}` (`n` and `bitsPerGram`
    /// optional). [`RecordFilterEncoder::new`] checks the values.
    pub fn from_json(text: &str) -> Result<Self, RecordFilterError> {
        serde_json::from_str(text).map_err(|e| RecordFilterError::Config(e.to_string()))
    }
}

/// Keys of a record filter: two hash keys and a permutation key.
#[derive(Clone)]
pub struct RecordFilterKeys {
    hash1: [u8; 32],
    hash2: [u8; 32],
    permutation: [u8; 32],
}

impl std::fmt::Debug for RecordFilterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordFilterKeys(..)")
    }
}

impl Drop for RecordFilterKeys {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.hash1.zeroize();
        self.hash2.zeroize();
        self.permutation.zeroize();
    }
}

impl RecordFilterKeys {
    /// Derives the keys from a secret shared by the sites (HKDF-SHA256, distinct info labels).
    pub fn from_secret(secret: &[u8]) -> Self {
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"dsf-privacy record filter"), secret);
        let mut keys = [[0u8; 32]; 3];
        for (key, label) in keys.iter_mut().zip(["hash1", "hash2", "permutation"]) {
            // 32 bytes is always within HKDF-SHA256's output limit.
            let _ = hk.expand(label.as_bytes(), key);
        }
        let [hash1, hash2, permutation] = keys;
        Self {
            hash1,
            hash2,
            permutation,
        }
    }
}

/// Encodes records into record-level Bloom filters.
#[derive(Clone)]
pub struct RecordFilterEncoder {
    config: RecordFilterConfig,
    samples: Vec<usize>,
    permutation: Vec<usize>,
    mac1: Hmac<Sha256>,
    mac2: Hmac<Sha256>,
}

impl RecordFilterEncoder {
    /// The configuration.
    pub fn config(&self) -> &RecordFilterConfig {
        &self.config
    }

    /// Checks the configuration and prepares the permutation.
    pub fn new(
        config: RecordFilterConfig,
        keys: &RecordFilterKeys,
    ) -> Result<Self, RecordFilterError> {
        let bad = |m: &str| Err(RecordFilterError::Config(m.to_owned()));
        if config.fields.is_empty()
            || config.length == 0
            || config.fields.iter().any(|f| f.n == 0 || f.n > 256)
        {
            return bad("need at least one field, a positive length and n between 1 and 256");
        }
        if config.length > 1 << 24
            || config
                .fields
                .iter()
                .any(|f| f.length == 0 || f.length > 1 << 24)
        {
            return bad("filter lengths must be between 1 and 2^24 bits");
        }
        if config
            .fields
            .iter()
            .any(|f| f.bits_per_gram == 0 || f.bits_per_gram > 1 << 16)
        {
            return bad("bits per n-gram must be between 1 and 65536");
        }
        if config
            .fields
            .iter()
            .any(|f| !(f.weight >= 0.0 && f.weight <= 1.0))
        {
            return bad("weights must be between 0 and 1");
        }
        let sum: f64 = config.fields.iter().map(|f| f.weight).sum();
        if (sum - 1.0).abs() > 1e-6 {
            return bad(&format!("weights sum to {sum}, not 1"));
        }
        let mut samples: Vec<usize> = config
            .fields
            .iter()
            .map(|f| (config.length as f64 * f.weight).round() as usize)
            .collect();
        let taken: usize = samples.iter().sum();
        if let Some(last) = samples.iter_mut().rev().find(|s| **s > 0) {
            *last = (*last + config.length).saturating_sub(taken);
        }
        if samples.iter().sum::<usize>() != config.length {
            return bad("weights cannot fill the record filter");
        }
        let permutation = keyed_permutation(&keys.permutation, config.length);
        Ok(Self {
            samples,
            permutation,
            mac1: Hmac::<Sha256>::new_from_slice(&keys.hash1)
                .map_err(|e| RecordFilterError::Config(e.to_string()))?,
            mac2: Hmac::<Sha256>::new_from_slice(&keys.hash2)
                .map_err(|e| RecordFilterError::Config(e.to_string()))?,
            config,
        })
    }

    /// The field filter of one value.
    pub fn field_filter(&self, field: usize, value: &str) -> Option<BloomFilter> {
        let config = self.config.fields.get(field)?;
        let m = config.length;
        let mut filter = BloomFilter::zeros(m);
        let m64 = m as u64;
        for gram in ngrams(value, config.n, false) {
            let h1 = mac_mod(&self.mac1, gram.as_bytes(), m64);
            let h2 = match mac_mod(&self.mac2, gram.as_bytes(), m64) {
                0 => 1 % m64,
                h => h,
            };
            let mut g = h1;
            for _ in 0..config.bits_per_gram {
                filter.set(g as usize);
                g = (g + h2) % m64;
            }
        }
        Some(filter)
    }

    /// Encodes one record (one value per configured field; empty values set no bits).
    pub fn encode<S: AsRef<str>>(&self, record: &[S]) -> Result<BloomFilter, RecordFilterError> {
        if record.len() != self.config.fields.len() {
            return Err(RecordFilterError::RowLength {
                expected: self.config.fields.len(),
                found: record.len(),
            });
        }
        let mut composite = Vec::with_capacity(self.config.length);
        for (i, (value, &take)) in record.iter().zip(&self.samples).enumerate() {
            let filter =
                self.field_filter(i, value.as_ref())
                    .ok_or(RecordFilterError::RowLength {
                        expected: self.config.fields.len(),
                        found: i,
                    })?;
            composite.extend((0..take).map(|b| filter.get(b % filter.len())));
        }
        let mut out = BloomFilter::zeros(self.config.length);
        for (target, &source) in self.permutation.iter().enumerate() {
            if composite[source] {
                out.set(target);
            }
        }
        Ok(out)
    }
}

fn mac_mod(mac: &Hmac<Sha256>, data: &[u8], m: u64) -> u64 {
    let mut mac = mac.clone();
    mac.update(data);
    mac.finalize()
        .into_bytes()
        .iter()
        .fold(0u64, |r, b| ((r << 8) | u64::from(*b)) % m)
}

/// A permutation of `0..len` from Fisher–Yates over an HMAC-SHA256(key, counter) stream.
fn keyed_permutation(key: &[u8; 32], len: usize) -> Vec<usize> {
    let mut stream = KeyStream::new(key);
    let mut p: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = stream.below(i as u64 + 1) as usize;
        p.swap(i, j);
    }
    p
}

struct KeyStream {
    mac: Hmac<Sha256>,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl KeyStream {
    fn new(key: &[u8; 32]) -> Self {
        Self {
            mac: Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length"),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn next_u64(&mut self) -> u64 {
        if self.used == 32 {
            let mut mac = self.mac.clone();
            mac.update(&self.counter.to_be_bytes());
            self.block.copy_from_slice(&mac.finalize().into_bytes());
            self.counter += 1;
            self.used = 0;
        }
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.block[self.used..self.used + 8]);
        self.used += 8;
        u64::from_be_bytes(word)
    }

    /// Uniform in `0..bound` by rejection sampling.
    fn below(&mut self, bound: u64) -> u64 {
        let zone = u64::MAX - (u64::MAX % bound);
        loop {
            let v = self.next_u64();
            if v < zone {
                return v % bound;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_bijection_and_keyed() {
        let p = keyed_permutation(&[1; 32], 3000);
        let mut sorted = p.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..3000).collect::<Vec<_>>());
        assert_ne!(p, keyed_permutation(&[2; 32], 3000));
        assert_ne!(p, (0..3000).collect::<Vec<_>>());
    }
}
