//! Translation of a [`SearchQuery`] into SQL over the `resources` and `search_params` tables.

use crate::db::Sql;

use super::access::{ACCESS_PARAM, CONTEXT_PREFIX};
use super::date::DateRange;
use super::params::{ParamKind, param};
use super::query::{Criterion, Prefix, SearchQuery, StringMatch};

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
fn like_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Appends a condition comparing the range `[lo, hi)` given by the SQL expressions `lo`/`hi` with
/// the searched `range` under `prefix`.
fn push_date(sql: &mut Sql, lo: &'static str, hi: &'static str, prefix: Prefix, range: DateRange) {
    let within = |sql: &mut Sql| {
        sql.push("(").push(lo).push(" >= ").bind(range.lo);
        sql.push(" AND ")
            .push(hi)
            .push(" <= ")
            .bind(range.hi)
            .push(")");
    };
    match prefix {
        Prefix::Eq => within(sql),
        Prefix::Ne => {
            sql.push("NOT ");
            within(sql);
        }
        Prefix::Gt => {
            sql.push(hi).push(" > ").bind(range.hi);
        }
        Prefix::Lt => {
            sql.push(lo).push(" < ").bind(range.lo);
        }
        Prefix::Ge => {
            sql.push("(")
                .push(hi)
                .push(" > ")
                .bind(range.hi)
                .push(" OR ");
            within(sql);
            sql.push(")");
        }
        Prefix::Le => {
            sql.push("(")
                .push(lo)
                .push(" < ")
                .bind(range.lo)
                .push(" OR ");
            within(sql);
            sql.push(")");
        }
    }
}

/// How many index subqueries a criterion needs: 0 for conditions on the `resources` row itself
/// (`_id`, `_lastUpdated`, `:not`), 2 for `url=x|version`, 1 otherwise.
fn index_parts(query: &SearchQuery, criterion: &Criterion) -> usize {
    match criterion {
        Criterion::Id(_) | Criterion::LastUpdated(..) => 0,
        Criterion::Token { not: true, .. } => 0,
        Criterion::Canonical {
            param: name,
            version: Some(_),
            ..
        } if param(&query.resource_type, name).is_some_and(|d| d.kind == ParamKind::Uri) => 2,
        _ => 1,
    }
}

/// Appends `s.res_type = ? AND s.param = ? AND ...`: the index rows matching part `part` of
/// `criterion`.
fn push_index_condition(sql: &mut Sql, query: &SearchQuery, criterion: &Criterion, part: usize) {
    let param_name: &str = match criterion {
        Criterion::Profile { .. } => "_profile",
        Criterion::Token { param, .. }
        | Criterion::String { param, .. }
        | Criterion::Uri { param, .. }
        | Criterion::Date { param, .. }
        | Criterion::Reference { param, .. }
        | Criterion::ExternalReference { param, .. } => param,
        Criterion::Canonical { param, .. } if part == 0 => param,
        Criterion::Canonical { .. } => "version",
        Criterion::Access(_) => ACCESS_PARAM,
        Criterion::Id(_) | Criterion::LastUpdated(..) => "",
    };
    sql.push("s.res_type = ")
        .bind(query.resource_type.as_str())
        .push(" AND s.param = ")
        .bind(param_name);
    match criterion {
        Criterion::Id(_) | Criterion::LastUpdated(..) => {}
        Criterion::Profile { url, below } => push_text_match(sql, "s.val", url, *below),
        Criterion::Token { system, code, .. } => {
            if let Some(code) = code {
                sql.push(" AND s.val = ").bind(code.as_str());
            }
            match system {
                None => {}
                Some(None) => {
                    sql.push(" AND s.sys IS NULL");
                }
                Some(Some(system)) => {
                    sql.push(" AND s.sys = ").bind(system.as_str());
                }
            }
        }
        Criterion::String { value, mode, .. } => match mode {
            StringMatch::Exact => {
                sql.push(" AND s.raw = ").bind(value.as_str());
            }
            StringMatch::StartsWith => {
                sql.push(" AND s.val LIKE ")
                    .bind(format!("{}%", like_escape(value)))
                    .push(" ESCAPE '\\'");
            }
            StringMatch::Contains => {
                sql.push(" AND s.val LIKE ")
                    .bind(format!("%{}%", like_escape(value)))
                    .push(" ESCAPE '\\'");
            }
        },
        Criterion::Uri { value, below, .. } => push_text_match(sql, "s.val", value, *below),
        Criterion::Date { prefix, range, .. } => {
            sql.push(" AND ");
            push_date(sql, "s.lo", "s.hi", *prefix, *range);
        }
        Criterion::Reference {
            target_type, id, ..
        } => {
            sql.push(" AND s.val = ").bind(id.as_str());
            if let Some(target) = target_type {
                sql.push(" AND s.sys = ").bind(target.as_str());
            }
        }
        Criterion::ExternalReference { url, .. } => {
            sql.push(" AND s.raw = ").bind(url.as_str());
        }
        Criterion::Access(tokens) => push_access(sql, query, tokens),
        Criterion::Canonical { url, version, .. } => match (part, version) {
            (0, Some(v)) if index_parts(query, criterion) == 1 => {
                sql.push(" AND s.val = ").bind(url.as_str());
                sql.push(" AND s.raw = ").bind(v.as_str());
            }
            (0, _) => {
                sql.push(" AND s.val = ").bind(url.as_str());
            }
            (_, v) => {
                sql.push(" AND s.val = ")
                    .bind(v.as_deref().unwrap_or_default());
            }
        },
    }
}

