//! The function library.

use super::ast::{Expr, Function};
use super::eval::{Ctx, Env, boolean, contains, is_type, singleton, union_into};
use super::value::{self, Prim};
use super::{FhirPathError, Item, model};
use regex::Regex;
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

/// The most items `repeat()` and `descendants()` may produce.
const MAX_ITEMS: usize = 100_000;

type Result<T> = std::result::Result<T, FhirPathError>;

/// Calls `function` on `input`, evaluating `args` in `env` (criteria per input item).
pub(crate) fn call<'a>(
    ctx: &Ctx<'a>,
    function: &Function,
    args: &[Expr],
    input: Vec<Item<'a>>,
    env: &Env<'_, 'a>,
) -> Result<Vec<Item<'a>>> {
    use Function::*;
    let arg = |i: usize| -> Result<Vec<Item<'a>>> {
        args.get(i)
            .map_or_else(|| Ok(Vec::new()), |a| ctx.eval(a, env))
    };
    let boolean_of = |b: bool| Ok(vec![Item::Boolean(b)]);
    match function {
        Empty => boolean_of(input.is_empty()),
        Exists => match args.first() {
            None => boolean_of(!input.is_empty()),
            Some(criteria) => boolean_of(!filter(ctx, criteria, input, env)?.is_empty()),
        },
        All => {
            for (i, item) in input.iter().enumerate() {
                let result = ctx.eval(&args[0], &iteration(item, i, env))?;
                if boolean(&result, "all()")? != Some(true) {
                    return boolean_of(false);
                }
            }
            boolean_of(true)
        }
        AllTrue => boolean_of(input.iter().all(|i| i.as_boolean() == Some(true))),
        AnyTrue => boolean_of(input.iter().any(|i| i.as_boolean() == Some(true))),
        AllFalse => boolean_of(input.iter().all(|i| i.as_boolean() == Some(false))),
        AnyFalse => boolean_of(input.iter().any(|i| i.as_boolean() == Some(false))),
        Count => Ok(vec![Item::Integer(
            i64::try_from(input.len()).unwrap_or(i64::MAX),
        )]),
        Distinct => Ok(distinct(input)),
        IsDistinct => {
            let n = input.len();
            boolean_of(distinct(input).len() == n)
        }
        Where => filter(ctx, &args[0], input, env),
        Select => {
            let mut out = Vec::new();
            for (i, item) in input.iter().enumerate() {
                out.extend(ctx.eval(&args[0], &iteration(item, i, env))?);
            }
            Ok(out)
        }
        Repeat => repeat(ctx, &args[0], input, env),
        Aggregate => {
            let mut total = arg(1)?;
            for (i, item) in input.iter().enumerate() {
                let step = Env {
                    this: item,
                    index: Some(i),
                    total: Some(&total),
                };
                total = ctx.eval(&args[0], &step)?;
            }
            Ok(total)
        }
        OfType(ty) | As(ty) => Ok(input.into_iter().filter(|i| is_type(i, ty)).collect()),
        Is(ty) => Ok(singleton(&input, "is()")?
            .map(|i| Item::Boolean(is_type(i, ty)))
            .into_iter()
            .collect()),
        First => Ok(input.into_iter().take(1).collect()),
        Last => Ok(input.into_iter().last().into_iter().collect()),
        Tail => Ok(input.into_iter().skip(1).collect()),
        Skip => {
            let n = count_arg(&arg(0)?, "skip()")?;
            Ok(input.into_iter().skip(n).collect())
        }
        Take => {
            let n = count_arg(&arg(0)?, "take()")?;
            Ok(input.into_iter().take(n).collect())
        }
        Single => Ok(singleton(&input, "single()")?
            .cloned()
            .into_iter()
            .collect()),
        Not => Ok(boolean(&input, "not()")?
            .map(|b| Item::Boolean(!b))
            .into_iter()
            .collect()),
        Iif => {
            let this = singleton(&input, "iif()")?.unwrap_or(env.this);
            let inner = Env { this, ..*env };
            let criterion = ctx.eval(&args[0], &inner)?;
            match boolean(&criterion, "iif()")? {
                Some(true) => ctx.eval(&args[1], &inner),
                _ => args
                    .get(2)
                    .map_or_else(|| Ok(Vec::new()), |a| ctx.eval(a, &inner)),
            }
        }
        HasValue => boolean_of(matches!(
            input.as_slice(),
            [item] if value::prim(item).is_some()
        )),
        Children => {
            let mut out = Vec::new();
            for item in &input {
                if let Item::Node(f) = item {
                    model::children(*f, &mut out);
                }
            }
            Ok(out.into_iter().map(Item::Node).collect())
        }
        Descendants => descendants(&input),
        Trace => Ok(input),
        Matches => string_fn(&input, |s| {
            let Some(pattern) = string_arg(&arg(0)?, "matches()")? else {
                return Ok(None);
            };
            Ok(Some(Item::Boolean(regex(&pattern)?.is_match(s))))
        }),
        ReplaceMatches => string_fn(&input, |s| {
            let (Some(pattern), Some(with)) = (
                string_arg(&arg(0)?, "replaceMatches()")?,
                string_arg(&arg(1)?, "replaceMatches()")?,
            ) else {
                return Ok(None);
            };
            let replaced = regex(&pattern)?.replace_all(s, with.as_str());
            Ok(Some(Item::String(replaced.into_owned())))
        }),
        StartsWith | EndsWith | Contains => string_fn(&input, |s| {
            let Some(part) = string_arg(&arg(0)?, "a string function")? else {
                return Ok(None);
            };
            Ok(Some(Item::Boolean(match function {
                StartsWith => s.starts_with(&part),
                EndsWith => s.ends_with(&part),
                _ => s.contains(&part),
            })))
        }),
        Substring => string_fn(&input, |s| {
            let Some(start) = integer_arg(&arg(0)?, "substring()")? else {
                return Ok(None);
            };
            let chars: Vec<char> = s.chars().collect();
            let Some(start) = usize::try_from(start).ok().filter(|&i| i < chars.len()) else {
                return Ok(None);
            };
            let end = match integer_arg(&arg(1)?, "substring()")? {
                None => chars.len(),
                Some(len) => start.saturating_add(usize::try_from(len).unwrap_or(0)),
            };
            let end = end.min(chars.len());
            Ok(Some(Item::String(chars[start..end].iter().collect())))
        }),
        Length => string_fn(&input, |s| {
            Ok(Some(Item::Integer(
                i64::try_from(s.chars().count()).unwrap_or(i64::MAX),
            )))
        }),
        Upper => string_fn(&input, |s| Ok(Some(Item::String(s.to_uppercase())))),
        Lower => string_fn(&input, |s| Ok(Some(Item::String(s.to_lowercase())))),
        IndexOf => string_fn(&input, |s| {
            let Some(part) = string_arg(&arg(0)?, "indexOf()")? else {
                return Ok(None);
            };
            let index = s.find(&part).map_or(-1, |b| {
                i64::try_from(s[..b].chars().count()).unwrap_or(i64::MAX)
            });
            Ok(Some(Item::Integer(index)))
        }),
        Replace => string_fn(&input, |s| {
            let (Some(pattern), Some(with)) = (
                string_arg(&arg(0)?, "replace()")?,
                string_arg(&arg(1)?, "replace()")?,
            ) else {
                return Ok(None);
            };
            Ok(Some(Item::String(s.replace(&pattern, &with))))
        }),
        ToChars => Ok(
            match singleton(&input, "toChars()")?.and_then(value::to_text) {
                None => Vec::new(),
                Some(s) => s.chars().map(|c| Item::String(c.to_string())).collect(),
            },
        ),
        ToString => Ok(singleton(&input, "toString()")?
            .and_then(value::to_text)
            .map(Item::String)
            .into_iter()
            .collect()),
        ToInteger | ToDecimal | ToBoolean => Ok(singleton(&input, "a conversion")?
            .and_then(|i| convert(function, i))
            .into_iter()
            .collect()),
        ConvertsToString | ConvertsToInteger | ConvertsToDecimal | ConvertsToBoolean => {
            let target = match function {
                ConvertsToInteger => ToInteger,
                ConvertsToDecimal => ToDecimal,
                ConvertsToBoolean => ToBoolean,
                _ => ToString,
            };
            Ok(singleton(&input, "a conversion")?
                .map(|i| Item::Boolean(convert(&target, i).is_some()))
                .into_iter()
                .collect())
        }
        Union => {
            let mut out = Vec::new();
            union_into(&mut out, input);
            union_into(&mut out, arg(0)?);
            Ok(out)
        }
        Combine => {
            let mut out = input;
            out.extend(arg(0)?);
            Ok(out)
        }
        Intersect => {
            let other = arg(0)?;
            let mut out = Vec::new();
            union_into(
                &mut out,
                input.into_iter().filter(|i| contains(&other, i)).collect(),
            );
            Ok(out)
        }
        Exclude => {
            let other = arg(0)?;
            Ok(input.into_iter().filter(|i| !contains(&other, i)).collect())
        }
        SubsetOf => {
            let other = arg(0)?;
            boolean_of(input.iter().all(|i| contains(&other, i)))
        }
        SupersetOf => {
            let other = arg(0)?;
            boolean_of(other.iter().all(|i| contains(&input, i)))
        }
        Extension => {
            let Some(url) = string_arg(&arg(0)?, "extension()")? else {
                return Ok(Vec::new());
            };
            let mut extensions = Vec::new();
            for item in &input {
                if let Item::Node(f) = item {
                    model::member(*f, "extension", &mut extensions);
                }
            }
            Ok(extensions
                .into_iter()
                .filter(|e| e.value.get("url").and_then(|u| u.as_str()) == Some(url.as_str()))
                .map(Item::Node)
                .collect())
        }
        Today => Ok(vec![Item::Date(now()[..10].to_string())]),
        Now => Ok(vec![Item::DateTime(now())]),
        Unimplemented(name) => Err(FhirPathError::Unsupported(format!("{name}()"))),
    }
}

