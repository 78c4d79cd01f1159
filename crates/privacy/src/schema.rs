//! [`LinkageSchema`]: clkhash's linkage schema (version 3 JSON), which describes the columns of a
//! data set and how each one is encoded into a [`BloomFilter`](crate::BloomFilter).
//!
//! Parsing follows clkhash 0.18 (`clkhash/schema.py`, `field_formats.py`, `comparators.py` and the
//! v3 master schema); every field the v3 master schema allows is accepted. Two places where the
//! JSON and clkhash disagree are handled explicitly:
//! - clkhash reads the fold count from `clkConfig.xor_folds` and ignores the documented
//!   `xorFolds`; a schema with a non-zero `xorFolds` is rejected here rather than silently
//!   producing encodings that differ from clkhash's.
//! - a missing `hashing.hash` means `blakeHash`, as in clkhash.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::format::DateFormat;

/// Largest `bitsPerToken` / `bitsPerFeature` accepted (clkhash sets no limit; real schemas use
/// tens to hundreds, and the limit keeps a hostile schema from making encoding arbitrarily slow).
pub const MAX_BITS: u32 = 1 << 16;

/// Errors in a linkage schema.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The text is not JSON of the expected shape.
    #[error("linkage schema is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// Only version 3 schemas are accepted.
    #[error("unsupported linkage schema version {0}; version 3 is required")]
    Version(String),
    /// A value is out of range or inconsistent.
    #[error("linkage schema: {0}")]
    Invalid(String),
    /// A feature is invalid; `index` counts from 0.
    #[error("linkage schema feature {index} ('{identifier}'): {reason}")]
    Feature {
        /// Position of the feature in `features`.
        index: usize,
        /// The feature's identifier.
        identifier: String,
        /// What is wrong.
        reason: String,
    },
}

/// Hash function used by HKDF to derive the per-feature keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfHash {
    /// HKDF-SHA256 (the default).
    Sha256,
    /// HKDF-SHA512.
    Sha512,
}

/// Key derivation settings (`clkConfig.kdf`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdfConfig {
    /// HKDF hash.
    pub hash: KdfHash,
    /// HKDF salt (decoded from Base64), if any.
    pub salt: Option<Vec<u8>>,
    /// HKDF info (decoded from Base64), if any.
    pub info: Option<Vec<u8>>,
    /// Size of each derived key in bytes (default 64).
    pub key_size: usize,
}

/// How a field value is turned into tokens.
#[derive(Debug, Clone, PartialEq)]
pub enum Comparison {
    /// Character n-grams of the value padded with `n - 1` spaces each side; positional n-grams
    /// carry their 1-based position as a prefix (`"3 lk"`).
    Ngram {
        /// The n in n-gram.
        n: usize,
        /// Whether to prefix the position.
        positional: bool,
    },
    /// The whole value is one token.
    Exact,
    /// Neighbourhood tokens of a number (Vatsalan and Christen), as clkhash implements them.
    Numeric {
        /// Maximum distance with overlapping tokens.
        threshold_distance: f64,
        /// Tokens on either side of the value.
        resolution: u32,
        /// Digits after the decimal point that count.
        fractional_precision: u32,
    },
}

/// How many bits each token sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Every token is hashed this many times.
    BitsPerToken(u32),
    /// This many insertions in total, spread over the tokens (the first tokens get one more).
    BitsPerFeature(u32),
}

/// The hashing scheme of a feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// Schnell et al. double hashing: HMAC-SHA1 and HMAC-MD5, `g_i = (h1 + i h2) mod l`.
    DoubleHash {
        /// Re-hash when `h2 mod l == 0`, so a token never collapses to one bit.
        prevent_singularity: bool,
    },
    /// Keyed BLAKE2b, one 16-bit index per insertion (`l` must be a power of two).
    BlakeHash,
}

/// Character encoding used to turn tokens into bytes before hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    /// UTF-8 (the default).
    Utf8,
    /// ASCII; other characters are invalid entries.
    Ascii,
    /// UTF-16 with a little-endian byte-order mark on every token (Python's `utf-16` codec).
    Utf16,
    /// UTF-32 with a little-endian byte-order mark on every token (Python's `utf-32` codec).
    Utf32,
}

/// Required letter case of a string field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// All upper case.
    Upper,
    /// All lower case.
    Lower,
    /// Any case (the default).
    Mixed,
}

