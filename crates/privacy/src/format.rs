//! Validation and normalisation of field values before tokenisation, following clkhash's
//! `field_formats.py`: integers are re-printed canonically, dates become `YYYYMMDD`, missing-value
//! sentinels are replaced, and everything else is hashed as given.

use crate::schema::{Case, FeatureSpec, FieldFormat, TextEncoding};

/// A `strptime` date format restricted to the directives `%Y`, `%y`, `%m`, `%d` and `%%`, matched
/// the way Python's `_strptime` does (same sub-patterns, prefix match, whitespace in the format
/// matching any run of whitespace, case-insensitive literals).
///
/// Deliberate difference: digits are ASCII only (Python also accepts other Unicode digits).
#[derive(Debug, Clone)]
pub struct DateFormat {
    source: String,
    regex: regex::Regex,
}

impl DateFormat {
    /// Compiles a `strptime` format.
    pub fn parse(format: &str) -> Result<Self, String> {
        let mut pattern = String::from("(?i)^");
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '%' {
                let group = match chars.next() {
                    Some('Y') => "(?P<Y>[0-9][0-9][0-9][0-9])",
                    Some('y') => "(?P<y>[0-9][0-9])",
                    Some('m') => "(?P<m>1[0-2]|0[1-9]|[1-9])",
                    Some('d') => "(?P<d>3[01]|[12][0-9]|0[1-9]|[1-9]| [1-9])",
                    Some('%') => "%",
                    Some(other) => {
                        return Err(format!(
                            "date directive '%{other}' is not supported (only %Y %y %m %d %%)"
                        ));
                    }
                    None => return Err("date format ends with '%'".into()),
                };
                pattern.push_str(group);
            } else if c.is_whitespace() {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                pattern.push_str(r"\s+");
            } else {
                pattern.push_str(&regex::escape(&c.to_string()));
            }
        }
        let regex = regex::Regex::new(&pattern).map_err(|e| format!("invalid date format: {e}"))?;
        Ok(Self {
            source: format.to_owned(),
            regex,
        })
    }

    /// The format string as written in the schema.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Parses `value` and returns it as `YYYYMMDD` (years below 1000 without leading zeros, as
    /// Python's `strftime('%Y')` prints them on Linux).
    pub fn normalise(&self, value: &str) -> Result<String, String> {
        let caps = self
            .regex
            .captures(value)
            .ok_or_else(|| format!("'{value}' does not match format '{}'", self.source))?;
        let whole = caps.get(0).map_or(0, |m| m.end());
        if whole != value.len() {
            return Err(format!("unconverted data remains: '{}'", &value[whole..]));
        }
        let num = |name: &str| {
            caps.name(name)
                .and_then(|m| m.as_str().trim().parse::<u32>().ok())
        };
        let year = match (num("Y"), num("y")) {
            (Some(y), _) => y,
            (None, Some(y)) if y < 69 => 2000 + y,
            (None, Some(y)) => 1900 + y,
            (None, None) => 1900,
        };
        let month = num("m").unwrap_or(1);
        let day = num("d").unwrap_or(1);
        if year == 0 {
            return Err(format!("year 0 is out of range in '{value}'"));
        }
        if day > days_in_month(year, month) {
            return Err(format!("day is out of range for month in '{value}'"));
        }
        Ok(format!("{year}{month:02}{day:02}"))
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses an integer as Python's `int(text, 10)` does: surrounding whitespace, an optional sign
/// and single underscores between digits are allowed. Values must fit in an `i128`.
pub(crate) fn parse_python_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let mut value: i128 = 0;
    for b in digits.bytes() {
        match b {
            b'_' => {}
            b'0'..=b'9' => {
                value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
            }
            _ => return None,
        }
    }
    Some(if negative { -value } else { value })
}