/// The environment for evaluating a criteria argument on the `index`th input item.
fn iteration<'e, 'a>(item: &'e Item<'a>, index: usize, env: &Env<'e, 'a>) -> Env<'e, 'a> {
    Env {
        this: item,
        index: Some(index),
        total: env.total,
    }
}

/// The items for which `criteria` is true.
fn filter<'a>(
    ctx: &Ctx<'a>,
    criteria: &Expr,
    input: Vec<Item<'a>>,
    env: &Env<'_, 'a>,
) -> Result<Vec<Item<'a>>> {
    let mut out = Vec::new();
    for (i, item) in input.into_iter().enumerate() {
        let result = ctx.eval(criteria, &iteration(&item, i, env))?;
        if boolean(&result, "a criteria expression")? == Some(true) {
            out.push(item);
        }
    }
    Ok(out)
}

fn distinct(input: Vec<Item<'_>>) -> Vec<Item<'_>> {
    let mut out = Vec::new();
    union_into(&mut out, input);
    out
}

/// Whether two items are the same: the same node, or equal computed values.
fn same(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a, b) {
        (Item::Node(x), Item::Node(y)) => std::ptr::eq(x.value, y.value),
        (Item::Node(_), _) | (_, Item::Node(_)) => false,
        _ => value::equal(a, b) == Some(true),
    }
}

