//! A parsed search: criteria, sort order, paging and includes, with the problems found on the way.

use super::date::{DateRange, parse_range};
use super::index::{normalize_string, split_reference};
use super::params::{INCLUDES, ParamDef, ParamKind, REVINCLUDES, param};

/// A date comparison prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// `eq` (default): the value's range lies within the searched range.
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `lt`
    Lt,
    /// `ge`
    Ge,
    /// `le`
    Le,
}

/// How a string parameter matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMatch {
    /// Case-insensitive prefix (default).
    StartsWith,
    /// Exact, case-sensitive (`:exact`).
    Exact,
    /// Case-insensitive substring (`:contains`).
    Contains,
}

/// One condition a result must meet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Criterion {
    Id(String),
    LastUpdated(Prefix, DateRange),
    Profile {
        url: String,
        below: bool,
    },
    Token {
        param: &'static str,
        /// `None`: any system; `Some(None)`: no system; `Some(Some(s))`: system `s`.
        system: Option<Option<String>>,
        code: Option<String>,
        not: bool,
    },
    String {
        param: &'static str,
        value: String,
        mode: StringMatch,
    },
    Uri {
        param: &'static str,
        value: String,
        below: bool,
    },
    Date {
        param: &'static str,
        prefix: Prefix,
        range: DateRange,
    },
    Reference {
        param: &'static str,
        target_type: Option<String>,
        id: String,
    },
    ExternalReference {
        param: &'static str,
        url: String,
    },
    Canonical {
        param: &'static str,
        url: String,
        version: Option<String>,
    },
    /// Readable with one of these read-access tokens ([`super::access`]).
    Access(Vec<String>),
}

/// A sort key, ascending unless `descending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// `_id`, `_lastUpdated`, `_profile` or a parameter of the type.
    pub param: String,
    /// `-param`
    pub descending: bool,
}

/// An `_include` (`Source:param[:Target]`) or `_revinclude` resolved against the supported list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The type holding the reference.
    pub source: &'static str,
    /// The reference parameter.
    pub param: &'static str,
    /// The referenced types.
    pub targets: Vec<&'static str>,
}

/// A problem with one search parameter: an error with `Prefer: handling=strict`, a warning otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchIssue {
    /// The parameter as given, e.g. `status:foo`.
    pub parameter: String,
    /// What is wrong with it.
    pub message: String,
}

/// A type-level search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// The searched resource type.
    pub resource_type: String,
    pub(crate) criteria: Vec<Criterion>,
    /// Sort keys in order.
    pub sort: Vec<SortKey>,
    /// `_count`; `None` means the server's default.
    pub count: Option<i64>,
    /// `_page`, 1-based.
    pub page: i64,
    /// `_include`s.
    pub includes: Vec<Include>,
    /// `_revinclude`s.
    pub revincludes: Vec<Include>,
    /// `_summary=count`: total only.
    pub summary_count: bool,
    /// The accepted parameters, sorted by name, for the Bundle's links.
    pub normalized: Vec<(String, String)>,
}

/// Parameters handled outside the store: output format and pretty printing.
const SERVER_PARAMS: &[&str] = &["_format", "_pretty"];
/// Control parameters that may appear at most once.
const SINGLE_PARAMS: &[&str] = &["_sort", "_page", "_count", "_format", "_pretty", "_summary"];

fn issue(parameter: &str, message: impl Into<String>) -> SearchIssue {
    SearchIssue {
        parameter: parameter.to_owned(),
        message: message.into(),
    }
}

fn parse_prefix(value: &str) -> (Prefix, &str) {
    let prefixes = [
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
    ];
    for (text, prefix) in prefixes {
        if let Some(rest) = value.strip_prefix(text)
            && rest.starts_with(|c: char| c.is_ascii_digit())
        {
            return (prefix, rest);
        }
    }
    (Prefix::Eq, value)
}