/// Checks `value` against the feature's format; a missing-value sentinel is always valid.
pub(crate) fn validate(spec: &FeatureSpec, value: &str) -> Result<(), String> {
    if is_missing(spec, value) {
        return Ok(());
    }
    match &spec.format {
        FieldFormat::String {
            encoding,
            pattern,
            case,
            min_length,
            max_length,
        } => {
            if *encoding == TextEncoding::Ascii && !value.is_ascii() {
                return Err(format!("expected an ASCII entry, read '{value}'"));
            }
            if let Some(regex) = pattern {
                if !regex.is_match(value) {
                    return Err(format!(
                        "expected an entry matching '{}', read '{value}'",
                        regex.as_str()
                    ));
                }
                return Ok(());
            }
            if min_length.is_some() || max_length.is_some() {
                let len = value.chars().count();
                if min_length.is_some_and(|m| len < m) || max_length.is_some_and(|m| len > m) {
                    return Err(format!("string length {len} out of range, read '{value}'"));
                }
            }
            match case {
                Case::Upper if value.to_uppercase() != value => {
                    Err(format!("expected upper case, read '{value}'"))
                }
                Case::Lower if value.to_lowercase() != value => {
                    Err(format!("expected lower case, read '{value}'"))
                }
                _ => Ok(()),
            }
        }
        FieldFormat::Integer { minimum, maximum } => {
            let v = parse_python_int(value).ok_or_else(|| format!("invalid integer '{value}'"))?;
            if minimum.is_some_and(|m| v < m) || maximum.is_some_and(|m| v > m) {
                return Err(format!("integer {v} out of range"));
            }
            Ok(())
        }
        FieldFormat::Date(format) => format.normalise(value).map(|_| ()),
        FieldFormat::Enum(values) => {
            if values.contains(value) {
                Ok(())
            } else {
                Err(format!("'{value}' is not one of the enum values"))
            }
        }
    }
}

fn is_missing(spec: &FeatureSpec, value: &str) -> bool {
    spec.hashing
        .missing_value
        .as_ref()
        .is_some_and(|m| m.sentinel == value)
}

/// The string that is tokenised for `value` (after [`validate`]).
pub(crate) fn normalise<'a>(
    spec: &'a FeatureSpec,
    value: &'a str,
) -> Result<std::borrow::Cow<'a, str>, String> {
    use std::borrow::Cow;
    if let Some(m) = spec
        .hashing
        .missing_value
        .as_ref()
        .filter(|m| m.sentinel == value)
    {
        return Ok(Cow::Borrowed(&m.replace_with));
    }
    match &spec.format {
        FieldFormat::Integer { .. } => parse_python_int(value)
            .map(|v| Cow::Owned(v.to_string()))
            .ok_or_else(|| format!("invalid integer '{value}'")),
        FieldFormat::Date(format) => format.normalise(value).map(Cow::Owned),
        FieldFormat::String { .. } | FieldFormat::Enum(_) => Ok(Cow::Borrowed(value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_int_rules() {
        assert_eq!(parse_python_int(" +13 "), Some(13));
        assert_eq!(parse_python_int("-1_000"), Some(-1000));
        assert_eq!(parse_python_int("1__0"), None);
        assert_eq!(parse_python_int("_1"), None);
        assert_eq!(parse_python_int("1.0"), None);
        assert_eq!(parse_python_int(""), None);
        assert_eq!(
            parse_python_int("99999999999999999999999999999999999999999"),
            None
        );
    }

    #[test]
    fn dates_normalise_like_strptime() {
        let f = DateFormat::parse("%d/%m/%Y").expect("format");
        assert_eq!(f.normalise("1/2/1990").as_deref(), Ok("19900201"));
        assert_eq!(f.normalise("29/02/2000").as_deref(), Ok("20000229"));
        assert!(f.normalise("29/02/1900").is_err());
        assert!(f.normalise("01/13/2000").is_err());
        assert!(f.normalise("01/01/2000x").is_err());
        let g = DateFormat::parse("%Y%m%d").expect("format");
        assert_eq!(g.normalise("2020111").as_deref(), Ok("20201101"));
        let y = DateFormat::parse("%y-%m-%d").expect("format");
        assert_eq!(y.normalise("68-01-01").as_deref(), Ok("20680101"));
        assert_eq!(y.normalise("69-01-01").as_deref(), Ok("19690101"));
        assert!(DateFormat::parse("%H:%M").is_err());
    }
}