/// Validation and normalisation of a column's values.
#[derive(Debug, Clone)]
pub enum FieldFormat {
    /// Free text with an optional pattern or length and case rules.
    String {
        /// Byte encoding for hashing.
        encoding: TextEncoding,
        /// A regular expression the whole value must match; when present the other rules are
        /// not used (as in clkhash).
        pattern: Option<regex::Regex>,
        /// Required case.
        case: Case,
        /// Minimum length in characters.
        min_length: Option<usize>,
        /// Maximum length in characters.
        max_length: Option<usize>,
    },
    /// A base-10 integer, normalised to its canonical decimal form before hashing.
    Integer {
        /// Smallest permitted value.
        minimum: Option<i128>,
        /// Largest permitted value.
        maximum: Option<i128>,
    },
    /// A date in a `strptime` format, normalised to `YYYYMMDD` before hashing.
    Date(DateFormat),
    /// One of a fixed set of values.
    Enum(HashSet<String>),
}

/// The value that marks a missing entry and what is hashed instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingValue {
    /// The marker, e.g. `""` or `"N/A"`; not validated against the format.
    pub sentinel: String,
    /// The replacement that is hashed (defaults to the sentinel).
    pub replace_with: String,
}

/// Hashing settings of a feature.
#[derive(Debug, Clone)]
pub struct Hashing {
    /// Tokenisation.
    pub comparison: Comparison,
    /// Insertions per token.
    pub strategy: Strategy,
    /// Hash scheme.
    pub hash: HashKind,
    /// Missing-value handling.
    pub missing_value: Option<MissingValue>,
}

/// One column of the data set.
#[derive(Debug, Clone)]
pub struct Feature {
    /// Column name, checked against the CSV header.
    pub identifier: String,
    /// Format and hashing, or `None` for an ignored column.
    pub spec: Option<FeatureSpec>,
}

/// Format and hashing of a column that is encoded.
#[derive(Debug, Clone)]
pub struct FeatureSpec {
    /// Validation and normalisation.
    pub format: FieldFormat,
    /// Hashing settings.
    pub hashing: Hashing,
}

/// A parsed clkhash linkage schema (version 3).
#[derive(Debug, Clone)]
pub struct LinkageSchema {
    /// Length of the encoding in bits after folding.
    pub l: usize,
    /// Number of XOR folds; hashing uses `l * 2^xor_folds` bits.
    pub xor_folds: u32,
    /// Key derivation.
    pub kdf: KdfConfig,
    /// Columns in order.
    pub features: Vec<Feature>,
}

