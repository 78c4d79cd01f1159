//! Searchset and history Bundles with their paging links.

use dsf_fhir::Resource;
use dsf_fhir_store::{HistoryResult, SearchIssue, SearchResult, Stored, format_instant};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::config::ServerConfig;
use crate::interactions::output;
use crate::outcome::{Issue, Severity, operation_outcome};
use crate::reply::etag;

/// Paging of one result page.
#[derive(Debug, Clone)]
pub struct Paging {
    /// `{base}/T`, `{base}/T/_history`, ...: the links' path.
    pub path: String,
    /// The accepted parameters other than `_count` and `_page`, plus `_format`/`_pretty`.
    pub params: Vec<(String, String)>,
    /// Page size.
    pub count: i64,
    /// 1-based page.
    pub page: i64,
    /// Matches in all.
    pub total: i64,
}

impl Paging {
    fn link(&self, count: i64, page: i64) -> String {
        let mut params = self.params.clone();
        params.push(("_count".into(), count.to_string()));
        params.push(("_page".into(), page.to_string()));
        params.sort();
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        format!("{}?{query}", self.path)
    }

    fn links(&self) -> Vec<Value> {
        let link = |relation: &str, url: String| json!({"relation": relation, "url": url});
        let last_page = if self.count > 0 {
            ((self.total + self.count - 1) / self.count).max(1)
        } else {
            1
        };
        let count_only = self.count <= 0 || self.page < 1 || self.page > last_page;
        if count_only {
            return vec![link("self", self.link(0, 1))];
        }
        let mut links = vec![
            link("self", self.link(self.count, self.page)),
            link("first", self.link(self.count, 1)),
        ];
        if self.page > 1 {
            links.push(link("previous", self.link(self.count, self.page - 1)));
        }
        if self.page < last_page {
            links.push(link("next", self.link(self.count, self.page + 1)));
        }
        links.push(link("last", self.link(self.count, last_page)));
        links
    }
}

fn bundle(kind: &str, total: i64, paging: &Paging, entries: Vec<Value>) -> Resource {
    let mut map = Map::new();
    map.insert("resourceType".into(), json!("Bundle"));
    map.insert("id".into(), json!(uuid::Uuid::new_v4().to_string()));
    map.insert(
        "meta".into(),
        json!({"lastUpdated": format_instant(OffsetDateTime::now_utc())}),
    );
    map.insert("type".into(), json!(kind));
    map.insert(
        "timestamp".into(),
        json!(format_instant(OffsetDateTime::now_utc())),
    );
    map.insert("total".into(), json!(total));
    map.insert("link".into(), Value::Array(paging.links()));
    if !entries.is_empty() {
        map.insert("entry".into(), Value::Array(entries));
    }
    Resource::trusted(map)
}

fn search_entry(config: &ServerConfig, stored: &Stored, mode: &str) -> Value {
    json!({
        "fullUrl": config.url_of(stored.resource_type(), stored.id()),
        "resource": Value::Object(output(stored).into_json()),
        "search": {"mode": mode},
    })
}

/// A searchset Bundle: matches, includes, and the search's problems as a warning outcome entry.
pub fn searchset(
    config: &ServerConfig,
    paging: &Paging,
    result: &SearchResult,
    issues: &[SearchIssue],
) -> Resource {
    let mut entries: Vec<Value> = result
        .matches
        .iter()
        .map(|s| search_entry(config, s, "match"))
        .collect();
    entries.extend(
        result
            .included
            .iter()
            .map(|s| search_entry(config, s, "include")),
    );
    if !issues.is_empty() {
        let issues: Vec<Issue> = issues
            .iter()
            .map(|i| {
                Issue::new(
                    Severity::Warning,
                    "processing",
                    format!("Search parameter {} ignored: {}", i.parameter, i.message),
                )
                .at(i.parameter.clone())
            })
            .collect();
        entries.push(json!({
            "resource": Value::Object(operation_outcome(&issues).into_json()),
            "search": {"mode": "outcome"},
        }));
    }
    bundle("searchset", result.total, paging, entries)
}

/// A history Bundle, newest version first.
pub fn history(config: &ServerConfig, paging: &Paging, result: &HistoryResult) -> Resource {
    let entries = result
        .entries
        .iter()
        .map(|stored| {
            let (t, id, v) = (stored.resource_type(), stored.id(), stored.version);
            let (method, status) = match (stored.deleted, v) {
                (true, _) => ("DELETE", "200 OK"),
                (false, 1) => ("POST", "201 Created"),
                (false, _) => ("PUT", "200 OK"),
            };
            let url = if method == "POST" {
                t.to_owned()
            } else {
                format!("{t}/{id}")
            };
            let mut entry = Map::new();
            entry.insert("fullUrl".into(), json!(config.url_of(t, id)));
            if !stored.deleted {
                entry.insert("resource".into(), Value::Object(output(stored).into_json()));
            }
            entry.insert("request".into(), json!({"method": method, "url": url}));
            entry.insert(
                "response".into(),
                json!({
                    "status": status,
                    "location": config.version_url(t, id, v),
                    "etag": etag(v),
                    "lastModified": format_instant(stored.last_updated),
                }),
            );
            Value::Object(entry)
        })
        .collect();
    bundle("history", result.total, paging, entries)
}
