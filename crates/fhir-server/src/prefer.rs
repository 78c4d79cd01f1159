//! The `Prefer` header: what a write returns and how strictly searches are checked.

use http::HeaderMap;

/// `Prefer: return=...`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Return {
    /// The written resource (default).
    #[default]
    Representation,
    /// Headers only.
    Minimal,
    /// An OperationOutcome describing what was done.
    OperationOutcome,
}

/// The preferences of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prefer {
    /// What writes return.
    pub return_: Return,
    /// `handling=strict`: unknown or invalid search parameters are errors, not warnings.
    pub strict: bool,
}

impl Prefer {
    /// Reads the `Prefer` headers of a request.
    pub fn from_headers(headers: &HeaderMap) -> Prefer {
        let mut prefer = Prefer::default();
        let tokens = headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split([',', ';']))
            .map(str::trim);
        for token in tokens {
            match token
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim().trim_matches('"')))
            {
                Some(("return", "minimal")) => prefer.return_ = Return::Minimal,
                Some(("return", "representation")) => prefer.return_ = Return::Representation,
                Some(("return", "OperationOutcome")) => prefer.return_ = Return::OperationOutcome,
                Some(("handling", "strict")) => prefer.strict = true,
                Some(("handling", "lenient")) => prefer.strict = false,
                _ => {}
            }
        }
        prefer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_combined_preferences() {
        let mut h = HeaderMap::new();
        h.insert(
            "prefer",
            "return=minimal, handling=strict".parse().expect("value"),
        );
        let p = Prefer::from_headers(&h);
        assert_eq!(p.return_, Return::Minimal);
        assert!(p.strict);
        assert_eq!(Prefer::from_headers(&HeaderMap::new()), Prefer::default());
    }
}
