//! Evaluation of expressions: paths, literals, variables and operators.

use super::ast::{BinaryOp, Expr, Literal, TypeSpec, Variable};
use super::value::{self, Prim};
use super::{FhirPathError, Focus, Item, functions, model};
use serde_json::Value;
use std::cmp::Ordering;

/// Evaluates `expr` with `this` as focus and `resource` as `%resource`.
pub(crate) fn evaluate<'a>(
    expr: &Expr,
    this: Focus<'a>,
    resource: &'a Value,
) -> Result<Vec<Item<'a>>, FhirPathError> {
    let ctx = Ctx {
        resource: Focus::resource(resource),
        context: this,
    };
    let this = Item::Node(this);
    ctx.eval(
        expr,
        &Env {
            this: &this,
            index: None,
            total: None,
        },
    )
}

/// What stays the same during one evaluation.
pub(crate) struct Ctx<'a> {
    resource: Focus<'a>,
    context: Focus<'a>,
}

/// The iteration variables: `$this`, `$index` and `$total`.
#[derive(Clone, Copy)]
pub(crate) struct Env<'e, 'a> {
    pub this: &'e Item<'a>,
    pub index: Option<usize>,
    pub total: Option<&'e [Item<'a>]>,
}

/// The error for a collection of several items where one is required.
pub(crate) fn not_single(what: &str, n: usize) -> FhirPathError {
    FhirPathError::Evaluation(format!("{what} needs a single item, got {n}"))
}

/// The only item of `items`; `None` when empty, an error when there are several.
pub(crate) fn singleton<'i, 'a>(
    items: &'i [Item<'a>],
    what: &str,
) -> Result<Option<&'i Item<'a>>, FhirPathError> {
    match items {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(not_single(what, items.len())),
    }
}

/// Singleton evaluation as a boolean: empty is `None`, one boolean is its value, any other
/// single item is `true`, several items are an error.
pub(crate) fn boolean(items: &[Item<'_>], what: &str) -> Result<Option<bool>, FhirPathError> {
    Ok(singleton(items, what)?.map(|i| i.as_boolean().unwrap_or(true)))
}

/// Whether `item` is of the type `ty`.
pub(crate) fn is_type(item: &Item<'_>, ty: &TypeSpec) -> bool {
    match (item, ty.namespace.as_deref()) {
        (Item::Node(f), None | Some("FHIR")) => model::node_is(*f, &ty.name),
        (Item::Node(_), _) => false,
        (other, None | Some("System")) => value::system_type(other) == Some(ty.name.as_str()),
        _ => false,
    }
}

/// Appends the items of `more` not yet in `out` (by `=`).
pub(crate) fn union_into<'a>(out: &mut Vec<Item<'a>>, more: Vec<Item<'a>>) {
    for item in more {
        if !contains(out, &item) {
            out.push(item);
        }
    }
}

