//! Lexical checks of the R4 primitive datatypes (the regular expressions of the specification,
//! written out by hand) and their JSON representation.

use serde_json::{Number, Value};

use crate::meta::Prim;

/// Checks a JSON value against primitive type `p`; the error says what was expected.
pub(crate) fn check(p: Prim, v: &Value) -> Result<(), String> {
    match (p, v) {
        (Prim::Boolean, Value::Bool(_)) => Ok(()),
        (Prim::Boolean, _) => Err(format!("expected a boolean, found {}", kind(v))),
        (Prim::Integer | Prim::PositiveInt | Prim::UnsignedInt, Value::Number(n)) => {
            check_integer(p, n)
        }
        (Prim::Decimal, Value::Number(_)) => Ok(()),
        (Prim::Integer | Prim::PositiveInt | Prim::UnsignedInt | Prim::Decimal, _) => {
            Err(format!("expected a number, found {}", kind(v)))
        }
        (_, Value::String(s)) => check_str(p, s),
        _ => Err(format!("expected a string, found {}", kind(v))),
    }
}

/// A short name of a JSON value's kind for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_integer(p: Prim, n: &Number) -> Result<(), String> {
    let Some(i) = n.as_i64() else {
        return Err(format!("expected an integer, found {n}"));
    };
    let min = match p {
        Prim::PositiveInt => 1,
        Prim::UnsignedInt => 0,
        _ => i64::from(i32::MIN),
    };
    if i < min || i > i64::from(i32::MAX) {
        return Err(format!("integer {i} out of range for {}", prim_name(p)));
    }
    Ok(())
}

/// The FHIR name of a primitive type.
pub(crate) fn prim_name(p: Prim) -> &'static str {
    match p {
        Prim::Boolean => "boolean",
        Prim::Integer => "integer",
        Prim::PositiveInt => "positiveInt",
        Prim::UnsignedInt => "unsignedInt",
        Prim::Decimal => "decimal",
        Prim::String => "string",
        Prim::Markdown => "markdown",
        Prim::Code => "code",
        Prim::Id => "id",
        Prim::Uri => "uri",
        Prim::Url => "url",
        Prim::Canonical => "canonical",
        Prim::Oid => "oid",
        Prim::Uuid => "uuid",
        Prim::Base64Binary => "base64Binary",
        Prim::Date => "date",
        Prim::DateTime => "dateTime",
        Prim::Instant => "instant",
        Prim::Time => "time",
        Prim::Xhtml => "xhtml",
    }
}

fn check_str(p: Prim, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty string (FHIR JSON has no empty values)".into());
    }
    if s.bytes()
        .any(|b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
    {
        return Err("control characters are not allowed in FHIR strings".into());
    }
    if p == Prim::Id && s.len() > 64 {
        return Err(format!(
            "id of {} characters, at most 64 are allowed",
            s.chars().count()
        ));
    }
    let ok = match p {
        Prim::String | Prim::Markdown => true,
        Prim::Code => is_code(s),
        Prim::Id => {
            s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
        Prim::Uri | Prim::Url | Prim::Canonical => !s.bytes().any(is_space),
        Prim::Oid => s
            .strip_prefix("urn:oid:")
            .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit() || b == b'.')),
        Prim::Uuid => s.strip_prefix("urn:uuid:").is_some_and(|r| {
            r.len() == 36 && r.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        }),
        Prim::Base64Binary => s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'+' | b'/' | b'=' | b' ' | b'\t' | b'\r' | b'\n')
        }),
        Prim::Date => is_date(s.as_bytes()) == Some(s.len()),
        Prim::DateTime => is_date_time(s.as_bytes(), false),
        Prim::Instant => is_date_time(s.as_bytes(), true),
        Prim::Time => is_time(s.as_bytes()) == Some(s.len()),
        Prim::Xhtml => return crate::xhtml::check(s),
        Prim::Boolean | Prim::Integer | Prim::PositiveInt | Prim::UnsignedInt | Prim::Decimal => {
            false
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid {} value {:?}", prim_name(p), truncate(s)))
    }
}

/// At most 64 characters of `s`, for messages.
pub(crate) fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// `[^\s]+(\s[^\s]+)*`: no leading, trailing or doubled whitespace (`\s` as in the regular
/// expressions of the specification: ASCII whitespace only, so a no-break space is content).
fn is_code(s: &str) -> bool {
    let mut prev_ws = true;
    for b in s.bytes() {
        let ws = is_space(b);
        if ws && prev_ws {
            return false;
        }
        prev_ws = ws;
    }
    !prev_ws
}