/// `repeat(projection)`: the projection applied to the input, then to its results, until no new
/// items come up.
fn repeat<'a>(
    ctx: &Ctx<'a>,
    projection: &Expr,
    input: Vec<Item<'a>>,
    env: &Env<'_, 'a>,
) -> Result<Vec<Item<'a>>> {
    let mut out: Vec<Item<'a>> = Vec::new();
    let mut next = 0;
    let mut pending = input;
    loop {
        let mut found = Vec::new();
        for (i, item) in pending.iter().enumerate() {
            for new in ctx.eval(projection, &iteration(item, i, env))? {
                if !out.iter().chain(&found).any(|o| same(o, &new)) {
                    found.push(new);
                }
            }
        }
        if found.is_empty() {
            return Ok(out);
        }
        out.extend(found);
        if out.len() > MAX_ITEMS {
            return Err(FhirPathError::Evaluation(format!(
                "repeat() produced more than {MAX_ITEMS} items"
            )));
        }
        pending = out[next..].to_vec();
        next = out.len();
    }
}

/// All descendant nodes, breadth first.
fn descendants<'a>(input: &[Item<'a>]) -> Result<Vec<Item<'a>>> {
    let mut out = Vec::new();
    for item in input {
        if let Item::Node(f) = item {
            model::children(*f, &mut out);
        }
    }
    let mut i = 0;
    while i < out.len() {
        if out.len() > MAX_ITEMS {
            return Err(FhirPathError::Evaluation(format!(
                "descendants() produced more than {MAX_ITEMS} items"
            )));
        }
        let node = out[i];
        model::children(node, &mut out);
        i += 1;
    }
    Ok(out.into_iter().map(Item::Node).collect())
}

