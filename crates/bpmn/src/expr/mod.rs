//! A JUEL-subset expression language, as the Camunda 7 dialect of the DSF's models uses it.
//!
//! No Rust implementation of JUEL (the Java Unified Expression Language) exists, and general
//! embedded languages (CEL, Rhai) differ in literal syntax and coercion rules, so this module holds
//! a small hand-written lexer, recursive-descent parser and evaluator for the subset the DSF's models
//! need: literals, identifiers, property paths, index access, method calls on variables and on
//! `execution`, `! && || == != < <= > >= + - * / %`, their keyword forms (`not and or eq ne lt le gt
//! ge div mod`), `empty`, parentheses and the ternary operator.
//!
//! Expressions are parsed when a model is deployed, so unknown syntax is a deployment error and never
//! a runtime surprise. Text with embedded expressions (`abc-${x}`) is a [`Expression`] too: a template
//! whose parts are concatenated as a string.

mod ast;
mod eval;
mod lexer;
mod parser;

use thiserror::Error;

pub use ast::{BinaryOp, Node, UnaryOp};
pub use eval::Context;

use crate::value::Value;

/// An error parsing or evaluating an expression.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ExprError {
    /// The text is not a valid expression.
    #[error("syntax error at offset {at}: {message}")]
    Syntax {
        /// Byte offset in the expression body.
        at: usize,
        /// What is wrong.
        message: String,
    },
    /// An identifier names no variable.
    #[error("cannot resolve identifier '{0}'")]
    UnknownVariable(String),
    /// An operation does not apply to the given values.
    #[error("{0}")]
    Type(String),
}

/// One part of an expression text.
#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Node),
}

/// A parsed expression text: a literal, one `${...}` expression, or a template mixing both.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    source: String,
    parts: Vec<Part>,
}

impl Expression {
    /// Parses an expression text. Text outside `${...}` (or `#{...}`) is literal.
    pub fn parse(text: &str) -> Result<Expression, ExprError> {
        let mut parts = Vec::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(start) = find_open(rest) {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let body_start = start + 2;
            let body_len = find_close(&rest[body_start..]).ok_or_else(|| ExprError::Syntax {
                at: offset + start,
                message: "unterminated '${'".into(),
            })?;
            let body = &rest[body_start..body_start + body_len];
            let node = parse_body(body).map_err(|e| match e {
                ExprError::Syntax { at, message } => ExprError::Syntax {
                    at: at + offset + body_start,
                    message,
                },
                other => other,
            })?;
            parts.push(Part::Expr(node));
            let consumed = body_start + body_len + 1;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() || parts.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Expression {
            source: text.to_owned(),
            parts,
        })
    }

    /// The text the expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the text holds no `${...}` expression.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    /// The syntax tree when the text is exactly one expression.
    pub fn node(&self) -> Option<&Node> {
        match self.parts.as_slice() {
            [Part::Expr(node)] => Some(node),
            _ => None,
        }
    }

    /// Evaluates the expression. A single `${...}` yields its typed value; a template yields a string.
    pub fn evaluate(&self, ctx: &dyn Context) -> Result<Value, ExprError> {
        match self.parts.as_slice() {
            [Part::Expr(node)] => eval::evaluate(node, ctx),
            [Part::Text(text)] => Ok(Value::String(text.clone())),
            parts => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(text) => out.push_str(text),
                        Part::Expr(node) => match eval::evaluate(node, ctx)? {
                            Value::Null => {}
                            value => out.push_str(&value.to_string()),
                        },
                    }
                }
                Ok(Value::String(out))
            }
        }
    }

    /// Evaluates the expression as a condition (JUEL coercion to boolean).
    pub fn evaluate_bool(&self, ctx: &dyn Context) -> Result<bool, ExprError> {
        eval::to_bool(&self.evaluate(ctx)?)
    }
}

fn parse_body(body: &str) -> Result<Node, ExprError> {
    let tokens = lexer::tokenize(body)?;
    parser::Parser::new(tokens, body.len()).parse_all()
}

