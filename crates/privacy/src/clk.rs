//! [`ClkEncoder`]: encodes records into cryptographic long-term keys (CLKs), bit-identical to
//! clkhash 0.18 for the same [`LinkageSchema`], records and secret.
//!
//! Per record, every non-ignored column is validated and normalised ([`crate::format`]), split
//! into tokens (n-grams, the whole value, or numeric neighbourhoods), and each token sets `k`
//! bits of one filter of `l * 2^xor_folds` bits, which is XOR-folded at the end. The per-column keys come from
//! HKDF over the shared secret: two keys of `keySize` bytes per column, in column order, ignored
//! columns included.
//!
//! - `doubleHash`: `h1 = HMAC-SHA1(key0, token) mod L`, `h2 = HMAC-MD5(key1, token) mod L`
//!   (digests read as big-endian integers), bits `(h1 + i h2) mod L` for `i < k`. With
//!   `prevent_singularity`, while `h2 = 0` the token is re-hashed with the UTF-8 encoding of the
//!   code point `j = 0, 1, …` appended (`HMAC-MD5(key1, token ‖ chr(j))`).
//! - `blakeHash`: for block `j < ceil(k/32)`, BLAKE2b-512 keyed with `key0` and salted with the
//!   decimal text of `j` gives 32 little-endian 16-bit numbers; bit `i` is number `i mod L`.
//!
//! Hash results are cached per column and token, and a value's nonzero filter words per column
//! and value, as clkhash does with its n-gram and token caches; that is what makes encoding fast
//! on real data, where most values and n-grams repeat. Tokens are slices of one padded buffer
//! and bits go straight into the filter's words, so the hot path does not allocate.

use rustc_hash::FxHashMap as HashMap;

use blake2::Blake2bMac512;
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use sha1::Sha1;

use zeroize::Zeroizing;

use crate::filter::BloomFilter;
use crate::format;
use crate::schema::{
    FeatureSpec, FieldFormat, HashKind, KdfConfig, KdfHash, LinkageSchema, Strategy, TextEncoding,
};
use crate::tokens;

/// Largest supported filter length before folding (bits).
const MAX_HASH_LENGTH: u64 = 1 << 32;
/// Cached tokens per column before the cache is cleared.
const TOKEN_CACHE_LIMIT: usize = 1 << 18;
/// Cached raw values per column before the cache is cleared.
const VALUE_CACHE_LIMIT: usize = 1 << 14;
/// Re-hash attempts for `prevent_singularity` before giving up.
const SINGULARITY_RETRIES: u32 = 10_000;

/// Errors while encoding records.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The schema cannot be used for encoding (key sizes, lengths).
    #[error("schema cannot be used: {0}")]
    Schema(String),
    /// A record has the wrong number of columns.
    #[error("record has {found} columns, the schema has {expected}")]
    RowLength {
        /// Columns in the schema.
        expected: usize,
        /// Columns in the record.
        found: usize,
    },
    /// A header does not name the schema's columns in order.
    #[error("header column {index} is '{found}', the schema expects '{expected}'")]
    Header {
        /// Column position.
        index: usize,
        /// Identifier from the schema.
        expected: String,
        /// Name found in the header.
        found: String,
    },
    /// A value does not conform to its column's format.
    #[error("invalid entry in column '{column}': {reason}")]
    InvalidEntry {
        /// Column identifier.
        column: String,
        /// What is wrong.
        reason: String,
    },
}

/// Derives `count` keys of `config.key_size` bytes from `secret` with HKDF, as clkhash's
/// `generate_key_lists` does.
fn derive_keys(
    secret: &[u8],
    config: &KdfConfig,
    count: usize,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let mut okm = Zeroizing::new(vec![0u8; count * config.key_size]);
    let salt = config.salt.as_deref();
    let info = config.info.as_deref().unwrap_or_default();
    let result = match config.hash {
        KdfHash::Sha256 => hkdf::Hkdf::<sha2::Sha256>::new(salt, secret).expand(info, &mut okm),
        KdfHash::Sha512 => hkdf::Hkdf::<sha2::Sha512>::new(salt, secret).expand(info, &mut okm),
    };
    result.map_err(|_| {
        EncodeError::Schema(format!(
            "HKDF cannot derive {count} keys of {} bytes; use fewer columns or a smaller keySize",
            config.key_size
        ))
    })?;
    Ok(okm.chunks(config.key_size).map(<[u8]>::to_vec).collect())
}

