//! Precedence-climbing parser from tokens to [`Expr`].
//!
//! Every node carries its depth while parsing; a tree deeper than [`MAX_DEPTH`] (by nesting or by
//! long operator chains) is a syntax error, so neither the parser nor the evaluator can overflow
//! the stack.

use super::FhirPathError;
use super::ast::{BinaryOp, Expr, Function, Literal, TypeSpec, Variable};
use super::lexer::{Tok, Token, tokenize};

/// The deepest syntax tree accepted.
pub(crate) const MAX_DEPTH: usize = 128;

/// Parses a whole expression.
pub(crate) fn parse(text: &str) -> Result<Expr, FhirPathError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end: text.chars().count(),
    };
    let (expr, _) = p.expression(0, 0)?;
    match p.tokens.get(p.pos) {
        None => Ok(expr),
        Some(t) => Err(syntax(
            t.pos,
            "unexpected token after the end of the expression",
        )),
    }
}

fn syntax(position: usize, message: impl Into<String>) -> FhirPathError {
    FhirPathError::Syntax {
        position,
        message: message.into(),
    }
}

/// An expression and the depth of its tree.
type Parsed = (Expr, usize);

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    /// Char length of the text, the position of errors at its end.
    end: usize,
}

/// Binding power (higher binds tighter) of an infix operator token.
fn infix(tok: &Tok) -> Option<(u8, Infix)> {
    use BinaryOp::*;
    let op = match tok {
        Tok::Punct(p) => match *p {
            "*" => (10, Mul),
            "/" => (10, Div),
            "+" => (9, Add),
            "-" => (9, Sub),
            "&" => (9, Concat),
            "|" => (7, Union),
            "<" => (6, Lt),
            ">" => (6, Gt),
            "<=" => (6, Le),
            ">=" => (6, Ge),
            "=" => (5, Eq),
            "!=" => (5, Ne),
            "~" => (5, Equiv),
            "!~" => (5, NotEquiv),
            _ => return None,
        },
        Tok::Ident {
            name,
            delimited: false,
        } => match name.as_str() {
            "div" => (10, IntDiv),
            "mod" => (10, Mod),
            "is" => return Some((8, Infix::Is)),
            "as" => return Some((8, Infix::As)),
            "in" => (4, In),
            "contains" => (4, Contains),
            "and" => (3, And),
            "xor" => (2, Xor),
            "or" => (2, Or),
            "implies" => (1, Implies),
            _ => return None,
        },
        _ => return None,
    };
    Some((op.0, Infix::Binary(op.1)))
}

