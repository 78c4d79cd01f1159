//! Syntax tree of a parsed expression.

use crate::value::Value;

/// A node of the expression syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// A literal: string, number, boolean or `null`.
    Literal(Value),
    /// A top-level identifier: a process variable, or `execution`.
    Ident(String),
    /// Property access `base.name`.
    Member(Box<Node>, String),
    /// Index access `base[index]`.
    Index(Box<Node>, Box<Node>),
    /// Method call `base.name(args)`.
    Call(Box<Node>, String, Vec<Node>),
    /// A unary operator.
    Unary(UnaryOp, Box<Node>),
    /// A binary operator.
    Binary(BinaryOp, Box<Node>, Box<Node>),
    /// `condition ? then : otherwise`.
    Conditional(Box<Node>, Box<Node>, Box<Node>),
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `!` / `not`.
    Not,
    /// `-`.
    Neg,
    /// `empty`.
    Empty,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `&&` / `and`.
    And,
    /// `||` / `or`.
    Or,
    /// `==` / `eq`.
    Eq,
    /// `!=` / `ne`.
    Ne,
    /// `<` / `lt`.
    Lt,
    /// `<=` / `le`.
    Le,
    /// `>` / `gt`.
    Gt,
    /// `>=` / `ge`.
    Ge,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/` / `div`.
    Div,
    /// `%` / `mod`.
    Rem,
}