/// Hash results per token. Tokens of up to 7 bytes (nearly all n-grams) are keyed by a packed
/// `u64`, which avoids a heap key and a byte comparison per lookup and keeps the table small
/// enough for the CPU caches.
struct TokenCache<V> {
    small: HashMap<u64, V>,
    large: HashMap<Vec<u8>, V>,
}

impl<V> Default for TokenCache<V> {
    fn default() -> Self {
        Self {
            small: HashMap::default(),
            large: HashMap::default(),
        }
    }
}

impl<V> TokenCache<V> {
    fn small_key(token: &[u8]) -> Option<u64> {
        // Assembled with shifts: copying into a byte array and reading it back as a whole
        // stalls on store forwarding in this hot path.
        (token.len() < 8).then(|| {
            let key = token
                .iter()
                .enumerate()
                .fold(0u64, |k, (i, &b)| k | (u64::from(b) << (8 * i)));
            key | (token.len() as u64) << 56
        })
    }

    fn get(&self, token: &[u8]) -> Option<&V> {
        match Self::small_key(token) {
            Some(key) => self.small.get(&key),
            None => self.large.get(token),
        }
    }

    fn insert(&mut self, token: &[u8], value: V) {
        if self.small.len() + self.large.len() >= TOKEN_CACHE_LIMIT {
            self.small.clear();
            self.large.clear();
        }
        match Self::small_key(token) {
            Some(key) => self.small.insert(key, value),
            None => self.large.insert(token.to_vec(), value),
        };
    }
}

enum Hasher {
    Double {
        sha1: Box<Hmac<Sha1>>,
        md5: Box<Hmac<Md5>>,
        prevent_singularity: bool,
        cache: TokenCache<(u32, u32)>,
    },
    Blake {
        key: Zeroizing<Vec<u8>>,
        cache: TokenCache<Vec<u16>>,
    },
}

impl Hasher {
    /// Sets the `k` bits of `token` (filter length `l`) in `bits`, using and filling the cache.
    fn set_bits(
        &mut self,
        token: &[u8],
        k: u32,
        l: u64,
        bits: &mut (impl BitSink + ?Sized),
    ) -> Result<(), String> {
        match self {
            Hasher::Double {
                sha1,
                md5,
                prevent_singularity,
                cache,
            } => {
                let (h1, h2) = match cache.get(token) {
                    Some(h) => *h,
                    None => {
                        let h = double_hash(sha1, md5, *prevent_singularity, token, l)?;
                        cache.insert(token, h);
                        h
                    }
                };
                let (mut g, h2) = (u64::from(h1), u64::from(h2));
                for _ in 0..k {
                    bits.set(g);
                    g += h2;
                    if g >= l {
                        g -= l;
                    }
                }
            }
            Hasher::Blake { key, cache } => {
                let needed = (k as usize).div_ceil(32) * 32;
                if cache.get(token).is_none_or(|s| s.len() < needed) {
                    let shorts = blake_shorts(key, token, needed / 32)?;
                    cache.insert(token, shorts);
                }
                let shorts = cache.get(token).ok_or("token cache")?;
                for s in &shorts[..k as usize] {
                    bits.set(u64::from(*s) % l);
                }
            }
        }
        Ok(())
    }
}

struct Column {
    identifier: String,
    spec: Option<FeatureSpec>,
    hasher: Option<Hasher>,
    /// Bit positions per raw value already seen (valid values only).
    values: ValueCache,
}

/// Where a token's bits go.
trait BitSink {
    /// Sets bit `index` (callers reduce it modulo the filter length).
    fn set(&mut self, index: u64);
}

/// A filter's words, bit `i` being bit `63 - i % 64` of word `i / 64` (as in [`BloomFilter`]).
impl BitSink for [u64] {
    #[inline]
    fn set(&mut self, index: u64) {
        if let Some(word) = self.get_mut((index >> 6) as usize) {
            *word |= 1 << (63 - (index & 63));
        }
    }
}

/// The bits of one value, set in a dense scratch filter with a bitmap of its touched words, so
/// that collecting the value's words (and clearing the scratch) reads 1/4096 of the filter plus
/// the touched words. Setting a bit does not branch on the data.
struct ValueBits {
    words: Vec<u64>,
    touched: Vec<u64>,
}

impl ValueBits {
    fn new(len: usize) -> Self {
        let words = len.div_ceil(64);
        Self {
            words: vec![0; words],
            touched: vec![0; words.div_ceil(64)],
        }
    }

