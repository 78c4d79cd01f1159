//! [`BloomFilter`]: a fixed-length bit vector with the serialisation clkhash uses.
//!
//! Bit `i` of a filter is bit `7 - i % 8` of byte `i / 8` (most significant bit first), which is
//! what Python's `bitarray` (big-endian default) writes with `tobytes()`. The encoded form is the
//! standard Base64 of those bytes, as in clkhash's `{"clks": [...]}` output. Internally the bytes
//! are packed big-endian into `u64` words so that popcounts run a word at a time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Errors decoding a serialised Bloom filter.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// The text is not valid standard Base64.
    #[error("invalid base64 in Bloom filter: {0}")]
    Base64(String),
    /// The decoded filter is empty.
    #[error("empty Bloom filter")]
    Empty,
    /// Filters that are compared must have the same length.
    #[error("Bloom filter has {found} bits, expected {expected}")]
    Length {
        /// Length the caller expected, in bits.
        expected: usize,
        /// Length found, in bits.
        found: usize,
    },
}

/// A Bloom filter (also called a CLK or record Bloom filter) of a fixed number of bits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BloomFilter {
    len: usize,
    words: Vec<u64>,
}

impl std::fmt::Debug for BloomFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BloomFilter")
            .field("len", &self.len)
            .field("popcount", &self.popcount())
            .finish()
    }
}

impl BloomFilter {
    /// An all-zero filter of `len` bits.
    pub fn zeros(len: usize) -> Self {
        Self {
            len,
            words: vec![0; len.div_ceil(64)],
        }
    }

    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the filter has zero length.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets bit `index`.
    ///
    /// # Panics
    /// If `index >= self.len()`; callers compute indices modulo the length.
    #[inline]
    pub fn set(&mut self, index: usize) {
        assert!(index < self.len, "bit index {index} out of range");
        self.words[index >> 6] |= 1 << (63 - (index & 63));
    }

    /// Whether bit `index` is set; `false` beyond the end.
    pub fn get(&self, index: usize) -> bool {
        index < self.len && self.words[index / 64] & (1 << (63 - index % 64)) != 0
    }

    /// The bits as big-endian packed words (bit `i` is bit `63 - i % 64` of word `i / 64`);
    /// bits beyond the length are zero.
    pub(crate) fn words(&self) -> &[u64] {
        &self.words
    }

    /// The words for writing, in the order of [`words`](Self::words); bits beyond the length
    /// must stay zero.
    pub(crate) fn words_mut(&mut self) -> &mut [u64] {
        &mut self.words
    }

    /// Number of set bits.
    pub fn popcount(&self) -> u32 {
        self.words.iter().map(|w| w.count_ones()).sum()
    }

    /// Number of bits set in both filters.
    pub fn and_popcount(&self, other: &BloomFilter) -> u32 {
        self.words
            .iter()
            .zip(&other.words)
            .map(|(a, b)| (a & b).count_ones())
            .sum()
    }

    /// XOR-folds the filter `folds` times (first half XOR second half), as clkhash does.
    /// The length must be divisible by `2^folds`.
    pub(crate) fn xor_fold(&self, folds: u32) -> BloomFilter {
        let mut current = self.clone();
        for _ in 0..folds {
            let half = current.len / 2;
            let mut next = BloomFilter::zeros(half);
            for i in 0..half {
                if current.get(i) != current.get(i + half) {
                    next.set(i);
                }
            }
            current = next;
        }
        current
    }

    /// The filter as bytes, most significant bit first, padded with zero bits to a whole byte.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes: Vec<u8> = self.words.iter().flat_map(|w| w.to_be_bytes()).collect();
        bytes.truncate(self.len.div_ceil(8));
        bytes
    }

    /// A filter of `bytes.len() * 8` bits from bytes in the [`to_bytes`](Self::to_bytes) order.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let words = bytes
            .chunks(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                u64::from_be_bytes(word)
            })
            .collect();
        Self {
            len: bytes.len() * 8,
            words,
        }
    }

    /// Standard Base64 of [`to_bytes`](Self::to_bytes), as clkhash serialises CLKs.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.to_bytes())
    }

    /// Appends [`to_base64`](Self::to_base64) to `out`.
    pub fn append_base64(&self, out: &mut String) {
        STANDARD.encode_string(self.to_bytes(), out);
    }

    /// Decodes the Base64 form; the length is the number of decoded bytes times 8.
    pub fn from_base64(text: &str) -> Result<Self, FilterError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| FilterError::Base64(e.to_string()))?;
        if bytes.is_empty() {
            return Err(FilterError::Empty);
        }
        Ok(Self::from_bytes(&bytes))
    }

    /// Dice coefficient `2 |A ∧ B| / (|A| + |B|)`; 0 when both filters are empty.
    pub fn dice(&self, other: &BloomFilter) -> f64 {
        dice_from_counts(self.and_popcount(other), self.popcount(), other.popcount())
    }
}

/// Dice coefficient from the intersection count and the two popcounts.
pub(crate) fn dice_from_counts(both: u32, a: u32, b: u32) -> f64 {
    if a + b == 0 {
        0.0
    } else {
        2.0 * f64::from(both) / f64::from(a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_order_is_most_significant_first() {
        let mut f = BloomFilter::zeros(12);
        f.set(0);
        f.set(9);
        assert_eq!(f.to_bytes(), vec![0b1000_0000, 0b0100_0000]);
        assert_eq!(f.to_base64(), "gEA=");
        let back = BloomFilter::from_base64("gEA=").expect("valid");
        assert!(back.get(0) && back.get(9) && !back.get(1));
        assert_eq!(back.len(), 16);
    }

    #[test]
    fn dice_known_answers() {
        let a = BloomFilter::from_bytes(&[0b1111_0000]);
        let b = BloomFilter::from_bytes(&[0b1100_1100]);
        assert_eq!(a.dice(&b), 0.5);
        assert_eq!(a.dice(&a), 1.0);
        assert_eq!(BloomFilter::zeros(8).dice(&BloomFilter::zeros(8)), 0.0);
    }

    #[test]
    fn xor_fold_halves() {
        let mut f = BloomFilter::zeros(8);
        f.set(0);
        f.set(4);
        f.set(5);
        let folded = f.xor_fold(1);
        assert_eq!(folded.len(), 4);
        assert!(!folded.get(0) && folded.get(1));
    }

    #[test]
    fn malformed_base64_is_an_error() {
        assert!(matches!(
            BloomFilter::from_base64("not base64!"),
            Err(FilterError::Base64(_))
        ));
        assert_eq!(BloomFilter::from_base64(""), Err(FilterError::Empty));
    }
}