impl LinkageSchema {
    /// Parses a clkhash linkage schema v3 JSON document.
    pub fn from_json(text: &str) -> Result<Self, SchemaError> {
        let raw: RawSchema = serde_json::from_str(text)?;
        if raw.version.as_f64() != Some(3.0) {
            return Err(SchemaError::Version(raw.version.to_string()));
        }
        let config = raw.clk_config;
        if config.l == 0 {
            return Err(SchemaError::Invalid(
                "clkConfig.l must be at least 1".into(),
            ));
        }
        if config.xor_folds_documented.unwrap_or(0) != 0 {
            return Err(SchemaError::Invalid(
                "clkConfig.xorFolds is ignored by clkhash 0.18; use xor_folds so that both \
                 produce the same encodings"
                    .into(),
            ));
        }
        let xor_folds = config.xor_folds.unwrap_or(0);
        if xor_folds > 16 {
            return Err(SchemaError::Invalid("xor_folds must be at most 16".into()));
        }
        let kdf = config.kdf.into_config()?;
        let features = raw
            .features
            .into_iter()
            .enumerate()
            .map(|(index, f)| {
                let identifier = f.identifier.clone();
                f.into_feature().map_err(|reason| SchemaError::Feature {
                    index,
                    identifier,
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if features.is_empty() {
            return Err(SchemaError::Invalid("the schema has no features".into()));
        }
        Ok(Self {
            l: config.l,
            xor_folds,
            kdf,
            features,
        })
    }

    /// Length of the filter before folding: `l * 2^xor_folds`.
    pub fn hash_length(&self) -> usize {
        self.l << self.xor_folds
    }
}

// Unknown properties are rejected where clkhash's v3 master schema forbids them
// (`additionalProperties: false`) and ignored elsewhere, as clkhash's validation does.
#[derive(Deserialize)]
struct RawSchema {
    version: serde_json::Number,
    #[serde(rename = "clkConfig")]
    clk_config: RawClkConfig,
    features: Vec<RawFeature>,
}

#[derive(Deserialize)]
struct RawClkConfig {
    l: usize,
    kdf: RawKdf,
    #[serde(rename = "xorFolds")]
    xor_folds_documented: Option<u32>,
    xor_folds: Option<u32>,
}

#[derive(Deserialize)]
struct RawKdf {
    #[serde(rename = "type")]
    kind: String,
    hash: Option<String>,
    salt: Option<String>,
    info: Option<String>,
    #[serde(rename = "keySize")]
    key_size: Option<usize>,
}

impl RawKdf {
    fn into_config(self) -> Result<KdfConfig, SchemaError> {
        if self.kind != "HKDF" {
            return Err(SchemaError::Invalid(format!(
                "unsupported kdf type '{}'; only HKDF",
                self.kind
            )));
        }
        let hash = match self.hash.as_deref() {
            None | Some("SHA256") => KdfHash::Sha256,
            Some("SHA512") => KdfHash::Sha512,
            Some(other) => {
                return Err(SchemaError::Invalid(format!(
                    "unsupported kdf hash '{other}'"
                )));
            }
        };
        let decode = |name: &str, value: Option<String>| {
            value
                .map(|v| {
                    STANDARD
                        .decode(v)
                        .map_err(|e| SchemaError::Invalid(format!("kdf {name} is not base64: {e}")))
                })
                .transpose()
        };
        let key_size = self.key_size.unwrap_or(64);
        if key_size == 0 {
            return Err(SchemaError::Invalid(
                "kdf keySize must be at least 1".into(),
            ));
        }
        Ok(KdfConfig {
            hash,
            salt: decode("salt", self.salt)?,
            info: decode("info", self.info)?,
            key_size,
        })
    }
}

#[derive(Deserialize)]
struct RawFeature {
    identifier: String,
    #[serde(default)]
    ignored: bool,
    format: Option<serde_json::Value>,
    hashing: Option<RawHashing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHashing {
    comparison: serde_json::Value,
    strategy: RawStrategy,
    hash: Option<RawHash>,
    #[serde(rename = "missingValue")]
    missing_value: Option<RawMissing>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStrategy {
    #[serde(rename = "bitsPerToken")]
    bits_per_token: Option<u32>,
    #[serde(rename = "bitsPerFeature")]
    bits_per_feature: Option<u32>,
}

#[derive(Deserialize)]
struct RawHash {
    #[serde(rename = "type")]
    kind: String,
    prevent_singularity: Option<bool>,
}

#[derive(Deserialize)]
struct RawMissing {
    sentinel: String,
    #[serde(rename = "replaceWith")]
    replace_with: Option<String>,
}

impl RawFeature {
    fn into_feature(self) -> Result<Feature, String> {
        if self.ignored {
            return Ok(Feature {
                identifier: self.identifier,
                spec: None,
            });
        }
        let format = self.format.ok_or("missing 'format'")?;
        let hashing = self.hashing.ok_or("missing 'hashing'")?;
        let format = parse_format(&format)?;
        let hashing = hashing.into_hashing()?;
        Ok(Feature {
            identifier: self.identifier,
            spec: Some(FeatureSpec { format, hashing }),
        })
    }
}

impl RawHashing {
    fn into_hashing(self) -> Result<Hashing, String> {
        let strategy = match (self.strategy.bits_per_token, self.strategy.bits_per_feature) {
            (Some(k), None) if (1..=MAX_BITS).contains(&k) => Strategy::BitsPerToken(k),
            (None, Some(k)) if (1..=MAX_BITS).contains(&k) => Strategy::BitsPerFeature(k),
            _ => {
                return Err(format!(
                    "strategy needs exactly one of bitsPerToken or bitsPerFeature (1 to {MAX_BITS})"
                ));
            }
        };
        let hash = match self.hash {
            None => HashKind::BlakeHash,
            Some(h) => match (h.kind.as_str(), h.prevent_singularity) {
                ("doubleHash", p) => HashKind::DoubleHash {
                    prevent_singularity: p.unwrap_or(false),
                },
                ("blakeHash", None) => HashKind::BlakeHash,
                ("blakeHash", Some(_)) => {
                    return Err("prevent_singularity is only allowed with doubleHash".into());
                }
                (other, _) => return Err(format!("unsupported hash type '{other}'")),
            },
        };
        Ok(Hashing {
            comparison: parse_comparison(&self.comparison)?,
            strategy,
            hash,
            missing_value: self.missing_value.map(|m| MissingValue {
                replace_with: m.replace_with.unwrap_or_else(|| m.sentinel.clone()),
                sentinel: m.sentinel,
            }),
        })
    }
}

fn str_field<'a>(obj: &'a serde_json::Value, name: &str) -> Result<Option<&'a str>, String> {
    match obj.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| format!("'{name}' must be a string")),
    }
}

fn uint_field(obj: &serde_json::Value, name: &str) -> Result<Option<u64>, String> {
    match obj.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| format!("'{name}' must be a non-negative integer")),
    }
}

fn int_field(obj: &serde_json::Value, name: &str) -> Result<Option<i128>, String> {
    match obj.get(name) {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .to_string()
            .parse::<i128>()
            .map(Some)
            .map_err(|_| format!("'{name}' must be an integer")),
        Some(_) => Err(format!("'{name}' must be an integer")),
    }
}

fn check_keys(obj: &serde_json::Value, allowed: &[&str]) -> Result<(), String> {
    let map = obj.as_object().ok_or("expected a JSON object")?;
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("unexpected property '{k}'")),
        None => Ok(()),
    }
}