    /// Moves the nonzero words, as `(index, word)`, to `out` and clears the scratch.
    fn drain(&mut self, out: &mut Vec<(u32, u64)>) {
        out.clear();
        for (t, touched) in self.touched.iter_mut().enumerate() {
            let mut mask = std::mem::take(touched);
            while mask != 0 {
                let w = t * 64 + mask.trailing_zeros() as usize;
                mask &= mask - 1;
                out.push((w as u32, std::mem::take(&mut self.words[w])));
            }
        }
    }
}

impl BitSink for ValueBits {
    #[inline]
    fn set(&mut self, index: u64) {
        let w = (index >> 6) as usize;
        if let (Some(word), Some(touched)) = (self.words.get_mut(w), self.touched.get_mut(w >> 6)) {
            *word |= 1 << (63 - (index & 63));
            *touched |= 1 << (w & 63);
        }
    }
}

/// The nonzero filter words per raw value of a column. Columns whose values rarely repeat (dates
/// of birth, identifiers) switch the cache off after a trial, so it does not crowd the CPU caches.
#[derive(Default)]
struct ValueCache {
    map: HashMap<String, Box<[(u32, u64)]>>,
    lookups: u32,
    hits: u32,
    disabled: bool,
}

impl ValueCache {
    /// Lookups before deciding whether the cache pays off.
    const TRIAL: u32 = 1024;

    fn get(&mut self, value: &str) -> Option<&[(u32, u64)]> {
        if self.disabled {
            return None;
        }
        if self.lookups < Self::TRIAL {
            self.lookups += 1;
            let hit = self.map.contains_key(value);
            self.hits += u32::from(hit);
            if self.lookups == Self::TRIAL && self.hits * 4 < self.lookups {
                self.disabled = true;
                self.map = HashMap::default();
            }
            if !hit || self.disabled {
                return None;
            }
        }
        self.map.get(value).map(|b| &**b)
    }

    fn enabled(&self) -> bool {
        !self.disabled
    }

    fn insert(&mut self, value: &str, words: &[(u32, u64)]) {
        if self.disabled {
            return;
        }
        if self.map.len() >= VALUE_CACHE_LIMIT {
            self.map.clear();
        }
        self.map.insert(value.to_owned(), words.into());
    }
}

/// Encodes records into CLKs under one schema and secret. Not `Sync` (it caches token hashes);
/// clone it for each thread.
pub struct ClkEncoder {
    columns: Vec<Column>,
    hash_length: usize,
    xor_folds: u32,
    token_bytes: Vec<u8>,
    scratch: tokens::Scratch,
    bits: ValueBits,
    value_words: Vec<(u32, u64)>,
}

impl Clone for ClkEncoder {
    fn clone(&self) -> Self {
        let columns = self
            .columns
            .iter()
            .map(|c| Column {
                identifier: c.identifier.clone(),
                spec: c.spec.clone(),
                values: ValueCache::default(),
                hasher: c.hasher.as_ref().map(|h| match h {
                    Hasher::Double {
                        sha1,
                        md5,
                        prevent_singularity,
                        ..
                    } => Hasher::Double {
                        sha1: sha1.clone(),
                        md5: md5.clone(),
                        prevent_singularity: *prevent_singularity,
                        cache: TokenCache::default(),
                    },
                    Hasher::Blake { key, .. } => Hasher::Blake {
                        key: key.clone(),
                        cache: TokenCache::default(),
                    },
                }),
            })
            .collect();
        Self {
            columns,
            hash_length: self.hash_length,
            xor_folds: self.xor_folds,
            token_bytes: Vec::new(),
            scratch: tokens::Scratch::default(),
            bits: ValueBits::new(self.hash_length),
            value_words: Vec::new(),
        }
    }
}