enum Infix {
    Binary(BinaryOp),
    Is,
    As,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn here(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.pos)
    }

    fn next(&mut self) -> Result<Token, FhirPathError> {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| syntax(self.end, "unexpected end of expression"))?;
        self.pos += 1;
        Ok(t)
    }

    fn eat(&mut self, punct: &'static str) -> bool {
        if self.peek() == Some(&Tok::Punct(punct)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &'static str) -> Result<(), FhirPathError> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(syntax(self.here(), format!("expected '{punct}'")))
        }
    }

    fn check_depth(&self, depth: usize) -> Result<usize, FhirPathError> {
        if depth > MAX_DEPTH {
            Err(syntax(
                self.here(),
                format!("expression nested deeper than {MAX_DEPTH}"),
            ))
        } else {
            Ok(depth)
        }
    }

    /// Parses operators binding tighter than `min_bp`; `depth` is the nesting of the caller.
    fn expression(&mut self, min_bp: u8, depth: usize) -> Result<Parsed, FhirPathError> {
        self.check_depth(depth)?;
        let (mut lhs, mut d) = self.unary(depth)?;
        while let Some((bp, op)) = self.peek().and_then(infix) {
            if bp <= min_bp {
                break;
            }
            self.pos += 1;
            match op {
                Infix::Is | Infix::As => {
                    let ty = self.type_spec()?;
                    d = self.check_depth(d + 1)?;
                    lhs = match op {
                        Infix::Is => Expr::Is(Box::new(lhs), ty),
                        _ => Expr::As(Box::new(lhs), ty),
                    };
                }
                Infix::Binary(op) => {
                    let (rhs, rd) = self.expression(bp, depth + 1)?;
                    d = self.check_depth(d.max(rd) + 1)?;
                    lhs = Expr::Binary(op, Box::new(lhs), Box::new(rhs));
                }
            }
        }
        Ok((lhs, d))
    }

    fn unary(&mut self, depth: usize) -> Result<Parsed, FhirPathError> {
        self.check_depth(depth)?;
        if self.eat("-") {
            let (e, d) = self.unary(depth + 1)?;
            return Ok((Expr::Negate(Box::new(e)), self.check_depth(d + 1)?));
        }
        if self.eat("+") {
            return self.unary(depth + 1);
        }
        self.postfix(depth)
    }

    /// A term followed by `.member`, `.function(...)` and `[index]`.
    fn postfix(&mut self, depth: usize) -> Result<Parsed, FhirPathError> {
        let (mut e, mut d) = self.term(depth)?;
        loop {
            if self.eat(".") {
                let (name, pos) = self.identifier()?;
                e = if self.eat("(") {
                    let (f, args, ad) = self.call(&name, pos, depth)?;
                    d = d.max(ad);
                    Expr::Call(Some(Box::new(e)), f, args)
                } else {
                    Expr::Member(Some(Box::new(e)), name)
                };
            } else if self.eat("[") {
                let (index, id) = self.expression(0, depth + 1)?;
                self.expect("]")?;
                d = d.max(id);
                e = Expr::Indexer(Box::new(e), Box::new(index));
            } else {
                return Ok((e, d));
            }
            d = self.check_depth(d + 1)?;
        }
    }

    /// Any identifier, keywords included (after `.` and as function names).
    fn identifier(&mut self) -> Result<(String, usize), FhirPathError> {
        let t = self.next()?;
        match t.tok {
            Tok::Ident { name, .. } => Ok((name, t.pos)),
            _ => Err(syntax(t.pos, "expected an identifier")),
        }
    }

    fn term(&mut self, depth: usize) -> Result<Parsed, FhirPathError> {
        let t = self.next()?;
        let e = match t.tok {
            Tok::Punct("(") => {
                let (e, d) = self.expression(0, depth + 1)?;
                self.expect(")")?;
                return Ok((e, d));
            }
            Tok::Punct("{") => {
                self.expect("}")?;
                Expr::Empty
            }
            Tok::Str(s) => Expr::Literal(Literal::String(s)),
            Tok::Integer(n) => Expr::Literal(Literal::Integer(n)),
            Tok::Decimal(n) => Expr::Literal(Literal::Decimal(n)),
            Tok::Date(s) => Expr::Literal(Literal::Date(s)),
            Tok::DateTime(s) => Expr::Literal(Literal::DateTime(s)),
            Tok::Time(s) => Expr::Literal(Literal::Time(s)),
            Tok::Special(s) => match s.as_str() {
                "this" => Expr::This,
                "index" => Expr::Index,
                "total" => Expr::Total,
                _ => return Err(syntax(t.pos, format!("unknown '${s}'"))),
            },
            Tok::Variable(name) => Expr::Variable(variable(&name)?),
            Tok::Ident { name, delimited } => {
                if self.peek() == Some(&Tok::Punct("(")) {
                    self.pos += 1;
                    let (f, args, d) = self.call(&name, t.pos, depth)?;
                    return Ok((Expr::Call(None, f, args), d + 1));
                }
                match (name.as_str(), delimited) {
                    ("true", false) => Expr::Literal(Literal::Boolean(true)),
                    ("false", false) => Expr::Literal(Literal::Boolean(false)),
                    _ => Expr::Member(None, name),
                }
            }
            Tok::Punct(p) => return Err(syntax(t.pos, format!("unexpected '{p}'"))),
        };
        Ok((e, 1))
    }

    /// A type specifier, a qualified identifier as in the grammar: `Name`, `FHIR.Name`,
    /// `System.Name` or a backbone element type such as `Task.input`.
    fn type_spec(&mut self) -> Result<TypeSpec, FhirPathError> {
        let (mut name, _) = self.identifier()?;
        let mut namespace = None;
        while self.eat(".") {
            let (part, _) = self.identifier()?;
            if namespace.is_none() && matches!(name.as_str(), "FHIR" | "System") {
                namespace = Some(std::mem::replace(&mut name, part));
            } else {
                name = format!("{name}.{part}");
            }
        }
        Ok(TypeSpec { namespace, name })
    }

    /// The arguments of a call after its `(`, checked against the function's arity.
    fn call(
        &mut self,
        name: &str,
        pos: usize,
        depth: usize,
    ) -> Result<(Function, Vec<Expr>, usize), FhirPathError> {
        let (function, min, max) = match signature(name)? {
            Signature::Args(f, min, max) => (f, min, max),
            Signature::Type(make) => {
                let ty = self.type_spec()?;
                self.expect(")")?;
                return Ok((make(ty), Vec::new(), 1));
            }
        };
        let mut args = Vec::new();
        let mut d = 1;
        if !self.eat(")") {
            loop {
                let (a, ad) = self.expression(0, depth + 1)?;
                d = d.max(ad + 1);
                args.push(a);
                if self.eat(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        if args.len() < min || args.len() > max {
            let want = if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            };
            return Err(syntax(
                pos,
                format!("{name}() takes {want} argument(s), got {}", args.len()),
            ));
        }
        Ok((function, args, self.check_depth(d)?))
    }
}

/// How a function is called.
enum Signature {
    /// Expression arguments, between a minimum and maximum count.
    Args(Function, usize, usize),
    /// One type specifier argument (`ofType(Coding)`).
    Type(fn(TypeSpec) -> Function),
}

/// The signature of a function name; unknown names are [`FhirPathError::Unsupported`].
fn signature(name: &str) -> Result<Signature, FhirPathError> {
    use Function::*;
    let (f, min, max) = match name {
        "ofType" => return Ok(Signature::Type(OfType)),
        "is" => return Ok(Signature::Type(Is)),
        "as" => return Ok(Signature::Type(As)),
        "empty" => (Empty, 0, 0),
        "exists" => (Exists, 0, 1),
        "all" => (All, 1, 1),
        "allTrue" => (AllTrue, 0, 0),
        "anyTrue" => (AnyTrue, 0, 0),
        "allFalse" => (AllFalse, 0, 0),
        "anyFalse" => (AnyFalse, 0, 0),
        "count" => (Count, 0, 0),
        "distinct" => (Distinct, 0, 0),
        "isDistinct" => (IsDistinct, 0, 0),
        "where" => (Where, 1, 1),
        "select" => (Select, 1, 1),
        "repeat" => (Repeat, 1, 1),
        "aggregate" => (Aggregate, 1, 2),
        "first" => (First, 0, 0),
        "last" => (Last, 0, 0),
        "tail" => (Tail, 0, 0),
        "skip" => (Skip, 1, 1),
        "take" => (Take, 1, 1),
        "single" => (Single, 0, 0),
        "not" => (Not, 0, 0),
        "iif" => (Iif, 2, 3),
        "hasValue" => (HasValue, 0, 0),
        "children" => (Children, 0, 0),
        "descendants" => (Descendants, 0, 0),
        "trace" => (Trace, 1, 2),
        "matches" => (Matches, 1, 1),
        "replaceMatches" => (ReplaceMatches, 2, 2),
        "startsWith" => (StartsWith, 1, 1),
        "endsWith" => (EndsWith, 1, 1),
        "contains" => (Contains, 1, 1),
        "substring" => (Substring, 1, 2),
        "length" => (Length, 0, 0),
        "upper" => (Upper, 0, 0),
        "lower" => (Lower, 0, 0),
        "indexOf" => (IndexOf, 1, 1),
        "replace" => (Replace, 2, 2),
        "toChars" => (ToChars, 0, 0),
        "toString" => (ToString, 0, 0),
        "toInteger" => (ToInteger, 0, 0),
        "toDecimal" => (ToDecimal, 0, 0),
        "toBoolean" => (ToBoolean, 0, 0),
        "convertsToString" => (ConvertsToString, 0, 0),
        "convertsToInteger" => (ConvertsToInteger, 0, 0),
        "convertsToDecimal" => (ConvertsToDecimal, 0, 0),
        "convertsToBoolean" => (ConvertsToBoolean, 0, 0),
        "union" => (Union, 1, 1),
        "combine" => (Combine, 1, 1),
        "intersect" => (Intersect, 1, 1),
        "exclude" => (Exclude, 1, 1),
        "subsetOf" => (SubsetOf, 1, 1),
        "supersetOf" => (SupersetOf, 1, 1),
        "extension" => (Extension, 1, 1),
        "today" => (Today, 0, 0),
        "now" => (Now, 0, 0),
        "memberOf" => (Unimplemented("memberOf"), 1, 1),
        "resolve" => (Unimplemented("resolve"), 0, 0),
        "conformsTo" => (Unimplemented("conformsTo"), 1, 1),
        "htmlChecks" => (Unimplemented("htmlChecks"), 0, 0),
        _ => {
            return Err(FhirPathError::Unsupported(format!(
                "unknown function {name}()"
            )));
        }
    };
    Ok(Signature::Args(f, min, max))
}

fn variable(name: &str) -> Result<Variable, FhirPathError> {
    let constant = |s: &str| Ok(Variable::Constant(s.to_string()));
    match name {
        "resource" | "rootResource" => Ok(Variable::Resource),
        "context" => Ok(Variable::Context),
        "ucum" => constant("http://unitsofmeasure.org"),
        "sct" => constant("http://snomed.info/sct"),
        "loinc" => constant("http://loinc.org"),
        _ => {
            let expand = [
                ("vs-", "http://hl7.org/fhir/ValueSet/"),
                ("ext-", "http://hl7.org/fhir/StructureDefinition/"),
                ("cs-", "http://hl7.org/fhir/CodeSystem/"),
            ];
            expand
                .iter()
                .find_map(|(prefix, base)| {
                    name.strip_prefix(prefix)
                        .map(|rest| Variable::Constant(format!("{base}{rest}")))
                })
                .ok_or_else(|| FhirPathError::Unsupported(format!("unknown variable %{name}")))
        }
    }
}
