//! Recursive-descent parser for the expression language, by JUEL's precedence levels.

use super::ExprError;
use super::ast::{BinaryOp, Node, UnaryOp};
use super::lexer::{Token, TokenKind};
use crate::value::Value;

/// Methods of the `execution` object that expressions may call.
pub(crate) const EXECUTION_METHODS: &[&str] = &[
    "hasVariable",
    "getVariable",
    "hasVariableLocal",
    "getVariableLocal",
    "getBusinessKey",
    "getProcessBusinessKey",
    "getProcessInstanceId",
    "getActivityId",
    "getCurrentActivityId",
    "getProcessDefinitionId",
    "getId",
];

pub(crate) struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    len: usize,
}

impl Parser {
    pub(crate) fn new(tokens: Vec<Token>, len: usize) -> Self {
        Parser {
            tokens,
            pos: 0,
            len,
        }
    }

    pub(crate) fn parse_all(mut self) -> Result<Node, ExprError> {
        let node = self.ternary()?;
        match self.tokens.get(self.pos) {
            None => Ok(node),
            Some(t) => Err(ExprError::Syntax {
                at: t.at,
                message: format!("unexpected {:?} after the end of the expression", t.kind),
            }),
        }
    }

    fn peek(&self) -> Option<&TokenKind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.len, |t| t.at)
    }

    fn eat(&mut self, kind: &TokenKind) -> bool {
        if self.peek() == Some(kind) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, kind: &TokenKind, what: &str) -> Result<(), ExprError> {
        if self.eat(kind) {
            Ok(())
        } else {
            Err(ExprError::Syntax {
                at: self.at(),
                message: format!("expected {what}"),
            })
        }
    }

    fn ternary(&mut self) -> Result<Node, ExprError> {
        let cond = self.or()?;
        if self.eat(&TokenKind::Question) {
            let then = self.ternary()?;
            self.expect(&TokenKind::Colon, "':' of a conditional expression")?;
            let otherwise = self.ternary()?;
            return Ok(Node::Conditional(
                Box::new(cond),
                Box::new(then),
                Box::new(otherwise),
            ));
        }
        Ok(cond)
    }

    fn binary_level(
        &mut self,
        ops: &[(TokenKind, BinaryOp)],
        next: fn(&mut Self) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        let mut left = next(self)?;
        'outer: loop {
            for (kind, op) in ops {
                if self.eat(kind) {
                    let right = next(self)?;
                    left = Node::Binary(*op, Box::new(left), Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        self.binary_level(&[(TokenKind::Or, BinaryOp::Or)], Self::and)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        self.binary_level(&[(TokenKind::And, BinaryOp::And)], Self::equality)
    }

    fn equality(&mut self) -> Result<Node, ExprError> {
        self.binary_level(
            &[(TokenKind::Eq, BinaryOp::Eq), (TokenKind::Ne, BinaryOp::Ne)],
            Self::relational,
        )
    }

    fn relational(&mut self) -> Result<Node, ExprError> {
        self.binary_level(
            &[
                (TokenKind::Lt, BinaryOp::Lt),
                (TokenKind::Le, BinaryOp::Le),
                (TokenKind::Gt, BinaryOp::Gt),
                (TokenKind::Ge, BinaryOp::Ge),
            ],
            Self::additive,
        )
    }

    fn additive(&mut self) -> Result<Node, ExprError> {
        self.binary_level(
            &[
                (TokenKind::Plus, BinaryOp::Add),
                (TokenKind::Minus, BinaryOp::Sub),
            ],
            Self::multiplicative,
        )
    }

    fn multiplicative(&mut self) -> Result<Node, ExprError> {
        self.binary_level(
            &[
                (TokenKind::Star, BinaryOp::Mul),
                (TokenKind::Slash, BinaryOp::Div),
                (TokenKind::Percent, BinaryOp::Rem),
            ],
            Self::unary,
        )
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        let op = if self.eat(&TokenKind::Not) {
            UnaryOp::Not
        } else if self.eat(&TokenKind::Minus) {
            UnaryOp::Neg
        } else if self.eat(&TokenKind::Empty) {
            UnaryOp::Empty
        } else {
            return self.postfix();
        };
        Ok(Node::Unary(op, Box::new(self.unary()?)))
    }

    fn postfix(&mut self) -> Result<Node, ExprError> {
        let mut node = self.primary()?;
        loop {
            if self.eat(&TokenKind::Dot) {
                let at = self.at();
                let name = match self.tokens.get(self.pos).map(|t| t.kind.clone()) {
                    Some(TokenKind::Ident(name)) => name,
                    // keywords are valid property names after a dot
                    Some(TokenKind::Empty) => "empty".into(),
                    Some(TokenKind::Null) => "null".into(),
                    _ => {
                        return Err(ExprError::Syntax {
                            at,
                            message: "expected a property name after '.'".into(),
                        });
                    }
                };
                self.pos += 1;
                if self.eat(&TokenKind::LParen) {
                    let args = self.arguments()?;
                    if matches!(&node, Node::Ident(id) if id == "execution")
                        && !EXECUTION_METHODS.contains(&name.as_str())
                    {
                        return Err(ExprError::Syntax {
                            at,
                            message: format!("unknown method 'execution.{name}'"),
                        });
                    }
                    node = Node::Call(Box::new(node), name, args);
                } else {
                    node = Node::Member(Box::new(node), name);
                }
            } else if self.eat(&TokenKind::LBracket) {
                let index = self.ternary()?;
                self.expect(&TokenKind::RBracket, "']'")?;
                node = Node::Index(Box::new(node), Box::new(index));
            } else {
                return Ok(node);
            }
        }
    }

    fn arguments(&mut self) -> Result<Vec<Node>, ExprError> {
        let mut args = Vec::new();
        if self.eat(&TokenKind::RParen) {
            return Ok(args);
        }
        loop {
            args.push(self.ternary()?);
            if self.eat(&TokenKind::RParen) {
                return Ok(args);
            }
            self.expect(&TokenKind::Comma, "',' or ')' in an argument list")?;
        }
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        let at = self.at();
        let Some(token) = self.tokens.get(self.pos).map(|t| t.kind.clone()) else {
            return Err(ExprError::Syntax {
                at,
                message: "unexpected end of expression".into(),
            });
        };
        self.pos += 1;
        Ok(match token {
            TokenKind::Ident(name) => {
                if self.peek() == Some(&TokenKind::LParen) {
                    return Err(ExprError::Syntax {
                        at,
                        message: format!("function calls such as '{name}(...)' are not supported"),
                    });
                }
                Node::Ident(name)
            }
            TokenKind::Integer(i) => Node::Literal(Value::Integer(i)),
            TokenKind::Double(d) => Node::Literal(Value::Double(d)),
            TokenKind::Str(s) => Node::Literal(Value::String(s)),
            TokenKind::True => Node::Literal(Value::Bool(true)),
            TokenKind::False => Node::Literal(Value::Bool(false)),
            TokenKind::Null => Node::Literal(Value::Null),
            TokenKind::LParen => {
                let inner = self.ternary()?;
                self.expect(&TokenKind::RParen, "')'")?;
                inner
            }
            other => {
                return Err(ExprError::Syntax {
                    at,
                    message: format!("unexpected {other:?}"),
                });
            }
        })
    }
}