impl SearchQuery {
    /// Parses the query `params` (decoded name/value pairs, in order) of a search on
    /// `resource_type`. `base_url` is the server's base, so that absolute references to this server
    /// match local ones. Problems are returned beside the query; the query holds what was usable.
    pub fn parse(
        resource_type: &str,
        params: &[(String, String)],
        base_url: &str,
    ) -> (SearchQuery, Vec<SearchIssue>) {
        let mut query = SearchQuery {
            resource_type: resource_type.to_owned(),
            criteria: Vec::new(),
            sort: Vec::new(),
            count: None,
            page: 1,
            includes: Vec::new(),
            revincludes: Vec::new(),
            summary_count: false,
            normalized: Vec::new(),
        };
        let mut issues = Vec::new();
        let mut seen_single: Vec<&str> = Vec::new();
        for (name, value) in params {
            if let Some(single) = SINGLE_PARAMS.iter().find(|s| **s == name.as_str()) {
                if seen_single.contains(single) {
                    issues.push(issue(name, "parameter must not be repeated"));
                    continue;
                }
                seen_single.push(single);
            }
            if SERVER_PARAMS.contains(&name.as_str()) {
                continue;
            }
            match query.add(name, value, base_url) {
                Ok(()) => query.normalized.push((name.clone(), value.clone())),
                Err(message) => issues.push(issue(name, message)),
            }
        }
        query.normalized.sort();
        (query, issues)
    }

    /// Restricts the results to resources readable with one of `tokens` (see [`super::access`]):
    /// what a remote caller may see. Counts and pages then count only those.
    pub fn restrict_access(&mut self, tokens: Vec<String>) {
        self.criteria.push(Criterion::Access(tokens));
    }

    fn add(&mut self, name: &str, value: &str, base_url: &str) -> Result<(), String> {
        match name {
            "_count" => {
                let count: i64 = value
                    .parse()
                    .map_err(|_| format!("'{value}' is not a number"))?;
                if count < 0 {
                    return Err("must not be negative".into());
                }
                self.count = Some(count);
                return Ok(());
            }
            "_page" => {
                self.page = value
                    .parse()
                    .map_err(|_| format!("'{value}' is not a number"))?;
                return Ok(());
            }
            "_summary" => {
                return match value {
                    "count" => {
                        self.summary_count = true;
                        Ok(())
                    }
                    "false" => Ok(()),
                    "true" | "text" | "data" => Err(format!(
                        "_summary={value} is not supported, only count and false"
                    )),
                    _ => Err(format!("'{value}' is not a summary mode")),
                };
            }
            "_sort" => return self.add_sort(value),
            "_include" => {
                let include = parse_include(value)?;
                self.includes.push(include);
                return Ok(());
            }
            "_revinclude" => {
                let include = parse_revinclude(&self.resource_type, value)?;
                self.revincludes.push(include);
                return Ok(());
            }
            _ => {}
        }
        if value.is_empty() {
            return Err("empty value".into());
        }
        let (base_name, modifier) = match name.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (name, None),
        };
        let criterion = match base_name {
            "_id" => {
                no_modifier(modifier)?;
                Criterion::Id(value.to_owned())
            }
            "_lastUpdated" => {
                no_modifier(modifier)?;
                let (prefix, rest) = parse_prefix(value);
                let range = parse_range(rest).ok_or_else(|| format!("'{value}' is not a date"))?;
                Criterion::LastUpdated(prefix, range)
            }
            "_profile" => Criterion::Profile {
                url: value.to_owned(),
                below: match modifier {
                    None => false,
                    Some("below") => true,
                    Some(m) => return Err(format!("modifier :{m} is not supported")),
                },
            },
            _ => {
                let def = param(&self.resource_type, base_name).ok_or_else(|| {
                    format!("unknown search parameter for {}", self.resource_type)
                })?;
                typed_criterion(def, modifier, value, base_url)?
            }
        };
        self.criteria.push(criterion);
        Ok(())
    }

    fn add_sort(&mut self, value: &str) -> Result<(), String> {
        for key in value.split(',') {
            let (descending, name) = match key.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, key.strip_prefix('+').unwrap_or(key)),
            };
            let known = matches!(name, "_id" | "_lastUpdated" | "_profile")
                || param(&self.resource_type, name).is_some();
            if !known {
                return Err(format!("cannot sort by '{name}'"));
            }
            if self.sort.iter().any(|s| s.param == name) {
                return Err(format!("'{name}' is sorted by twice"));
            }
            self.sort.push(SortKey {
                param: name.to_owned(),
                descending,
            });
        }
        Ok(())
    }
}

fn no_modifier(modifier: Option<&str>) -> Result<(), String> {
    match modifier {
        None => Ok(()),
        Some(m) => Err(format!("modifier :{m} is not supported")),
    }
}