/// Whether `items` holds an item equal to `item`.
pub(crate) fn contains(items: &[Item<'_>], item: &Item<'_>) -> bool {
    items.iter().any(|i| value::equal(i, item) == Some(true))
}

impl<'a> Ctx<'a> {
    /// Evaluates `expr` in `env`.
    pub(crate) fn eval(
        &self,
        expr: &Expr,
        env: &Env<'_, 'a>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        Ok(match expr {
            Expr::Empty => Vec::new(),
            Expr::Literal(l) => vec![literal(l)],
            Expr::This => vec![env.this.clone()],
            Expr::Index => env
                .index
                .map(|i| Item::Integer(i64::try_from(i).unwrap_or(i64::MAX)))
                .into_iter()
                .collect(),
            Expr::Total => env.total.map(<[Item]>::to_vec).unwrap_or_default(),
            Expr::Variable(v) => vec![match v {
                Variable::Resource => Item::Node(self.resource),
                Variable::Context => Item::Node(self.context),
                Variable::Constant(s) => Item::String(s.clone()),
            }],
            Expr::Member(receiver, name) => self.member(receiver.as_deref(), name, env)?,
            Expr::Call(receiver, function, args) => {
                let input = match receiver {
                    Some(r) => self.eval(r, env)?,
                    None => vec![env.this.clone()],
                };
                functions::call(self, function, args, input, env)?
            }
            Expr::Indexer(collection, index) => {
                let items = self.eval(collection, env)?;
                let index = self.eval(index, env)?;
                match singleton(&index, "an index")?.and_then(value::prim) {
                    None => Vec::new(),
                    Some(Prim::Int(i)) => usize::try_from(i)
                        .ok()
                        .and_then(|i| items.into_iter().nth(i))
                        .into_iter()
                        .collect(),
                    Some(_) => {
                        return Err(FhirPathError::Evaluation(
                            "an index must be an integer".into(),
                        ));
                    }
                }
            }
            Expr::Negate(e) => {
                let items = self.eval(e, env)?;
                match singleton(&items, "unary minus")?.map(value::prim) {
                    None => Vec::new(),
                    Some(Some(Prim::Int(n))) => {
                        n.checked_neg().map(Item::Integer).into_iter().collect()
                    }
                    Some(Some(Prim::Dec(n))) => vec![Item::Decimal(-n)],
                    Some(_) => {
                        return Err(FhirPathError::Evaluation(
                            "unary minus needs a number".into(),
                        ));
                    }
                }
            }
            Expr::Binary(op, l, r) => self.binary(*op, l, r, env)?,
            Expr::Is(e, ty) => {
                let items = self.eval(e, env)?;
                singleton(&items, "'is'")?
                    .map(|i| Item::Boolean(is_type(i, ty)))
                    .into_iter()
                    .collect()
            }
            Expr::As(e, ty) => {
                let mut items = self.eval(e, env)?;
                items.retain(|i| is_type(i, ty));
                items
            }
        })
    }

    /// A member path step; without a receiver it starts at `$this`, where a leading type name
    /// equal to the focus' type (`Task.status` on a Task) selects the focus itself.
    fn member(
        &self,
        receiver: Option<&Expr>,
        name: &str,
        env: &Env<'_, 'a>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        let input = match receiver {
            Some(r) => self.eval(r, env)?,
            None => {
                if let Item::Node(f) = env.this
                    && name.starts_with(|c: char| c.is_ascii_uppercase())
                    && (f.type_name == Some(name)
                        || f.value.get("resourceType").and_then(Value::as_str) == Some(name))
                {
                    return Ok(vec![env.this.clone()]);
                }
                vec![env.this.clone()]
            }
        };
        let mut nodes = Vec::new();
        for item in &input {
            if let Item::Node(f) = item {
                model::member(*f, name, &mut nodes);
            }
        }
        Ok(nodes.into_iter().map(Item::Node).collect())
    }

    fn binary(
        &self,
        op: BinaryOp,
        l: &Expr,
        r: &Expr,
        env: &Env<'_, 'a>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        use BinaryOp::*;
        if matches!(op, And | Or | Xor | Implies) {
            return self.logic(op, l, r, env);
        }
        let left = self.eval(l, env)?;
        let right = self.eval(r, env)?;
        let boolean = |b: Option<bool>| b.map(Item::Boolean).into_iter().collect();
        Ok(match op {
            Union => {
                let mut out = Vec::new();
                union_into(&mut out, left);
                union_into(&mut out, right);
                out
            }
            Eq => boolean(equal_collections(&left, &right)),
            Ne => boolean(equal_collections(&left, &right).map(|b| !b)),
            Equiv => vec![Item::Boolean(equivalent_collections(&left, &right))],
            NotEquiv => vec![Item::Boolean(!equivalent_collections(&left, &right))],
            Lt | Gt | Le | Ge => {
                let (Some(a), Some(b)) = (
                    singleton(&left, "a comparison")?,
                    singleton(&right, "a comparison")?,
                ) else {
                    return Ok(Vec::new());
                };
                boolean(value::compare(a, b)?.map(|o| match op {
                    Lt => o == Ordering::Less,
                    Gt => o == Ordering::Greater,
                    Le => o != Ordering::Greater,
                    _ => o != Ordering::Less,
                }))
            }
            In | Contains => {
                let (element, collection) = if op == In {
                    (left, right)
                } else {
                    (right, left)
                };
                match singleton(&element, "'in'/'contains'")? {
                    None => Vec::new(),
                    Some(e) => vec![Item::Boolean(contains(&collection, e))],
                }
            }
            Concat => {
                let text = |items: &[Item<'_>]| -> Result<String, FhirPathError> {
                    Ok(singleton(items, "'&'")?
                        .and_then(value::to_text)
                        .unwrap_or_default())
                };
                vec![Item::String(text(&left)? + &text(&right)?)]
            }
            _ => arithmetic(op, &left, &right)?.into_iter().collect(),
        })
    }

    /// `and`, `or`, `xor`, `implies` with three-valued logic, short-circuiting where the left side
    /// decides the result.
    fn logic(
        &self,
        op: BinaryOp,
        l: &Expr,
        r: &Expr,
        env: &Env<'_, 'a>,
    ) -> Result<Vec<Item<'a>>, FhirPathError> {
        use BinaryOp::*;
        let a = boolean(&self.eval(l, env)?, "a logical operator")?;
        let decided = match (op, a) {
            (And, Some(false)) => Some(false),
            (Or, Some(true)) => Some(true),
            (Implies, Some(false)) => Some(true),
            _ => None,
        };
        if let Some(b) = decided {
            return Ok(vec![Item::Boolean(b)]);
        }
        let b = boolean(&self.eval(r, env)?, "a logical operator")?;
        let result = match op {
            And => match (a, b) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Or => match (a, b) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Xor => a.zip(b).map(|(a, b)| a != b),
            _ => match (a, b) {
                (Some(true), b) => b,
                (None, Some(true)) => Some(true),
                _ => None,
            },
        };
        Ok(result.map(Item::Boolean).into_iter().collect())
    }
}