fn has_index_criteria(query: &SearchQuery) -> bool {
    query.criteria.iter().any(|c| index_parts(query, c) > 0)
}

/// What [`push_index_chain`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexSelect {
    /// The distinct sequence numbers.
    Seq,
    /// How many distinct sequence numbers.
    CountDistinct,
    /// How many rows (when rows and resources correspond one to one).
    CountRows,
}

/// Appends the sequence numbers of the versions meeting every index criterion, as
/// `SELECT s.seq FROM search_params s WHERE ... AND s.seq IN (...)`, or their number. Appends
/// nothing when the query has no index criterion.
fn push_index_chain(sql: &mut Sql, query: &SearchQuery, select: IndexSelect) {
    let parts: Vec<(&Criterion, usize)> = query
        .criteria
        .iter()
        .flat_map(|c| (0..index_parts(query, c)).map(move |part| (c, part)))
        .collect();
    let Some(((first, first_part), rest)) = parts.split_first() else {
        return;
    };
    sql.push(match select {
        IndexSelect::Seq => "SELECT DISTINCT s.seq FROM search_params s WHERE ",
        IndexSelect::CountDistinct => "SELECT count(DISTINCT s.seq) FROM search_params s WHERE ",
        IndexSelect::CountRows => "SELECT count(*) FROM search_params s WHERE ",
    });
    push_index_condition(sql, query, first, *first_part);
    for (criterion, part) in rest {
        sql.push(" AND s.seq IN (SELECT s.seq FROM search_params s WHERE ");
        push_index_condition(sql, query, criterion, *part);
    }
    for _ in rest {
        sql.push(")");
    }
}

/// Appends the conditions on the `resources` row `r` itself.
fn push_row_criteria(sql: &mut Sql, query: &SearchQuery) {
    for criterion in &query.criteria {
        match criterion {
            Criterion::Id(id) => {
                sql.push(" AND r.res_id = ").bind(id.as_str());
            }
            Criterion::LastUpdated(prefix, range) => {
                sql.push(" AND ");
                push_date(
                    sql,
                    "r.last_updated",
                    "(r.last_updated + 1000)",
                    *prefix,
                    *range,
                );
            }
            Criterion::Token { not: true, .. } => {
                sql.push(" AND r.seq NOT IN (SELECT s.seq FROM search_params s WHERE ");
                push_index_condition(sql, query, criterion, 0);
                sql.push(")");
            }
            _ => {}
        }
    }
}

fn has_row_criteria(query: &SearchQuery) -> bool {
    query.criteria.iter().any(|c| index_parts(query, c) == 0)
}

/// Appends ` WHERE ...` selecting the current, non-deleted resources `r` that match `query`.
pub(crate) fn push_where(sql: &mut Sql, query: &SearchQuery) {
    if has_index_criteria(query) {
        // Index rows exist only for current, non-deleted versions of the searched type.
        sql.push(" WHERE r.seq IN (");
        push_index_chain(sql, query, IndexSelect::Seq);
        sql.push(")");
    } else {
        sql.push(" WHERE r.res_type = ")
            .bind(query.resource_type.as_str())
            .push(" AND r.current = 1 AND r.deleted = 0");
    }
    push_row_criteria(sql, query);
}