fn find_open(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(1))
        .find(|&i| (bytes[i] == b'$' || bytes[i] == b'#') && bytes[i + 1] == b'{')
}

/// Finds the `}` closing an expression body, skipping string literals.
fn find_close(body: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => quote = Some(c),
                '}' => return Some(i),
                _ => {}
            },
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Variables;

    fn vars() -> Variables {
        let mut v = Variables::new();
        v.insert("dryRun".into(), Value::Bool(false));
        v.insert("statusCode".into(), "not-reachable".into());
        v.insert("count".into(), Value::Integer(3));
        v.insert(
            "targets".into(),
            Value::Json(
                serde_json::json!({"entries": [{"correlationKey": "a"}, {"correlationKey": "b"}]}),
            ),
        );
        v.insert(
            "patientReference".into(),
            Value::Json(
                serde_json::json!({"identifier": {"value": "x"}, "hasAbsoluteReference": false}),
            ),
        );
        v.insert("evaluation-obfuscation".into(), Value::Bool(true));
        v
    }

    fn eval(text: &str) -> Result<Value, ExprError> {
        Expression::parse(text)?.evaluate(&vars())
    }

    #[test]
    fn evaluates_the_models_conditions() -> Result<(), ExprError> {
        assert_eq!(eval("${!dryRun}")?, Value::Bool(true));
        assert_eq!(
            eval(
                "${execution.hasVariable('statusCode') && (statusCode == 'not-allowed' || statusCode == 'not-reachable')}"
            )?,
            Value::Bool(true)
        );
        assert_eq!(
            eval("${execution.hasVariable('missing') && missing == 'x'}")?,
            Value::Bool(false)
        );
        assert_eq!(
            eval("${execution.getVariable('evaluation-obfuscation')==false}")?,
            Value::Bool(false)
        );
        assert_eq!(
            eval(
                "${patientReference.hasIdentifier() && !patientReference.hasAbsoluteReference()}"
            )?,
            Value::Bool(true)
        );
        assert_eq!(eval("${targets.entries.size()}")?, Value::Integer(2));
        assert_eq!(eval("${targets.entries[1].correlationKey}")?, "b".into());
        Ok(())
    }

    #[test]
    fn operators_follow_juel_precedence_and_coercion() -> Result<(), ExprError> {
        assert_eq!(eval("${1 + 2 * 3}")?, Value::Integer(7));
        assert_eq!(eval("${count > 2 ? 'many' : 'few'}")?, "many".into());
        assert_eq!(eval("${count eq 3 and not dryRun}")?, Value::Bool(true));
        assert_eq!(eval("${count == '3'}")?, Value::Bool(true));
        assert!(eval("${empty missingList}").is_err());
        assert_eq!(eval("${empty ''}")?, Value::Bool(true));
        assert_eq!(eval("${10 / 4}")?, Value::Double(2.5));
        assert_eq!(eval("${'a' < 'b'}")?, Value::Bool(true));
        assert_eq!(eval("${null == null}")?, Value::Bool(true));
        Ok(())
    }

    #[test]
    fn templates_concatenate() -> Result<(), ExprError> {
        assert_eq!(
            eval("key-${count}-${statusCode}")?,
            "key-3-not-reachable".into()
        );
        assert_eq!(eval("plain text")?, "plain text".into());
        assert!(Expression::parse("plain")?.is_literal());
        Ok(())
    }

    #[test]
    fn unknown_syntax_is_rejected_at_parse_time() {
        for bad in [
            "${a ==}",
            "${foo(1)}",
            "${execution.frobnicate()}",
            "${a instanceof b}",
            "${'open}",
            "${a",
            "${a b}",
        ] {
            assert!(
                matches!(Expression::parse(bad), Err(ExprError::Syntax { .. })),
                "{bad} should not parse"
            );
        }
    }

    #[test]
    fn unknown_variables_fail_evaluation() {
        assert_eq!(
            eval("${nope}"),
            Err(ExprError::UnknownVariable("nope".into()))
        );
    }
}
