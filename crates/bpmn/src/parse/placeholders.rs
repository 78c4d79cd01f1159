//! `#{name}` deployment placeholders, filled before a model is parsed.

use std::collections::HashMap;

use crate::error::{Problem, ProblemKind};

/// Replaces every `#{name}` whose name is in `properties`; a `#{name}` left without a value (a name
/// of letters, digits, `.`, `_` and `-`) is a problem. Deferred expressions such as `#{a == b}` stay.
pub fn fill(xml: &str, properties: &HashMap<String, String>) -> Result<String, Vec<Problem>> {
    let mut out = String::with_capacity(xml.len());
    let mut problems = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let name = &after[..end];
        let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        match properties.get(name) {
            Some(value) if is_name => out.push_str(value),
            _ => {
                if is_name
                    && !problems.iter().any(
                        |p: &Problem| matches!(&p.kind, ProblemKind::Placeholder(n) if n == name),
                    )
                {
                    problems.push(Problem {
                        process: None,
                        element: None,
                        kind: ProblemKind::Placeholder(name.to_owned()),
                    });
                }
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_known_and_reports_unknown_placeholders() {
        let props = HashMap::from([("version".to_owned(), "1.0".to_owned())]);
        assert_eq!(
            fill("a|#{version} #{x == y} #{...}", &props)
                .ok()
                .as_deref(),
            Some("a|1.0 #{x == y} #{...}")
        );
        let err = fill("#{version} #{organization} #{organization}", &props).err();
        assert_eq!(
            err.map(|p| p.into_iter().map(|p| p.kind).collect::<Vec<_>>()),
            Some(vec![ProblemKind::Placeholder("organization".into())])
        );
    }
}