fn typed_criterion(
    def: &'static ParamDef,
    modifier: Option<&str>,
    value: &str,
    base_url: &str,
) -> Result<Criterion, String> {
    let unsupported = |m: &str| Err(format!("modifier :{m} is not supported for {}", def.name));
    Ok(match def.kind {
        ParamKind::Token => {
            let not = match modifier {
                None => false,
                Some("not") if def.not => true,
                Some(m) => return unsupported(m),
            };
            let (system, code) = match value.split_once('|') {
                None => (None, Some(value.to_owned())),
                Some(("", code)) => (Some(None), Some(code.to_owned())),
                Some((system, "")) => (Some(Some(system.to_owned())), None),
                Some((system, code)) => (Some(Some(system.to_owned())), Some(code.to_owned())),
            };
            Criterion::Token {
                param: def.name,
                system,
                code,
                not,
            }
        }
        ParamKind::String => {
            let mode = match modifier {
                None => StringMatch::StartsWith,
                Some("exact") => StringMatch::Exact,
                Some("contains") => StringMatch::Contains,
                Some(m) => return unsupported(m),
            };
            // Subscription criteria are always compared exactly.
            let mode = if def.name == "criteria" {
                StringMatch::Exact
            } else {
                mode
            };
            Criterion::String {
                param: def.name,
                value: if mode == StringMatch::Exact {
                    value.to_owned()
                } else {
                    normalize_string(value)
                },
                mode,
            }
        }
        ParamKind::Uri => {
            let below = match modifier {
                None => false,
                Some("below") => true,
                Some(m) => return unsupported(m),
            };
            if def.name == "url"
                && !below
                && let Some((url, version)) = value.split_once('|')
            {
                // `url=x|v` on canonical resources: the url and the resource's version.
                return Ok(Criterion::Canonical {
                    param: "url",
                    url: url.to_owned(),
                    version: Some(version.to_owned()),
                });
            }
            Criterion::Uri {
                param: def.name,
                value: value.to_owned(),
                below,
            }
        }
        ParamKind::Canonical => {
            no_modifier(modifier)?;
            let (url, version) = match value.split_once('|') {
                Some((u, v)) => (u.to_owned(), Some(v.to_owned())),
                None => (value.to_owned(), None),
            };
            Criterion::Canonical {
                param: def.name,
                url,
                version,
            }
        }
        ParamKind::Date => {
            no_modifier(modifier)?;
            let (prefix, rest) = parse_prefix(value);
            let range = parse_range(rest).ok_or_else(|| format!("'{value}' is not a date"))?;
            Criterion::Date {
                param: def.name,
                prefix,
                range,
            }
        }
        ParamKind::Reference => match modifier {
            Some("identifier") => {
                let (system, code) = match value.split_once('|') {
                    None => (None, Some(value.to_owned())),
                    Some(("", code)) => (Some(None), Some(code.to_owned())),
                    Some((system, "")) => (Some(Some(system.to_owned())), None),
                    Some((system, code)) => (Some(Some(system.to_owned())), Some(code.to_owned())),
                };
                Criterion::Token {
                    param: identifier_param(def.name),
                    system,
                    code,
                    not: false,
                }
            }
            Some(target) => {
                if !def.targets.contains(&target) {
                    return Err(format!("{target} is not a target type of {}", def.name));
                }
                if value.contains('/') {
                    return Err(format!("'{value}' must be a plain id with :{target}"));
                }
                Criterion::Reference {
                    param: def.name,
                    target_type: Some(target.to_owned()),
                    id: value.to_owned(),
                }
            }
            None => reference_criterion(def, value, base_url)?,
        },
    })
}

