//! The syntax tree of a parsed expression.

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    Boolean(bool),
    String(String),
    Integer(i64),
    Decimal(f64),
    Date(String),
    DateTime(String),
    Time(String),
}

/// An environment variable (`%name`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Variable {
    /// `%resource`, `%rootResource`.
    Resource,
    /// `%context`.
    Context,
    /// A constant such as `%ucum` or `` %`vs-name` ``.
    Constant(String),
}

/// A type specifier such as `Reference`, `FHIR.Coding` or `System.String`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TypeSpec {
    /// `FHIR` or `System` when qualified.
    pub namespace: Option<String>,
    pub name: String,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Mul,
    Div,
    IntDiv,
    Mod,
    Add,
    Sub,
    Concat,
    Union,
    Lt,
    Gt,
    Le,
    Ge,
    Eq,
    Ne,
    Equiv,
    NotEquiv,
    In,
    Contains,
    And,
    Xor,
    Or,
    Implies,
}

/// A function of the FHIRPath function library; the arguments are held by [`Expr::Call`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Function {
    Empty,
    Exists,
    All,
    AllTrue,
    AnyTrue,
    AllFalse,
    AnyFalse,
    Count,
    Distinct,
    IsDistinct,
    Where,
    Select,
    Repeat,
    Aggregate,
    OfType(TypeSpec),
    Is(TypeSpec),
    As(TypeSpec),
    First,
    Last,
    Tail,
    Skip,
    Take,
    Single,
    Not,
    Iif,
    HasValue,
    Children,
    Descendants,
    Trace,
    Matches,
    ReplaceMatches,
    StartsWith,
    EndsWith,
    Contains,
    Substring,
    Length,
    Upper,
    Lower,
    IndexOf,
    Replace,
    ToChars,
    ToString,
    ToInteger,
    ToDecimal,
    ToBoolean,
    ConvertsToString,
    ConvertsToInteger,
    ConvertsToDecimal,
    ConvertsToBoolean,
    Union,
    Combine,
    Intersect,
    Exclude,
    SubsetOf,
    SupersetOf,
    Extension,
    Today,
    Now,
    /// A known function that this evaluator does not implement (`memberOf`, `resolve`, ...):
    /// evaluating it fails with [`super::FhirPathError::Unsupported`].
    Unimplemented(&'static str),
}

/// An expression node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// `{}`.
    Empty,
    Literal(Literal),
    This,
    Index,
    Total,
    Variable(Variable),
    /// A member name, on the receiver or, without one, on `$this`.
    Member(Option<Box<Expr>>, String),
    /// A function call, on the receiver or, without one, on `$this`.
    Call(Option<Box<Expr>>, Function, Vec<Expr>),
    /// `collection[index]`.
    Indexer(Box<Expr>, Box<Expr>),
    /// Unary minus (unary plus is dropped by the parser).
    Negate(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `expr is Type`.
    Is(Box<Expr>, TypeSpec),
    /// `expr as Type`.
    As(Box<Expr>, TypeSpec),
}
