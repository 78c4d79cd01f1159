//! Primitive values of items, their equality, equivalence and ordering.

use super::lexer::strip_zone;
use super::{FhirPathError, Item};
use serde_json::Value;
use std::borrow::Cow;
use std::cmp::Ordering;

/// The primitive value of an item.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Prim<'s> {
    Bool(bool),
    Int(i64),
    Dec(f64),
    Str(Cow<'s, str>),
    Date(&'s str),
    DateTime(&'s str),
    Time(&'s str),
}

impl Prim<'_> {
    /// The System type name of the value.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Prim::Bool(_) => "Boolean",
            Prim::Int(_) => "Integer",
            Prim::Dec(_) => "Decimal",
            Prim::Str(_) => "String",
            Prim::Date(_) => "Date",
            Prim::DateTime(_) => "DateTime",
            Prim::Time(_) => "Time",
        }
    }
}

/// The primitive value of an item; `None` for complex nodes (objects, arrays).
pub(crate) fn prim<'s>(item: &'s Item<'_>) -> Option<Prim<'s>> {
    Some(match item {
        Item::Boolean(b) => Prim::Bool(*b),
        Item::Integer(n) => Prim::Int(*n),
        Item::Decimal(n) => Prim::Dec(*n),
        Item::String(s) => Prim::Str(Cow::Borrowed(s)),
        Item::Date(s) => Prim::Date(s),
        Item::DateTime(s) => Prim::DateTime(s),
        Item::Time(s) => Prim::Time(s),
        Item::Node(f) => match f.value {
            Value::Bool(b) => Prim::Bool(*b),
            Value::Number(n) => match (f.type_name, n.as_i64()) {
                (Some("decimal"), _) | (_, None) => Prim::Dec(n.as_f64()?),
                (_, Some(i)) => Prim::Int(i),
            },
            Value::String(s) => match f.type_name {
                Some("date") => Prim::Date(s),
                Some("dateTime" | "instant") => Prim::DateTime(s),
                Some("time") => Prim::Time(s),
                _ => Prim::Str(Cow::Borrowed(s)),
            },
            _ => return None,
        },
    })
}

/// The text of a primitive item (`toString()`); `None` for complex nodes.
pub(crate) fn to_text(item: &Item<'_>) -> Option<String> {
    if let Item::Node(f) = item
        && let Value::Number(n) = f.value
    {
        return Some(n.to_string());
    }
    Some(match prim(item)? {
        Prim::Bool(b) => b.to_string(),
        Prim::Int(n) => n.to_string(),
        Prim::Dec(n) => format_decimal(n),
        Prim::Str(s) => s.into_owned(),
        Prim::Date(s) | Prim::DateTime(s) | Prim::Time(s) => s.to_string(),
    })
}

/// A decimal as text, with at least one fraction digit (`1.0`).
pub(crate) fn format_decimal(n: f64) -> String {
    if n.fract() == 0.0 && n.is_finite() && n.abs() < 1e15 {
        format!("{n:.1}")
    } else {
        n.to_string()
    }
}

/// The numeric components of a date, dateTime or time (year, month, day, hour, minute, second),
/// without the time zone; `None` when `text` is not one.
fn components(text: &str) -> Option<Vec<f64>> {
    let text = text.strip_suffix('T').unwrap_or(text);
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (Some(d), Some(t)),
        None if text.contains(':') => (None, Some(text)),
        None => (Some(text), None),
    };
    let mut out = Vec::new();
    if let Some(date) = date {
        for part in date.split('-') {
            out.push(number(part)?);
        }
    }
    if let Some(time) = time {
        for part in strip_zone(time).split(':') {
            out.push(number(part)?);
        }
    }
    Some(out)
}

fn number(part: &str) -> Option<f64> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    part.parse().ok()
}

/// Compares two temporal texts up to their common precision: `None` when they are equal up to
/// it but differ in precision (the spec's empty result), or when either does not parse.
fn temporal_cmp(a: &str, b: &str) -> Option<Option<Ordering>> {
    let (a, b) = (components(a)?, components(b)?);
    for (x, y) in a.iter().zip(&b) {
        match x.partial_cmp(y)? {
            Ordering::Equal => {}
            other => return Some(Some(other)),
        }
    }
    Some((a.len() == b.len()).then_some(Ordering::Equal))
}