/// The index parameter name holding reference identifiers of `param`.
fn identifier_param(param: &'static str) -> &'static str {
    match param {
        "requester" => "requester:identifier",
        "author" => "author:identifier",
        "subject" => "subject:identifier",
        "organization" => "organization:identifier",
        "endpoint" => "endpoint:identifier",
        "participating-organization" => "participating-organization:identifier",
        "primary-organization" => "primary-organization:identifier",
        "practitioner" => "practitioner:identifier",
        "enrollment" => "enrollment:identifier",
        "principalinvestigator" => "principalinvestigator:identifier",
        other => other,
    }
}

fn reference_criterion(
    def: &'static ParamDef,
    value: &str,
    base_url: &str,
) -> Result<Criterion, String> {
    if !value.contains('/') {
        return Ok(Criterion::Reference {
            param: def.name,
            target_type: None,
            id: value.to_owned(),
        });
    }
    let (base, target, id) =
        split_reference(value).ok_or_else(|| format!("'{value}' is not a reference"))?;
    if !def.targets.contains(&target) {
        return Err(format!("{target} is not a target type of {}", def.name));
    }
    match base {
        Some(base) if base.trim_end_matches('/') != base_url.trim_end_matches('/') => {
            Ok(Criterion::ExternalReference {
                param: def.name,
                url: value.to_owned(),
            })
        }
        _ => Ok(Criterion::Reference {
            param: def.name,
            target_type: Some(target.to_owned()),
            id: id.to_owned(),
        }),
    }
}

fn parse_include(value: &str) -> Result<Include, String> {
    let mut parts = value.split(':');
    let (source, name, target) = (parts.next(), parts.next(), parts.next());
    if parts.next().is_some() {
        return Err(format!("'{value}' is not Source:param[:Target]"));
    }
    let (Some(source), Some(name)) = (source, name) else {
        return Err(format!("'{value}' is not Source:param[:Target]"));
    };
    let matching: Vec<_> = INCLUDES
        .iter()
        .filter(|(s, p, t)| *s == source && *p == name && target.is_none_or(|want| want == *t))
        .collect();
    let Some(first) = matching.first() else {
        return Err(format!("_include={value} is not supported"));
    };
    Ok(Include {
        source: first.0,
        param: first.1,
        targets: matching.iter().map(|(_, _, t)| *t).collect(),
    })
}

fn parse_revinclude(searched: &str, value: &str) -> Result<Include, String> {
    let (source, name) = value
        .split_once(':')
        .ok_or_else(|| format!("'{value}' is not Source:param"))?;
    let (_, source, name) = REVINCLUDES
        .iter()
        .find(|(t, s, p)| *t == searched && *s == source && *p == name)
        .ok_or_else(|| format!("_revinclude={value} is not supported on {searched}"))?;
    Ok(Include {
        source,
        param: name,
        targets: vec![
            REVINCLUDES
                .iter()
                .find(|(_, s, p)| s == source && p == name)
                .map_or("", |(t, _, _)| *t),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str, q: &[(&str, &str)]) -> (SearchQuery, Vec<SearchIssue>) {
        let params: Vec<_> = q
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        SearchQuery::parse(t, &params, "https://dic1/fhir")
    }

    #[test]
    fn tokens_and_control_parameters() {
        let (q, issues) = parse(
            "Task",
            &[
                ("status", "requested"),
                ("_count", "5"),
                ("_page", "2"),
                ("_sort", "-_lastUpdated"),
            ],
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!(q.count, Some(5));
        assert_eq!(q.page, 2);
        assert_eq!(q.sort[0].param, "_lastUpdated");
        assert!(q.sort[0].descending);
        assert!(
            matches!(&q.criteria[0], Criterion::Token { param: "status", system: None, code: Some(c), not: false } if c == "requested")
        );
    }

    #[test]
    fn problems_are_reported_not_fatal() {
        let (q, issues) = parse(
            "Task",
            &[
                ("foo", "bar"),
                ("status:exact", "x"),
                ("authored-on", "notadate"),
                ("_count", "x"),
                ("_count", "1"),
                ("status", "ok"),
            ],
        );
        assert_eq!(issues.len(), 5, "{issues:?}");
        assert_eq!(q.criteria.len(), 1);
    }

    #[test]
    fn references_local_and_external() {
        let (q, issues) = parse(
            "Task",
            &[
                ("requester", "https://dic1/fhir/Organization/1"),
                ("requester", "https://dic2/fhir/Organization/2"),
                ("requester:Organization", "3"),
                (
                    "requester:identifier",
                    "http://dsf.dev/sid/organization-identifier|dic1",
                ),
            ],
        );
        assert!(issues.is_empty(), "{issues:?}");
        assert!(matches!(&q.criteria[0], Criterion::Reference { id, .. } if id == "1"));
        assert!(matches!(
            &q.criteria[1],
            Criterion::ExternalReference { .. }
        ));
        assert!(matches!(
            &q.criteria[3],
            Criterion::Token {
                param: "requester:identifier",
                ..
            }
        ));
    }

    #[test]
    fn includes_are_checked() {
        let (q, issues) = parse(
            "Organization",
            &[
                ("_include", "Organization:endpoint"),
                (
                    "_revinclude",
                    "OrganizationAffiliation:participating-organization",
                ),
                ("_include", "Task:nothing"),
            ],
        );
        assert_eq!(issues.len(), 1);
        assert_eq!(q.includes[0].targets, vec!["Endpoint"]);
        assert_eq!(q.revincludes[0].source, "OrganizationAffiliation");
    }
}
