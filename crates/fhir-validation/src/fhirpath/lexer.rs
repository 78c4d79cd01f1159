//! Splits an expression into tokens.

use super::FhirPathError;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// An identifier; `delimited` for the backtick form, which is never a keyword.
    Ident {
        name: String,
        delimited: bool,
    },
    Str(String),
    Integer(i64),
    Decimal(f64),
    Date(String),
    DateTime(String),
    Time(String),
    /// `%name`, `` %`name` `` or `%'name'`.
    Variable(String),
    /// `$this`, `$index`, `$total`.
    Special(String),
    /// An operator or punctuation: `. , ( ) [ ] { } + - * / & | = != ~ !~ < > <= >=`.
    Punct(&'static str),
}

/// A token and the char offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const PUNCT: [&str; 22] = [
    "!=", "!~", "<=", ">=", ".", ",", "(", ")", "[", "]", "{", "}", "+", "-", "*", "/", "&", "|",
    "=", "~", "<", ">",
];

fn syntax(pos: usize, message: impl Into<String>) -> FhirPathError {
    FhirPathError::Syntax {
        position: pos,
        message: message.into(),
    }
}

/// Tokenizes `text`.
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, FhirPathError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            loop {
                if i + 1 >= chars.len() {
                    return Err(syntax(start, "unterminated comment"));
                }
                if chars[i] == '*' && chars[i + 1] == '/' {
                    i += 2;
                    break;
                }
                i += 1;
            }
            continue;
        }
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            Tok::Ident {
                name: chars[start..i].iter().collect(),
                delimited: false,
            }
        } else if c == '`' {
            let (name, end) = quoted(&chars, i, '`')?;
            i = end;
            Tok::Ident {
                name,
                delimited: true,
            }
        } else if c == '\'' {
            let (s, end) = quoted(&chars, i, '\'')?;
            i = end;
            Tok::Str(s)
        } else if c.is_ascii_digit() {
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let decimal =
                chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit);
            if decimal {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let s: String = chars[start..i].iter().collect();
            if decimal {
                Tok::Decimal(s.parse().map_err(|_| syntax(start, "bad decimal"))?)
            } else {
                Tok::Integer(
                    s.parse()
                        .map_err(|_| syntax(start, "integer literal out of range"))?,
                )
            }
        } else if c == '@' {
            let (tok, end) = date_time(&chars, i)?;
            i = end;
            tok
        } else if c == '%' {
            i += 1;
            match chars.get(i) {
                Some('`') | Some('\'') => {
                    let (name, end) = quoted(&chars, i, chars[i])?;
                    i = end;
                    Tok::Variable(name)
                }
                Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                    let s = i;
                    while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                        i += 1;
                    }
                    Tok::Variable(chars[s..i].iter().collect())
                }
                _ => return Err(syntax(start, "expected a variable name after '%'")),
            }
        } else if c == '$' {
            i += 1;
            while i < chars.len() && chars[i].is_ascii_alphanumeric() {
                i += 1;
            }
            Tok::Special(chars[start + 1..i].iter().collect())
        } else {
            let p = PUNCT
                .iter()
                .find(|p| {
                    p.chars()
                        .enumerate()
                        .all(|(k, pc)| chars.get(i + k) == Some(&pc))
                })
                .ok_or_else(|| syntax(start, format!("unexpected character '{c}'")))?;
            i += p.len();
            Tok::Punct(p)
        };
        out.push(Token { tok, pos: start });
    }
    Ok(out)
}

/// Reads a quoted string or delimited identifier starting at `chars[i] == quote`, resolving
/// escapes; returns it and the index after the closing quote. An unknown escape such as `\d`
/// keeps its backslash, so regular expressions written with single backslashes still work.
fn quoted(chars: &[char], mut i: usize, quote: char) -> Result<(String, usize), FhirPathError> {
    let start = i;
    i += 1;
    let mut s = String::new();
    loop {
        let Some(&c) = chars.get(i) else {
            return Err(syntax(start, "unterminated string"));
        };
        i += 1;
        if c == quote {
            return Ok((s, i));
        }
        if c != '\\' {
            s.push(c);
            continue;
        }
        let Some(&e) = chars.get(i) else {
            return Err(syntax(start, "unterminated string"));
        };
        i += 1;
        match e {
            '\'' | '"' | '`' | '\\' | '/' => s.push(e),
            'f' => s.push('\u{c}'),
            'n' => s.push('\n'),
            'r' => s.push('\r'),
            't' => s.push('\t'),
            'u' => {
                let hex: String = chars.get(i..i + 4).unwrap_or_default().iter().collect();
                let ch = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| syntax(i - 2, "bad \\u escape"))?;
                s.push(ch);
                i += 4;
            }
            other => {
                s.push('\\');
                s.push(other);
            }
        }
    }
}

/// Reads a date, dateTime or time literal starting at `chars[i] == '@'`.
fn date_time(chars: &[char], i: usize) -> Result<(Tok, usize), FhirPathError> {
    let start = i;
    let mut j = i + 1;
    let take = |j: &mut usize, ok: &dyn Fn(char) -> bool| {
        while *j < chars.len() && ok(chars[*j]) {
            *j += 1;
        }
    };
    let time_chars = |c: char| c.is_ascii_digit() || c == ':' || c == '.';
    let is_time = chars.get(j) == Some(&'T');
    let mut has_time = false;
    if is_time {
        j += 1;
        take(&mut j, &time_chars);
    } else {
        take(&mut j, &|c| c.is_ascii_digit() || c == '-');
        if chars.get(j) == Some(&'T') {
            has_time = true;
            j += 1;
            take(&mut j, &time_chars);
            if chars.get(j) == Some(&'Z') {
                j += 1;
            } else if matches!(chars.get(j), Some('+') | Some('-'))
                && chars.get(j + 1).is_some_and(char::is_ascii_digit)
            {
                j += 1;
                take(&mut j, &|c| c.is_ascii_digit() || c == ':');
            }
        }
    }
    let text: String = chars[start + 1..j].iter().collect();
    let valid = if is_time {
        valid_time(&text[1..])
    } else {
        let (date, time) = text.split_once('T').unwrap_or((&text, ""));
        valid_date(date) && (!has_time || time.is_empty() || valid_time(strip_zone(time)))
    };
    if !valid {
        return Err(syntax(start, format!("bad date/time literal '@{text}'")));
    }
    let tok = if is_time {
        Tok::Time(text[1..].to_string())
    } else if has_time {
        Tok::DateTime(text)
    } else {
        Tok::Date(text)
    };
    Ok((tok, j))
}

/// A time without its zone (`Z`, `+01:00`).
pub(crate) fn strip_zone(time: &str) -> &str {
    time.trim_end_matches('Z')
        .split(['+', '-'])
        .next()
        .unwrap_or_default()
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

fn valid_date(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    !parts.is_empty()
        && parts.len() <= 3
        && digits(parts[0], 4)
        && parts[1..].iter().all(|p| digits(p, 2))
}

fn valid_time(s: &str) -> bool {
    let (hms, frac) = s.split_once('.').unwrap_or((s, "0"));
    let parts: Vec<&str> = hms.split(':').collect();
    parts.len() <= 3
        && parts.iter().all(|p| digits(p, 2))
        && !frac.is_empty()
        && frac.bytes().all(|b| b.is_ascii_digit())
}