/// Whether the primitive pair is temporal (both, or one temporal and one string), returning the
/// two texts; a time never pairs with a date.
fn temporal_pair<'s>(a: &'s Prim<'s>, b: &'s Prim<'s>) -> Option<(&'s str, &'s str)> {
    use Prim::*;
    match (a, b) {
        (Date(x) | DateTime(x), Date(y) | DateTime(y)) | (Time(x), Time(y)) => Some((x, y)),
        (Date(x) | DateTime(x) | Time(x), Str(y)) => Some((x, y)),
        (Str(x), Date(y) | DateTime(y) | Time(y)) => Some((x, y)),
        _ => None,
    }
}

/// FHIRPath `=` of two items: `None` when the result is empty (dates of different precision).
pub(crate) fn equal(a: &Item<'_>, b: &Item<'_>) -> Option<bool> {
    let (pa, pb) = match (prim(a), prim(b)) {
        (None, None) => return Some(node_value(a) == node_value(b)),
        (Some(pa), Some(pb)) => (pa, pb),
        _ => return Some(false),
    };
    if let Some((x, y)) = temporal_pair(&pa, &pb) {
        return match temporal_cmp(x, y) {
            Some(ord) => ord.map(|o| o == Ordering::Equal),
            None => Some(x == y),
        };
    }
    Some(match (&pa, &pb) {
        (Prim::Int(x), Prim::Int(y)) => x == y,
        (Prim::Int(_) | Prim::Dec(_), Prim::Int(_) | Prim::Dec(_)) => as_f64(&pa) == as_f64(&pb),
        _ => pa == pb,
    })
}

/// FHIRPath `~` of two items: strings ignore case and collapse white space; dates of different
/// precision are not equivalent.
pub(crate) fn equivalent(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (prim(a), prim(b)) {
        (None, None) => node_value(a) == node_value(b),
        (Some(Prim::Str(x)), Some(Prim::Str(y))) => normalized(&x) == normalized(&y),
        (Some(pa), Some(pb)) => {
            if let Some((x, y)) = temporal_pair(&pa, &pb) {
                return temporal_cmp(x, y) == Some(Some(Ordering::Equal));
            }
            equal(a, b) == Some(true)
        }
        _ => false,
    }
}

fn normalized(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn node_value<'v>(item: &Item<'v>) -> Option<&'v Value> {
    match item {
        Item::Node(f) => Some(f.value),
        _ => None,
    }
}

/// A number as `f64` (NaN for non-numbers).
pub(crate) fn as_f64(p: &Prim<'_>) -> f64 {
    match p {
        Prim::Int(n) => *n as f64,
        Prim::Dec(n) => *n,
        _ => f64::NAN,
    }
}

/// FHIRPath ordering (`<` etc.) of two items: `Ok(None)` for dates of different precision, an
/// error for values that cannot be compared.
pub(crate) fn compare(a: &Item<'_>, b: &Item<'_>) -> Result<Option<Ordering>, FhirPathError> {
    let incomparable = |what: &str| FhirPathError::Evaluation(format!("cannot compare {what}"));
    let (Some(pa), Some(pb)) = (prim(a), prim(b)) else {
        return Err(incomparable("complex values"));
    };
    if let Some((x, y)) = temporal_pair(&pa, &pb) {
        return temporal_cmp(x, y).ok_or_else(|| incomparable(&format!("'{x}' with '{y}'")));
    }
    match (&pa, &pb) {
        (Prim::Int(x), Prim::Int(y)) => Ok(Some(x.cmp(y))),
        (Prim::Int(_) | Prim::Dec(_), Prim::Int(_) | Prim::Dec(_)) => {
            Ok(as_f64(&pa).partial_cmp(&as_f64(&pb)))
        }
        (Prim::Str(x), Prim::Str(y)) => Ok(Some(x.cmp(y))),
        _ => Err(incomparable(&format!("{} with {}", pa.kind(), pb.kind()))),
    }
}

/// The System type name of a computed item (`Boolean`, `String`, ...); `None` for nodes.
pub(crate) fn system_type(item: &Item<'_>) -> Option<&'static str> {
    match item {
        Item::Node(_) => None,
        other => prim(other).map(|p| p.kind()),
    }
}