impl ClkEncoder {
    /// Prepares an encoder: derives the column keys from `secret` (clkhash encodes a text secret
    /// as UTF-8) and checks that the schema's lengths and key sizes can be used.
    pub fn new(schema: &LinkageSchema, secret: &[u8]) -> Result<Self, EncodeError> {
        let hash_length = schema.hash_length();
        if hash_length as u64 > MAX_HASH_LENGTH || hash_length >> schema.xor_folds != schema.l {
            return Err(EncodeError::Schema(format!(
                "filter length {} x 2^{} is too large",
                schema.l, schema.xor_folds
            )));
        }
        let keys = Zeroizing::new(derive_keys(secret, &schema.kdf, 2 * schema.features.len())?);
        let columns = schema
            .features
            .iter()
            .zip(keys.chunks(2))
            .map(|(feature, keys)| {
                let hasher = match &feature.spec {
                    None => None,
                    Some(spec) => Some(match spec.hashing.hash {
                        HashKind::DoubleHash {
                            prevent_singularity,
                        } => Hasher::Double {
                            sha1: Box::new(
                                Hmac::<Sha1>::new_from_slice(&keys[0])
                                    .map_err(|e| EncodeError::Schema(e.to_string()))?,
                            ),
                            md5: Box::new(
                                Hmac::<Md5>::new_from_slice(&keys[1])
                                    .map_err(|e| EncodeError::Schema(e.to_string()))?,
                            ),
                            prevent_singularity,
                            cache: TokenCache::default(),
                        },
                        HashKind::BlakeHash => {
                            if !hash_length.is_power_of_two() {
                                return Err(EncodeError::Schema(format!(
                                    "blakeHash needs a power-of-two filter length, not {hash_length}"
                                )));
                            }
                            if keys[0].len() > 64 {
                                return Err(EncodeError::Schema(
                                    "blakeHash keys are at most 64 bytes; lower kdf keySize".into(),
                                ));
                            }
                            Hasher::Blake {
                                key: Zeroizing::new(keys[0].clone()),
                                cache: TokenCache::default(),
                            }
                        }
                    }),
                };
                Ok(Column {
                    identifier: feature.identifier.clone(),
                    spec: feature.spec.clone(),
                    hasher,
                    values: ValueCache::default(),
                })
            })
            .collect::<Result<Vec<_>, EncodeError>>()?;
        Ok(Self {
            columns,
            hash_length,
            xor_folds: schema.xor_folds,
            token_bytes: Vec::new(),
            scratch: tokens::Scratch::default(),
            bits: ValueBits::new(hash_length),
            value_words: Vec::new(),
        })
    }