/// Whitespace in the sense of `\s` in the specification's regular expressions.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let d = b.get(at..at + n)?;
    let mut v = 0u32;
    for c in d {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// A date prefix `YYYY(-MM(-DD)?)?`; returns its length.
fn is_date(b: &[u8]) -> Option<usize> {
    let year = digits(b, 0, 4)?;
    if year == 0 {
        return None;
    }
    if b.get(4) != Some(&b'-') {
        return Some(4);
    }
    let month = digits(b, 5, 2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    if b.get(7) != Some(&b'-') {
        return Some(7);
    }
    let day = digits(b, 8, 2)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    Some(10)
}

/// A time `hh:mm:ss(.f+)?`; returns its length.
fn is_time(b: &[u8]) -> Option<usize> {
    let (h, m, s) = (digits(b, 0, 2)?, digits(b, 3, 2)?, digits(b, 6, 2)?);
    if b.get(2) != Some(&b':') || b.get(5) != Some(&b':') || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let mut len = 8;
    if b.get(8) == Some(&b'.') {
        len = 9;
        while b.get(len).is_some_and(u8::is_ascii_digit) {
            len += 1;
        }
        if len == 9 {
            return None;
        }
    }
    Some(len)
}

/// `date(Thh:mm:ss(.f+)?(Z|[+-]hh:mm))?`; an instant needs the full form.
fn is_date_time(b: &[u8], instant: bool) -> bool {
    let Some(d) = is_date(b) else {
        return false;
    };
    if d == b.len() {
        return !instant;
    }
    if d != 10 || b.get(10) != Some(&b'T') {
        return false;
    }
    let Some(t) = is_time(&b[11..]) else {
        return false;
    };
    let zone = &b[11 + t..];
    match zone {
        [b'Z'] => true,
        [b'+' | b'-', ..] if zone.len() == 6 => {
            matches!((digits(zone, 1, 2), zone[3], digits(zone, 4, 2)), (Some(h), b':', Some(m)) if h <= 14 && m <= 59)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for ok in ["2020", "2020-01", "2020-12-31"] {
            assert!(check_str(Prim::Date, ok).is_ok(), "{ok}");
        }
        for bad in [
            "0000",
            "2020-13",
            "2020-1-01",
            "20201",
            "2020-01-01T00:00:00Z",
        ] {
            assert!(check_str(Prim::Date, bad).is_err(), "{bad}");
        }
        for ok in [
            "2020",
            "2020-01-01T10:00:00Z",
            "2020-01-01T10:00:00.123+02:00",
        ] {
            assert!(check_str(Prim::DateTime, ok).is_ok(), "{ok}");
        }
        for bad in [
            "2020-01-01T10:00:00",
            "2020-01-01T10:00Z",
            "2020-01-01 10:00:00Z",
        ] {
            assert!(check_str(Prim::DateTime, bad).is_err(), "{bad}");
        }
        assert!(check_str(Prim::Instant, "2020-01-01").is_err());
        assert!(check_str(Prim::Instant, "2020-01-01T00:00:00.1Z").is_ok());
        assert!(check_str(Prim::Time, "10:00:00").is_ok());
        assert!(check_str(Prim::Time, "10:00").is_err());
    }

    #[test]
    fn codes_ids_uris() {
        assert!(check_str(Prim::Code, "a b").is_ok());
        assert!(check_str(Prim::Code, " a").is_err());
        assert!(check_str(Prim::Code, "a  b").is_err());
        assert!(check_str(Prim::Code, "a ").is_err());
        assert!(check_str(Prim::Id, "a-b.C1").is_ok());
        assert!(check_str(Prim::Id, "a_b").is_err());
        assert!(check_str(Prim::Id, &"a".repeat(65)).is_err());
        assert!(check_str(Prim::Uri, "http://x y").is_err());
        assert!(check_str(Prim::String, "").is_err());
    }

    #[test]
    fn numbers() {
        let n = |s: &str| serde_json::from_str::<Value>(s).expect("number");
        assert!(check(Prim::Integer, &n("-5")).is_ok());
        assert!(check(Prim::Integer, &n("1.0")).is_err());
        assert!(check(Prim::Integer, &n("1e2")).is_err());
        assert!(check(Prim::Integer, &n("2147483648")).is_err());
        assert!(check(Prim::Integer, &n("123456789012345678901234567890")).is_err());
        assert!(check(Prim::PositiveInt, &n("0")).is_err());
        assert!(check(Prim::UnsignedInt, &n("0")).is_ok());
        assert!(check(Prim::Decimal, &n("1e400")).is_ok());
        assert!(check(Prim::Decimal, &Value::String("1".into())).is_err());
    }
}