/// Applies `f` to the single string of `input`: empty input gives an empty result.
fn string_fn<'a>(
    input: &[Item<'a>],
    f: impl FnOnce(&str) -> Result<Option<Item<'a>>>,
) -> Result<Vec<Item<'a>>> {
    let Some(item) = singleton(input, "a string function")? else {
        return Ok(Vec::new());
    };
    let text = value::to_text(item).ok_or_else(|| {
        FhirPathError::Evaluation("a string function needs a primitive value".into())
    })?;
    Ok(f(&text)?.into_iter().collect())
}

fn string_arg(items: &[Item<'_>], what: &str) -> Result<Option<String>> {
    Ok(singleton(items, what)?.and_then(value::to_text))
}

fn integer_arg(items: &[Item<'_>], what: &str) -> Result<Option<i64>> {
    match singleton(items, what)?.map(value::prim) {
        None => Ok(None),
        Some(Some(Prim::Int(n))) => Ok(Some(n)),
        Some(_) => Err(FhirPathError::Evaluation(format!(
            "{what} needs an integer argument"
        ))),
    }
}

/// A count argument (`skip`, `take`): negative counts are 0, empty is an error.
fn count_arg(items: &[Item<'_>], what: &str) -> Result<usize> {
    let n = integer_arg(items, what)?
        .ok_or_else(|| FhirPathError::Evaluation(format!("{what} needs an argument")))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// `toInteger()`, `toDecimal()`, `toBoolean()`, `toString()` of one item; `None` when it does not
/// convert.
fn convert<'a>(target: &Function, item: &Item<'_>) -> Option<Item<'a>> {
    let p = value::prim(item)?;
    match target {
        Function::ToInteger => match p {
            Prim::Int(n) => Some(Item::Integer(n)),
            Prim::Bool(b) => Some(Item::Integer(i64::from(b))),
            Prim::Str(s) => {
                let digits = s.strip_prefix(['+', '-']).unwrap_or(&s);
                (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| s.parse().ok().map(Item::Integer))
                    .flatten()
            }
            _ => None,
        },
        Function::ToDecimal => match p {
            Prim::Int(_) | Prim::Dec(_) => Some(Item::Decimal(value::as_f64(&p))),
            Prim::Bool(b) => Some(Item::Decimal(if b { 1.0 } else { 0.0 })),
            Prim::Str(s) => {
                let body = s.strip_prefix(['+', '-']).unwrap_or(&s);
                let (int, frac) = body.split_once('.').unwrap_or((body, "0"));
                let ok = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
                (ok(int) && ok(frac))
                    .then(|| s.parse().ok().map(Item::Decimal))
                    .flatten()
            }
            _ => None,
        },
        Function::ToBoolean => match p {
            Prim::Bool(b) => Some(Item::Boolean(b)),
            Prim::Int(1) => Some(Item::Boolean(true)),
            Prim::Int(0) => Some(Item::Boolean(false)),
            Prim::Dec(n) if n == 1.0 || n == 0.0 => Some(Item::Boolean(n == 1.0)),
            Prim::Str(s) => match s.to_lowercase().as_str() {
                "true" | "t" | "yes" | "y" | "1" | "1.0" => Some(Item::Boolean(true)),
                "false" | "f" | "no" | "n" | "0" | "0.0" => Some(Item::Boolean(false)),
                _ => None,
            },
            _ => None,
        },
        _ => value::to_text(item).map(Item::String),
    }
}

/// Compiles `pattern` (single-line mode: `.` matches newlines), cached per thread.
fn regex(pattern: &str) -> Result<Regex> {
    thread_local! {
        static CACHE: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        if let Some(r) = cache.borrow().get(pattern) {
            return Ok(r.clone());
        }
        let r = regex::RegexBuilder::new(pattern)
            .dot_matches_new_line(true)
            .build()
            .map_err(|e| FhirPathError::Evaluation(format!("bad regular expression: {e}")))?;
        let mut cache = cache.borrow_mut();
        if cache.len() >= 256 {
            cache.clear();
        }
        cache.insert(pattern.to_string(), r.clone());
        Ok(r)
    })
}

/// The current UTC time as `YYYY-MM-DDThh:mm:ss.sssZ`.
fn now() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = i64::try_from(days).unwrap_or(0) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn now_is_iso() {
        let n = super::now();
        assert_eq!(n.len(), 24, "{n}");
        assert!(n.starts_with("20") && n.ends_with('Z'));
    }

    #[test]
    fn decimal_text() {
        assert_eq!(super::value::format_decimal(1.0), "1.0");
        assert_eq!(super::value::format_decimal(1.5), "1.5");
    }
}
