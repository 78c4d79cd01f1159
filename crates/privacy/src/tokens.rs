//! Tokenisation of normalised field values (clkhash's comparators) and the byte encoding of
//! tokens before hashing.

use crate::format::parse_python_int;
use crate::schema::{Comparison, TextEncoding};

/// Reusable buffers for [`for_each_token`].
#[derive(Default)]
pub(crate) struct Scratch {
    /// The padded word.
    padded: String,
    /// Byte offset of every character of a non-ASCII `padded`, and its length.
    bounds: Vec<usize>,
    /// A positional token.
    token: String,
}

/// Calls `f(index, count, token)` for every token of `word` under `comparison`, in order; an
/// empty word has no tokens. N-grams are slices of the padded word in `scratch` (positional ones
/// are assembled there), so tokenising does not allocate.
pub(crate) fn for_each_token(
    comparison: &Comparison,
    word: &str,
    scratch: &mut Scratch,
    mut f: impl FnMut(usize, usize, &str) -> Result<(), String>,
) -> Result<(), String> {
    if word.is_empty() {
        return Ok(());
    }
    match comparison {
        Comparison::Ngram { n, positional } => {
            let n = *n;
            let Scratch {
                padded,
                bounds,
                token,
            } = scratch;
            padded.clear();
            padded.extend(std::iter::repeat_n(' ', n - 1));
            padded.push_str(word);
            padded.extend(std::iter::repeat_n(' ', n - 1));
            // Character boundaries are only listed for non-ASCII words.
            let ascii = padded.is_ascii();
            bounds.clear();
            if !ascii {
                bounds.extend(padded.char_indices().map(|(i, _)| i));
                bounds.push(padded.len());
            }
            let count = if ascii {
                padded.len() + 1
            } else {
                bounds.len()
            } - n;
            for i in 0..count {
                let gram = if ascii {
                    &padded[i..i + n]
                } else {
                    &padded[bounds[i]..bounds[i + n]]
                };
                if *positional {
                    token.clear();
                    push_decimal(token, i + 1);
                    token.push(' ');
                    token.push_str(gram);
                    f(i, count, token)?;
                } else {
                    f(i, count, gram)?;
                }
            }
            Ok(())
        }
        Comparison::Exact => f(0, 1, word),
        Comparison::Numeric {
            threshold_distance,
            resolution,
            fractional_precision,
        } => {
            let tokens = numeric_tokens(
                word,
                *threshold_distance,
                *resolution,
                *fractional_precision,
            )?;
            tokens
                .iter()
                .enumerate()
                .try_for_each(|(i, t)| f(i, tokens.len(), t))
        }
    }
}

/// Appends the decimal digits of `n` (cheaper than `write!` in the per-token loop).
fn push_decimal(out: &mut String, n: usize) {
    if n < 10 {
        out.push(char::from(b'0' + n as u8));
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// Character n-grams of `word` padded with `n - 1` spaces on both sides.
pub(crate) fn ngrams(word: &str, n: usize, positional: bool) -> Vec<String> {
    let mut out = Vec::new();
    let comparison = Comparison::Ngram { n, positional };
    let _ = for_each_token(&comparison, word, &mut Scratch::default(), |_, _, t| {
        out.push(t.to_owned());
        Ok(())
    });
    out
}

fn numeric_tokens(
    word: &str,
    threshold_distance: f64,
    resolution: u32,
    fractional_precision: u32,
) -> Result<Vec<String>, String> {
    let overflow = || format!("numeric value '{word}' is out of range");
    let scale = 10f64.powi(fractional_precision as i32);
    let interval = (threshold_distance * scale).round_ties_even();
    if !(1.0..1e30).contains(&interval) {
        return Err("thresholdDistance out of range".into());
    }
    let interval = interval as i128;
    let mut v = match parse_python_int(word) {
        Some(v) => v
            .checked_mul(10i128.pow(fractional_precision))
            .ok_or_else(overflow)?,
        None => {
            let f: f64 = word
                .trim()
                .parse()
                .map_err(|_| format!("invalid number '{word}'"))?;
            if !f.is_finite() {
                return Err(format!("invalid number '{word}'"));
            }
            let scaled = if fractional_precision > 0 {
                (f * scale).round_ties_even()
            } else {
                f.trunc()
            };
            if scaled.abs() >= 1e36 {
                return Err(overflow());
            }
            scaled as i128
        }
    };
    let resolution = i128::from(resolution);
    v = v.checked_mul(2 * resolution).ok_or_else(overflow)?;
    let residue = v.rem_euclid(interval);
    if residue != 0 {
        v = if 2 * residue < interval {
            v - residue
        } else {
            v.checked_add(interval - residue).ok_or_else(overflow)?
        };
    }
    (-resolution..=resolution)
        .map(|i| {
            i.checked_mul(interval)
                .and_then(|d| v.checked_add(d))
                .map(|t| t.to_string())
                .ok_or_else(overflow)
        })
        .collect()
}

/// Encodes a token as Python's `str.encode(encoding)` does (`utf-16`/`utf-32` write a
/// little-endian byte-order mark on every call).
pub(crate) fn encode_text(
    encoding: TextEncoding,
    token: &str,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    out.clear();
    match encoding {
        TextEncoding::Utf8 => out.extend_from_slice(token.as_bytes()),
        TextEncoding::Ascii => {
            if !token.is_ascii() {
                return Err(format!("'{token}' cannot be encoded as ASCII"));
            }
            out.extend_from_slice(token.as_bytes());
        }
        TextEncoding::Utf16 => {
            out.extend_from_slice(&[0xFF, 0xFE]);
            for unit in token.encode_utf16() {
                out.extend_from_slice(&unit.to_le_bytes());
            }
        }
        TextEncoding::Utf32 => {
            out.extend_from_slice(&[0xFF, 0xFE, 0, 0]);
            for c in token.chars() {
                out.extend_from_slice(&u32::from(c).to_le_bytes());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigrams_of_clkhash_doc_example() {
        assert_eq!(
            ngrams("clkhash", 2, false),
            vec![" c", "cl", "lk", "kh", "ha", "as", "sh", "h "]
        );
        assert_eq!(ngrams("ab", 2, true), vec!["1  a", "2 ab", "3 b "]);
        assert_eq!(ngrams("ab", 1, false), vec!["a", "b"]);
    }

    #[test]
    fn numeric_tokens_match_clkhash_doc_example() {
        // clkhash's docstring: threshold 8, resolution 2, x = 25 gives [88, 96, 104, 112, 120].
        let tokens = numeric_tokens("25", 8.0, 2, 0).expect("number");
        assert_eq!(tokens, vec!["88", "96", "104", "112", "120"]);
        assert!(numeric_tokens("abc", 8.0, 2, 0).is_err());
        assert!(numeric_tokens("inf", 8.0, 2, 0).is_err());
    }

    #[test]
    fn utf16_has_a_bom_per_token() {
        let mut out = Vec::new();
        encode_text(TextEncoding::Utf16, "a", &mut out).expect("encodable");
        assert_eq!(out, vec![0xFF, 0xFE, b'a', 0]);
        assert!(encode_text(TextEncoding::Ascii, "é", &mut out).is_err());
    }
}
