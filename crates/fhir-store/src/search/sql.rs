//! Translation of a [`SearchQuery`] into SQL over the `resources` and `search_params` tables.

use crate::db::Sql;

use super::date::DateRange;
use super::params::{ParamKind, param};
use super::query::{Criterion, Prefix, SearchQuery, StringMatch};

/// Opens `AND r.res_id [NOT] IN (SELECT s.res_id FROM search_params s WHERE s.res_type = ? AND
/// s.param = ?`; the caller appends conditions on `s` and closes with `)`.
fn open_subquery(sql: &mut Sql, resource_type: &str, param: &str, not: bool) {
    sql.push(if not {
        " AND r.res_id NOT IN (SELECT s.res_id FROM search_params s WHERE s.res_type = "
    } else {
        " AND r.res_id IN (SELECT s.res_id FROM search_params s WHERE s.res_type = "
    });
    sql.bind(resource_type).push(" AND s.param = ").bind(param);
}

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

/// Appends `AND ...` for every criterion of `query`; `r` is the `resources` row.
pub(crate) fn push_criteria(sql: &mut Sql, query: &SearchQuery) {
    let t = query.resource_type.as_str();
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
            Criterion::Profile { url, below } => {
                open_subquery(sql, t, "_profile", false);
                push_text_match(sql, "s.val", url, *below);
                sql.push(")");
            }
            Criterion::Token {
                param,
                system,
                code,
                not,
            } => {
                open_subquery(sql, t, param, *not);
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
                sql.push(")");
            }
            Criterion::String { param, value, mode } => {
                open_subquery(sql, t, param, false);
                match mode {
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
                }
                sql.push(")");
            }
            Criterion::Uri {
                param,
                value,
                below,
            } => {
                open_subquery(sql, t, param, false);
                push_text_match(sql, "s.val", value, *below);
                sql.push(")");
            }
            Criterion::Date {
                param,
                prefix,
                range,
            } => {
                open_subquery(sql, t, param, false);
                sql.push(" AND ");
                push_date(sql, "s.lo", "s.hi", *prefix, *range);
                sql.push(")");
            }
            Criterion::Reference {
                param,
                target_type,
                id,
            } => {
                open_subquery(sql, t, param, false);
                sql.push(" AND s.val = ").bind(id.as_str());
                if let Some(target) = target_type {
                    sql.push(" AND s.sys = ").bind(target.as_str());
                }
                sql.push(")");
            }
            Criterion::ExternalReference { param, url } => {
                open_subquery(sql, t, param, false);
                sql.push(" AND s.raw = ").bind(url.as_str()).push(")");
            }
            Criterion::Canonical {
                param: name,
                url,
                version,
            } => {
                open_subquery(sql, t, name, false);
                sql.push(" AND s.val = ").bind(url.as_str());
                let is_url_of_resource = param(t, name).is_some_and(|d| d.kind == ParamKind::Uri);
                match version {
                    Some(v) if is_url_of_resource => {
                        sql.push(")");
                        open_subquery(sql, t, "version", false);
                        sql.push(" AND s.val = ").bind(v.as_str());
                    }
                    Some(v) => {
                        sql.push(" AND s.raw = ").bind(v.as_str());
                    }
                    None => {}
                }
                sql.push(")");
            }
        }
    }
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
                    "(SELECT min(s.lo) FROM search_params s WHERE s.res_type = r.res_type AND s.res_id = r.res_id AND s.param = "
                } else {
                    "(SELECT min(s.val) FROM search_params s WHERE s.res_type = r.res_type AND s.res_id = r.res_id AND s.param = "
                });
                sql.bind(name).push(")");
            }
        }
        sql.push(if key.descending { " DESC, " } else { " ASC, " });
    }
    sql.push("r.seq");
}