fn literal<'a>(l: &Literal) -> Item<'a> {
    match l {
        Literal::Boolean(b) => Item::Boolean(*b),
        Literal::String(s) => Item::String(s.clone()),
        Literal::Integer(n) => Item::Integer(*n),
        Literal::Decimal(n) => Item::Decimal(*n),
        Literal::Date(s) => Item::Date(s.clone()),
        Literal::DateTime(s) => Item::DateTime(s.clone()),
        Literal::Time(s) => Item::Time(s.clone()),
    }
}

/// `=` of collections: empty if either is empty, else item-wise in order.
fn equal_collections(a: &[Item<'_>], b: &[Item<'_>]) -> Option<bool> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a.len() != b.len() {
        return Some(false);
    }
    let mut all = true;
    for (x, y) in a.iter().zip(b) {
        all &= value::equal(x, y)?;
    }
    Some(all)
}

/// `~` of collections: in any order; two empty collections are equivalent.
fn equivalent_collections(a: &[Item<'_>], b: &[Item<'_>]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| value::equivalent(x, y)))
}

/// `+ - * / div mod` on single numbers (and `+` on strings); empty operands and division by zero
/// give an empty result.
fn arithmetic<'a>(
    op: BinaryOp,
    left: &[Item<'a>],
    right: &[Item<'a>],
) -> Result<Option<Item<'a>>, FhirPathError> {
    use BinaryOp::*;
    let (Some(a), Some(b)) = (
        singleton(left, "arithmetic")?,
        singleton(right, "arithmetic")?,
    ) else {
        return Ok(None);
    };
    let (pa, pb) = (value::prim(a), value::prim(b));
    Ok(match (op, pa, pb) {
        (Add, Some(Prim::Str(x)), Some(Prim::Str(y))) => Some(Item::String(format!("{x}{y}"))),
        (_, Some(Prim::Int(x)), Some(Prim::Int(y))) => match op {
            Add => x.checked_add(y).map(Item::Integer),
            Sub => x.checked_sub(y).map(Item::Integer),
            Mul => x.checked_mul(y).map(Item::Integer),
            Div => (y != 0).then(|| Item::Decimal(x as f64 / y as f64)),
            IntDiv => x.checked_div(y).map(Item::Integer),
            _ => x.checked_rem(y).map(Item::Integer),
        },
        (_, Some(x @ (Prim::Int(_) | Prim::Dec(_))), Some(y @ (Prim::Int(_) | Prim::Dec(_)))) => {
            let (x, y) = (value::as_f64(&x), value::as_f64(&y));
            match op {
                Add => Some(Item::Decimal(x + y)),
                Sub => Some(Item::Decimal(x - y)),
                Mul => Some(Item::Decimal(x * y)),
                Div => (y != 0.0).then(|| Item::Decimal(x / y)),
                IntDiv => (y != 0.0)
                    .then(|| (x / y).trunc())
                    .filter(|q| q.abs() < 9.2e18)
                    .map(|q| Item::Integer(q as i64)),
                _ => (y != 0.0).then(|| Item::Decimal(x % y)),
            }
        }
        (op, pa, pb) => {
            let kind = |p: Option<Prim<'_>>| p.map_or("a complex value", |p| p.kind());
            return Err(FhirPathError::Evaluation(format!(
                "no arithmetic {op:?} on {} and {}",
                kind(pa),
                kind(pb)
            )));
        }
    })
}