    /// Checks that `header` names the schema's columns in order.
    pub fn check_header<S: AsRef<str>>(&self, header: &[S]) -> Result<(), EncodeError> {
        if header.len() != self.columns.len() {
            return Err(EncodeError::RowLength {
                expected: self.columns.len(),
                found: header.len(),
            });
        }
        for (index, (column, name)) in self.columns.iter().zip(header).enumerate() {
            if column.identifier != name.as_ref() {
                return Err(EncodeError::Header {
                    index,
                    expected: column.identifier.clone(),
                    found: name.as_ref().to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Encodes one record (one value per schema column, in order).
    pub fn encode<S: AsRef<str>>(&mut self, record: &[S]) -> Result<BloomFilter, EncodeError> {
        if record.len() != self.columns.len() {
            return Err(EncodeError::RowLength {
                expected: self.columns.len(),
                found: record.len(),
            });
        }
        let l = self.hash_length as u64;
        let mut filter = BloomFilter::zeros(self.hash_length);
        let token_bytes = &mut self.token_bytes;
        let scratch = &mut self.scratch;
        let bits = &mut self.bits;
        let value_words = &mut self.value_words;
        for (column, value) in self.columns.iter_mut().zip(record) {
            let Column {
                identifier,
                spec: Some(spec),
                hasher: Some(hasher),
                values,
            } = column
            else {
                continue;
            };
            let value = value.as_ref();
            if let Some(words) = values.get(value) {
                or_words(filter.words_mut(), words);
                continue;
            }
            let invalid = |reason: String| EncodeError::InvalidEntry {
                column: identifier.clone(),
                reason,
            };
            format::validate(spec, value).map_err(invalid)?;
            let word = format::normalise(spec, value).map_err(invalid)?;
            let encoding = match spec.format {
                FieldFormat::String { encoding, .. } => encoding,
                _ => TextEncoding::Utf8,
            };
            let strategy = spec.hashing.strategy;
            let caching = values.enabled();
            let tokenised = tokens::for_each_token(
                &spec.hashing.comparison,
                &word,
                scratch,
                |index, n, gram| {
                    let k = insertions(strategy, index, n);
                    if k == 0 {
                        return Ok(());
                    }
                    let token = if encoding == TextEncoding::Utf8 {
                        gram.as_bytes()
                    } else {
                        tokens::encode_text(encoding, gram, token_bytes)?;
                        &token_bytes[..]
                    };
                    if caching {
                        hasher.set_bits(token, k, l, bits)
                    } else {
                        hasher.set_bits(token, k, l, filter.words_mut())
                    }
                },
            );
            // Drained before any error, so that a failed value leaves no bits behind.
            if caching {
                bits.drain(value_words);
            }
            tokenised.map_err(invalid)?;
            if caching {
                or_words(filter.words_mut(), value_words);
                values.insert(value, value_words);
            }
        }
        Ok(if self.xor_folds == 0 {
            filter
        } else {
            filter.xor_fold(self.xor_folds)
        })
    }
}

/// ORs `(index, word)` pairs into `words`; indices beyond the end are ignored.
fn or_words(words: &mut [u64], pairs: &[(u32, u64)]) {
    for &(w, bits) in pairs {
        if let Some(word) = words.get_mut(w as usize) {
            *word |= bits;
        }
    }
}

/// Insertions for token `index` of `n` under `strategy`.
fn insertions(strategy: Strategy, index: usize, n: usize) -> u32 {
    match strategy {
        Strategy::BitsPerToken(k) => k,
        Strategy::BitsPerFeature(total) => {
            let n32 = u32::try_from(n).unwrap_or(u32::MAX);
            let base = total / n32;
            let residue = (total % n32) as usize;
            if index < residue { base + 1 } else { base }
        }
    }
}

/// A big-endian digest modulo `l` (`1 <= l <= 2^32`), three bytes per step so that the
/// remainder (< 2^32) shifted by 24 bits stays within a `u64`.
fn digest_mod(digest: &[u8], l: u64) -> u64 {
    debug_assert!((1..=MAX_HASH_LENGTH).contains(&l));
    let mut r = 0u64;
    let mut chunks = digest.chunks_exact(3);
    for c in &mut chunks {
        let v = (u64::from(c[0]) << 16) | (u64::from(c[1]) << 8) | u64::from(c[2]);
        r = ((r << 24) | v) % l;
    }
    for &b in chunks.remainder() {
        r = ((r << 8) | u64::from(b)) % l;
    }
    r
}

fn double_hash(
    sha1: &Hmac<Sha1>,
    md5: &Hmac<Md5>,
    prevent_singularity: bool,
    token: &[u8],
    l: u64,
) -> Result<(u32, u32), String> {
    let mut mac = sha1.clone();
    mac.update(token);
    let h1 = digest_mod(&mac.finalize().into_bytes(), l);
    let mut mac = md5.clone();
    mac.update(token);
    let mut h2 = digest_mod(&mac.finalize().into_bytes(), l);
    if prevent_singularity {
        let mut j = 0u32;
        let mut buf = [0u8; 4];
        while h2 == 0 {
            if j >= SINGULARITY_RETRIES {
                return Err(format!(
                    "cannot avoid a singular hash with filter length {l}"
                ));
            }
            let suffix = char::from_u32(j)
                .ok_or("singularity retries exhausted")?
                .encode_utf8(&mut buf);
            let mut mac = md5.clone();
            mac.update(token);
            mac.update(suffix.as_bytes());
            h2 = digest_mod(&mac.finalize().into_bytes(), l);
            j += 1;
        }
    }
    // Both are below l <= 2^32.
    Ok((h1 as u32, h2 as u32))
}

fn blake_shorts(key: &[u8], token: &[u8], blocks: usize) -> Result<Vec<u16>, String> {
    let mut shorts = Vec::with_capacity(blocks * 32);
    for j in 0..blocks {
        let salt = j.to_string();
        let mut mac = Blake2bMac512::new_with_salt_and_personal(Some(key), salt.as_bytes(), &[])
            .map_err(|_| "invalid blakeHash key or salt length".to_owned())?;
        mac.update(token);
        let digest = mac.finalize().into_bytes();
        shorts.extend(
            digest
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]])),
        );
    }
    Ok(shorts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_per_feature_spreads_the_remainder_first() {
        let s = Strategy::BitsPerFeature(10);
        let ks: Vec<u32> = (0..4).map(|i| insertions(s, i, 4)).collect();
        assert_eq!(ks, vec![3, 3, 2, 2]);
    }

    #[test]
    fn digest_mod_matches_big_integer_arithmetic() {
        let digest: Vec<u8> = (0u8..20)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        for l in [1u64, 2, 7, 1000, 1024, 65_537, (1 << 32) - 5, 1 << 32] {
            let expected = digest
                .iter()
                .fold(0u128, |r, b| ((r << 8) | u128::from(*b)) % u128::from(l));
            assert_eq!(u128::from(digest_mod(&digest, l)), expected, "l = {l}");
        }
    }

    #[test]
    fn digest_mod_is_big_endian() {
        assert_eq!(digest_mod(&[1, 0], 1000), 256);
        assert_eq!(digest_mod(&[0xFF; 20], 7), {
            // (2^160 - 1) mod 7: 2^3 = 1 mod 7, 2^160 = 2^(3*53+1) = 2 mod 7.
            1
        });
    }
}
