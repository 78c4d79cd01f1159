//! Tokens of the expression language.

use super::ExprError;

/// One lexical token with its byte offset in the expression body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) kind: TokenKind,
    pub(crate) at: usize,
}

/// Token kinds. Keyword operators (`and`, `eq`, ...) are folded into their symbol forms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    Ident(String),
    Integer(i64),
    Double(f64),
    Str(String),
    True,
    False,
    Null,
    Empty,
    Dot,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Not,
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Question,
    Colon,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
}

/// Splits an expression body (the text between `${` and `}`) into tokens.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let at = i;
        let two = |next: u8| bytes.get(i + 1) == Some(&next);
        let (kind, len) = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'.' if !bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => (TokenKind::Dot, 1),
            b',' => (TokenKind::Comma, 1),
            b'(' => (TokenKind::LParen, 1),
            b')' => (TokenKind::RParen, 1),
            b'[' => (TokenKind::LBracket, 1),
            b']' => (TokenKind::RBracket, 1),
            b'?' => (TokenKind::Question, 1),
            b':' => (TokenKind::Colon, 1),
            b'+' => (TokenKind::Plus, 1),
            b'-' => (TokenKind::Minus, 1),
            b'*' => (TokenKind::Star, 1),
            b'/' => (TokenKind::Slash, 1),
            b'%' => (TokenKind::Percent, 1),
            b'&' if two(b'&') => (TokenKind::And, 2),
            b'|' if two(b'|') => (TokenKind::Or, 2),
            b'=' if two(b'=') => (TokenKind::Eq, 2),
            b'!' if two(b'=') => (TokenKind::Ne, 2),
            b'!' => (TokenKind::Not, 1),
            b'<' if two(b'=') => (TokenKind::Le, 2),
            b'<' => (TokenKind::Lt, 1),
            b'>' if two(b'=') => (TokenKind::Ge, 2),
            b'>' => (TokenKind::Gt, 1),
            b'\'' | b'"' => {
                let (s, len) = string_literal(src, i)?;
                (TokenKind::Str(s), len)
            }
            b'0'..=b'9' | b'.' => number(src, i)?,
            c if c.is_ascii_alphabetic() || c == b'_' || c == b'$' => {
                let end = src[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '$'))
                    .map_or(src.len(), |n| i + n);
                let word = &src[i..end];
                let kind = match word {
                    "true" => TokenKind::True,
                    "false" => TokenKind::False,
                    "null" => TokenKind::Null,
                    "empty" => TokenKind::Empty,
                    "not" => TokenKind::Not,
                    "and" => TokenKind::And,
                    "or" => TokenKind::Or,
                    "eq" => TokenKind::Eq,
                    "ne" => TokenKind::Ne,
                    "lt" => TokenKind::Lt,
                    "le" => TokenKind::Le,
                    "gt" => TokenKind::Gt,
                    "ge" => TokenKind::Ge,
                    "div" => TokenKind::Slash,
                    "mod" => TokenKind::Percent,
                    "instanceof" => {
                        return Err(ExprError::Syntax {
                            at,
                            message: "'instanceof' is not supported".into(),
                        });
                    }
                    _ => TokenKind::Ident(word.to_owned()),
                };
                (kind, end - i)
            }
            _ => {
                return Err(ExprError::Syntax {
                    at,
                    message: format!(
                        "unexpected character '{}'",
                        src[i..].chars().next().unwrap_or('?')
                    ),
                });
            }
        };
        out.push(Token { kind, at });
        i += len;
    }
    Ok(out)
}

fn string_literal(src: &str, start: usize) -> Result<(String, usize), ExprError> {
    let mut chars = src[start..].char_indices();
    let quote = chars.next().map(|(_, c)| c).unwrap_or('\'');
    let mut out = String::new();
    while let Some((n, c)) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some((_, e)) => out.push(e),
                None => break,
            }
        } else if c == quote {
            return Ok((out, n + c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    Err(ExprError::Syntax {
        at: start,
        message: "unterminated string literal".into(),
    })
}

fn number(src: &str, start: usize) -> Result<(TokenKind, usize), ExprError> {
    let rest = &src[start..];
    let mut end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    // exponent part
    if rest[end..].starts_with(['e', 'E']) {
        let exp = &rest[end + 1..];
        let sign = usize::from(exp.starts_with(['+', '-']));
        let digits = exp[sign..]
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(exp.len() - sign);
        if digits > 0 {
            end += 1 + sign + digits;
        }
    }
    let text = &rest[..end];
    let bad = || ExprError::Syntax {
        at: start,
        message: format!("invalid number '{text}'"),
    };
    if text.contains(['.', 'e', 'E']) {
        text.parse::<f64>()
            .map(|d| (TokenKind::Double(d), end))
            .map_err(|_| bad())
    } else {
        text.parse::<i64>()
            .map(|i| (TokenKind::Integer(i), end))
            .map_err(|_| bad())
    }
}