fn parse_format(obj: &serde_json::Value) -> Result<FieldFormat, String> {
    let kind = str_field(obj, "type")?.ok_or("format needs a 'type'")?;
    match kind {
        "string" => {
            let encoding = match str_field(obj, "encoding")? {
                None | Some("utf-8") => TextEncoding::Utf8,
                Some("ascii") => TextEncoding::Ascii,
                Some("utf-16") => TextEncoding::Utf16,
                Some("utf-32") => TextEncoding::Utf32,
                Some(other) => return Err(format!("unsupported encoding '{other}'")),
            };
            if let Some(pattern) = str_field(obj, "pattern")? {
                check_keys(obj, &["type", "encoding", "pattern", "description"])?;
                let regex = regex::Regex::new(&format!("^(?:{pattern})$"))
                    .map_err(|e| format!("invalid pattern '{pattern}': {e}"))?;
                return Ok(FieldFormat::String {
                    encoding,
                    pattern: Some(regex),
                    case: Case::Mixed,
                    min_length: None,
                    max_length: None,
                });
            }
            check_keys(
                obj,
                &[
                    "type",
                    "encoding",
                    "case",
                    "minLength",
                    "maxLength",
                    "description",
                ],
            )?;
            let case = match str_field(obj, "case")? {
                None | Some("mixed") => Case::Mixed,
                Some("upper") => Case::Upper,
                Some("lower") => Case::Lower,
                Some(other) => return Err(format!("unsupported case '{other}'")),
            };
            let to_usize = |v: Option<u64>| v.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
            Ok(FieldFormat::String {
                encoding,
                pattern: None,
                case,
                min_length: to_usize(uint_field(obj, "minLength")?),
                max_length: to_usize(uint_field(obj, "maxLength")?),
            })
        }
        "integer" => {
            check_keys(obj, &["type", "minimum", "maximum", "description"])?;
            Ok(FieldFormat::Integer {
                minimum: int_field(obj, "minimum")?,
                maximum: int_field(obj, "maximum")?,
            })
        }
        "date" => {
            check_keys(obj, &["type", "format", "description"])?;
            let format = str_field(obj, "format")?.ok_or("date format needs 'format'")?;
            Ok(FieldFormat::Date(DateFormat::parse(format)?))
        }
        "enum" => {
            check_keys(obj, &["type", "values", "description"])?;
            let values = obj
                .get("values")
                .and_then(|v| v.as_array())
                .ok_or("enum format needs 'values'")?
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or("enum values must be strings")
                })
                .collect::<Result<HashSet<_>, _>>()?;
            Ok(FieldFormat::Enum(values))
        }
        other => Err(format!("unsupported format type '{other}'")),
    }
}

fn parse_comparison(obj: &serde_json::Value) -> Result<Comparison, String> {
    let kind = str_field(obj, "type")?.ok_or("comparison needs a 'type'")?;
    match kind {
        "ngram" => {
            let n = uint_field(obj, "n")?.ok_or("ngram comparison needs 'n'")?;
            if !(1..=256).contains(&n) {
                return Err("ngram 'n' must be between 1 and 256".into());
            }
            let positional = match obj.get("positional") {
                None => false,
                Some(v) => v.as_bool().ok_or("'positional' must be a boolean")?,
            };
            Ok(Comparison::Ngram {
                n: usize::try_from(n).map_err(|_| "ngram 'n' too large")?,
                positional,
            })
        }
        "exact" => Ok(Comparison::Exact),
        "numeric" => {
            let threshold_distance = obj
                .get("thresholdDistance")
                .and_then(|v| v.as_f64())
                .ok_or("numeric comparison needs a number 'thresholdDistance'")?;
            if threshold_distance.is_nan() || threshold_distance <= 0.0 {
                return Err("thresholdDistance must be positive".into());
            }
            let resolution =
                uint_field(obj, "resolution")?.ok_or("numeric comparison needs 'resolution'")?;
            let resolution = u32::try_from(resolution)
                .ok()
                .filter(|r| (1..=10_000).contains(r))
                .ok_or("resolution must be between 1 and 10000")?;
            let fractional_precision = uint_field(obj, "fractional_precision")?.unwrap_or(0);
            let fractional_precision = u32::try_from(fractional_precision)
                .ok()
                .filter(|p| *p <= 15)
                .ok_or("fractional_precision must be at most 15")?;
            let scaled =
                (threshold_distance * 10f64.powi(fractional_precision as i32)).round_ties_even();
            if scaled < 1.0 {
                return Err("not enough fractional precision to encode thresholdDistance".into());
            }
            Ok(Comparison::Numeric {
                threshold_distance,
                resolution,
                fractional_precision,
            })
        }
        other => Err(format!("unsupported comparison type '{other}'")),
    }
}