/// Whether the query's only condition is one index part of a parameter with at most one index
/// row per resource: then index rows stand for resources one to one.
fn single_index_part(query: &SearchQuery) -> bool {
    match query.criteria.as_slice() {
        [only] if index_parts(query, only) == 1 => {
            let name = match only {
                Criterion::Token { param, .. }
                | Criterion::String { param, .. }
                | Criterion::Uri { param, .. }
                | Criterion::Date { param, .. }
                | Criterion::Reference { param, .. }
                | Criterion::ExternalReference { param, .. }
                | Criterion::Canonical { param, .. } => *param,
                _ => return false,
            };
            param(&query.resource_type, name).is_some_and(|d| d.single)
        }
        _ => false,
    }
}

/// Appends a statement counting the resources that match `query`.
pub(crate) fn push_count(sql: &mut Sql, query: &SearchQuery) {
    if single_index_part(query) {
        push_index_chain(sql, query, IndexSelect::CountRows);
    } else if has_index_criteria(query) && !has_row_criteria(query) {
        push_index_chain(sql, query, IndexSelect::CountDistinct);
    } else {
        sql.push("SELECT count(*) FROM resources r");
        push_where(sql, query);
    }
}

/// Appends a statement selecting the sequence numbers of one page of matches, in order.
pub(crate) fn push_page(sql: &mut Sql, query: &SearchQuery, count: i64, offset: i64) {
    push_matches(sql, query);
    sql.push(" LIMIT ")
        .bind(count)
        .push(" OFFSET ")
        .bind(offset);
}

/// Appends a statement selecting the sequence numbers of all matches, in order.
pub(crate) fn push_matches(sql: &mut Sql, query: &SearchQuery) {
    if query.sort.is_empty() && has_index_criteria(query) && !has_row_criteria(query) {
        // In write order straight from the index: only the page's rows are visited.
        push_index_chain(sql, query, IndexSelect::Seq);
        sql.push(" ORDER BY s.seq");
    } else {
        sql.push("SELECT r.seq FROM resources r");
        push_where(sql, query);
        push_order(sql, query);
    }
}

/// Appends ` AND (s.val IN (tokens...))`; for Binary also the versions whose security context is a
/// resource readable with `tokens`.
fn push_access(sql: &mut Sql, query: &SearchQuery, tokens: &[String]) {
    let push_in = |sql: &mut Sql, column: &'static str| {
        sql.push(column).push(" IN (");
        // An empty list still has to be valid SQL: the empty string is no token.
        sql.bind("");
        for token in tokens {
            sql.push(", ").bind(token.as_str());
        }
        sql.push(")");
    };
    sql.push(" AND (");
    push_in(sql, "s.val");
    if query.resource_type == "Binary" {
        sql.push(" OR s.val IN (SELECT ")
            .bind(CONTEXT_PREFIX)
            .push(" || c.res_type || '/' || c.res_id FROM resources c WHERE c.seq IN (SELECT a.seq FROM search_params a WHERE a.param = ")
            .bind(ACCESS_PARAM)
            .push(" AND ");
        push_in(sql, "a.val");
        sql.push("))");
    }
    sql.push(")");
}

/// Exact match, or prefix match when `below`, of the text column `column`.
fn push_text_match(sql: &mut Sql, column: &'static str, value: &str, below: bool) {
    if below {
        sql.push(" AND substr(").push(column).push(", 1, ");
        sql.push("CAST(").bind(value.chars().count() as i64);
        sql.push(" AS INTEGER)) = ").bind(value);
    } else {
        sql.push(" AND ").push(column).push(" = ").bind(value);
    }
}

/// Appends the `ORDER BY` clause for `query`'s sort keys (commit order when none).
pub(crate) fn push_order(sql: &mut Sql, query: &SearchQuery) {
    sql.push(" ORDER BY ");
    for key in &query.sort {
        match key.param.as_str() {
            "_id" => {
                sql.push("r.res_id");
            }
            "_lastUpdated" => {
                sql.push("r.last_updated");
            }
            name => {
                let is_date =
                    param(&query.resource_type, name).is_some_and(|d| d.kind == ParamKind::Date);
                sql.push(if is_date {
                    "(SELECT min(s.lo) FROM search_params s WHERE s.seq = r.seq AND s.param = "
                } else {
                    "(SELECT min(s.val) FROM search_params s WHERE s.seq = r.seq AND s.param = "
                });
                sql.bind(name).push(")");
            }
        }
        sql.push(if key.descending { " DESC, " } else { " ASC, " });
    }
    sql.push("r.seq");
}
