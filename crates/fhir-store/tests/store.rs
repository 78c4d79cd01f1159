//! The store's behaviour, run once on SQLite and once on PostgreSQL.

use dsf_fhir::Resource;
use dsf_fhir_store::{Deleted, HistoryQuery, SearchQuery, Store, StoreError};
use dsf_testkit::{Backend, TestDb};
use serde_json::{Value, json};

fn resource(v: Value) -> Resource {
    Resource::from_json_value(v).expect("valid resource")
}

/// A resource the codec would refuse, to check the store's own guard.
fn trusted(v: Value) -> Resource {
    match v {
        Value::Object(map) => Resource::trusted(map),
        _ => panic!("object expected"),
    }
}

fn query(t: &str, q: &[(&str, &str)]) -> SearchQuery {
    let params: Vec<_> = q
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let (query, issues) = SearchQuery::parse(t, &params, "https://dic1.dsf.test/fhir");
    assert!(issues.is_empty(), "{issues:?}");
    query
}

async fn ids(store: &Store, t: &str, q: &[(&str, &str)]) -> Vec<String> {
    let result = store.search(&query(t, q), 100).await.expect("search");
    assert_eq!(
        result.total as usize,
        result.matches.len(),
        "one page expected"
    );
    result.matches.iter().map(|s| s.id().to_owned()).collect()
}

async fn create(store: &Store, v: Value) -> String {
    let mut tx = store.begin().await.expect("begin");
    let stored = tx.create(resource(v), None).await.expect("create");
    tx.commit().await.expect("commit");
    stored.id().to_owned()
}

use dsf_testkit::both_backends;

both_backends!(
    versions_history_and_deletes,
    concurrent_updates_of_one_resource_conflict_cleanly,
    rolled_back_transactions_leave_no_trace,
    token_string_uri_and_reference_search,
    date_search_and_sort,
    paging_and_counts,
    includes_and_revincludes,
    binary_data_is_kept_apart,
    reads_see_committed_writes_only,
    concurrent_commits_and_rollbacks_keep_exactly_the_commits,
);

async fn open(backend: Backend) -> (TestDb, Store) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.config).await.expect("open store");
    (db, store)
}

async fn versions_history_and_deletes(backend: Backend) {
    let (_db, store) = open(backend).await;
    let id = create(&store, json!({"resourceType": "Patient", "active": true})).await;
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "ids are UUIDs");

    let v1 = store
        .read("Patient", &id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(v1.version, 1);
    assert_eq!(v1.resource.as_json()["meta"]["versionId"], "1");

    let mut tx = store.begin().await.expect("begin");
    let mut changed = v1.resource.as_json().clone();
    changed.insert("active".into(), json!(false));
    let err = tx
        .update(Resource::trusted(changed.clone()), Some(7))
        .await
        .expect_err("wrong If-Match");
    assert!(matches!(
        err,
        StoreError::VersionConflict {
            expected: 7,
            current: 1
        }
    ));
    let v2 = tx
        .update(Resource::trusted(changed), Some(1))
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(v2.version, 2);
    assert!(v2.last_updated >= v1.last_updated);

    let old = store
        .vread("Patient", &id, 1)
        .await
        .expect("vread")
        .expect("v1");
    assert_eq!(old.resource.as_json()["active"], true);
    assert_eq!(
        ids(&store, "Patient", &[("active", "false")]).await,
        vec![id.clone()]
    );
    assert!(
        ids(&store, "Patient", &[("active", "true")])
            .await
            .is_empty(),
        "old versions are not indexed"
    );

    let mut tx = store.begin().await.expect("begin");
    assert_eq!(
        tx.delete("Patient", &id).await.expect("delete"),
        Deleted::Now(3)
    );
    assert_eq!(
        tx.delete("Patient", &id).await.expect("delete again"),
        Deleted::Already(3)
    );
    let err = tx
        .update(v2.resource.clone(), None)
        .await
        .expect_err("update of deleted");
    assert!(matches!(err, StoreError::Gone { version: 3, .. }));
    tx.commit().await.expect("commit");

    let gone = store
        .read("Patient", &id)
        .await
        .expect("read")
        .expect("marker");
    assert!(gone.deleted);
    assert!(ids(&store, "Patient", &[]).await.is_empty());

    let history = store
        .history(&HistoryQuery {
            resource_type: Some("Patient".into()),
            id: Some(id.clone()),
            count: 10,
            page: 1,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    assert_eq!(history.total, 3);
    let versions: Vec<_> = history
        .entries
        .iter()
        .map(|e| (e.version, e.deleted))
        .collect();
    assert_eq!(versions, vec![(3, true), (2, false), (1, false)]);

    let since = store
        .history(&HistoryQuery {
            since: Some(time_micros(v2.last_updated)),
            count: 10,
            page: 1,
            ..HistoryQuery::default()
        })
        .await
        .expect("system history");
    assert!(since.entries.iter().all(|e| e.version >= 2));

    let mut tx = store.begin().await.expect("begin");
    tx.permanent_delete("Patient", &id)
        .await
        .expect("permanent delete");
    tx.commit().await.expect("commit");
    assert!(store.read("Patient", &id).await.expect("read").is_none());
    assert!(
        store
            .vread("Patient", &id, 1)
            .await
            .expect("vread")
            .is_none()
    );

    let other = create(&store, json!({"resourceType": "Patient"})).await;
    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .permanent_delete("Patient", &other)
        .await
        .expect_err("not deleted");
    assert!(matches!(err, StoreError::NotDeleted { .. }));
    let err = tx
        .delete("Patient", "00000000-0000-0000-0000-000000000000")
        .await
        .expect_err("unknown");
    assert!(matches!(err, StoreError::NotFound { .. }));
}

fn time_micros(t: time::OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1000) as i64
}

async fn concurrent_updates_of_one_resource_conflict_cleanly(backend: Backend) {
    let (_db, store) = open(backend).await;
    let id = create(
        &store,
        json!({"resourceType": "Task", "status": "requested", "intent": "order"}),
    )
    .await;
    let current = store
        .read("Task", &id)
        .await
        .expect("read")
        .expect("exists");
    let mut handles = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let mut json = current.resource.as_json().clone();
        json.insert("description".into(), json!(format!("writer {i}")));
        handles.push(tokio::spawn(async move {
            let mut tx = store.begin().await?;
            let stored = tx.update(Resource::trusted(json), None).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(stored.version)
        }));
    }
    let mut versions = Vec::new();
    for h in handles {
        match h.await.expect("join") {
            Ok(v) => versions.push(v),
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    versions.sort_unstable();
    let expected: Vec<i64> = (2..2 + versions.len() as i64).collect();
    assert_eq!(
        versions, expected,
        "each successful update got its own version"
    );
    let last = store
        .read("Task", &id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(last.version, 1 + versions.len() as i64);
}

async fn rolled_back_transactions_leave_no_trace(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut tx = store.begin().await.expect("begin");
    let stored = tx
        .create(
            resource(json!({"resourceType": "Organization", "name": "Ghost"})),
            None,
        )
        .await
        .expect("create");
    let inside = tx
        .search(&query("Organization", &[("name", "ghost")]), 10)
        .await
        .expect("search");
    assert_eq!(inside.total, 1, "visible inside the transaction");
    drop(tx);
    assert!(
        store
            .read("Organization", stored.id())
            .await
            .expect("read")
            .is_none()
    );
    assert!(
        ids(&store, "Organization", &[("name", "ghost")])
            .await
            .is_empty()
    );
    let history = store
        .history(&HistoryQuery {
            count: 10,
            page: 1,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    assert_eq!(history.total, 0);
}

async fn token_string_uri_and_reference_search(backend: Backend) {
    let (_db, store) = open(backend).await;
    let org = create(
        &store,
        json!({"resourceType": "Organization", "name": "Universitätsklinikum Test",
               "identifier": [{"system": "http://dsf.dev/sid/organization-identifier", "value": "dic1.dsf.test"}],
               "active": true}),
    )
    .await;
    let endpoint = create(
        &store,
        json!({"resourceType": "Endpoint", "status": "active", "address": "https://dic1.dsf.test/fhir",
               "managingOrganization": {"reference": format!("Organization/{org}")},
               "connectionType": {"code": "hl7-fhir-rest"}, "payloadType": [{"text": "Task"}]}),
    )
    .await;
    let task = create(
        &store,
        json!({"resourceType": "Task", "status": "requested", "intent": "order",
               "meta": {"profile": ["http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"]},
               "requester": {"reference": format!("Organization/{org}"),
                             "identifier": {"system": "http://dsf.dev/sid/organization-identifier", "value": "dic1.dsf.test"}}}),
    )
    .await;
    let other_task = create(
        &store,
        json!({"resourceType": "Task", "status": "completed", "intent": "order",
               "requester": {"reference": "https://dic2.dsf.test/fhir/Organization/x"}}),
    )
    .await;

    let twice = create(
        &store,
        json!({"resourceType": "Organization", "identifier": [{"system": "a", "value": "same"}, {"system": "b", "value": "same"}]}),
    )
    .await;
    assert_eq!(
        ids(&store, "Organization", &[("identifier", "same")]).await,
        vec![twice.clone()],
        "one match per resource"
    );
    let org_sys = "http://dsf.dev/sid/organization-identifier";
    assert_eq!(
        ids(
            &store,
            "Organization",
            &[("identifier", &format!("{org_sys}|dic1.dsf.test"))]
        )
        .await,
        vec![org.clone()]
    );
    assert_eq!(
        ids(&store, "Organization", &[("identifier", "dic1.dsf.test")]).await,
        vec![org.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Organization",
            &[("identifier", &format!("{org_sys}|"))]
        )
        .await,
        vec![org.clone()]
    );
    assert!(
        ids(&store, "Organization", &[("identifier", "|dic1.dsf.test")])
            .await
            .is_empty(),
        "|code means no system"
    );
    assert_eq!(
        ids(&store, "Organization", &[("name", "universitäts")]).await,
        vec![org.clone()]
    );
    assert_eq!(
        ids(&store, "Organization", &[("name:contains", "KLINIKUM")]).await,
        vec![org.clone()]
    );
    assert!(
        ids(
            &store,
            "Organization",
            &[("name:exact", "universitätsklinikum test")]
        )
        .await
        .is_empty()
    );
    assert_eq!(
        ids(
            &store,
            "Organization",
            &[("name:exact", "Universitätsklinikum Test")]
        )
        .await,
        vec![org.clone()]
    );
    assert!(
        ids(&store, "Organization", &[("name", "klinikum")])
            .await
            .is_empty(),
        "starts-with by default"
    );
    assert!(
        ids(&store, "Organization", &[("name", "100%")])
            .await
            .is_empty(),
        "LIKE wildcards are escaped"
    );

    assert_eq!(
        ids(
            &store,
            "Endpoint",
            &[("address", "https://dic1.dsf.test/fhir")]
        )
        .await,
        vec![endpoint.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Endpoint",
            &[("address:below", "https://dic1.dsf.test")]
        )
        .await,
        vec![endpoint.clone()]
    );
    assert!(
        ids(&store, "Endpoint", &[("address", "https://dic1.dsf.test")])
            .await
            .is_empty()
    );
    assert_eq!(
        ids(&store, "Endpoint", &[("organization", &org)]).await,
        vec![endpoint.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Endpoint",
            &[("organization", &format!("Organization/{org}"))]
        )
        .await,
        vec![endpoint.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Endpoint",
            &[(
                "organization",
                &format!("https://dic1.dsf.test/fhir/Organization/{org}")
            )]
        )
        .await,
        vec![endpoint.clone()],
        "absolute references to this server match local ones"
    );

    assert_eq!(
        ids(&store, "Task", &[("status", "requested")]).await,
        vec![task.clone()]
    );
    assert_eq!(
        ids(&store, "Task", &[("status:not", "requested")]).await,
        vec![other_task.clone()]
    );
    assert_eq!(
        ids(&store, "Task", &[("requester:Organization", &org)]).await,
        vec![task.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[("requester:identifier", &format!("{org_sys}|dic1.dsf.test"))]
        )
        .await,
        vec![task.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[("requester", "https://dic2.dsf.test/fhir/Organization/x")]
        )
        .await,
        vec![other_task.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[(
                "_profile",
                "http://dsf.dev/fhir/StructureDefinition/task-ping|1.0"
            )]
        )
        .await,
        vec![task.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[(
                "_profile:below",
                "http://dsf.dev/fhir/StructureDefinition/task-ping"
            )]
        )
        .await,
        vec![task.clone()]
    );
    assert_eq!(
        ids(&store, "Task", &[("_id", &task)]).await,
        vec![task.clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[("status", "requested"), ("_id", &other_task)]
        )
        .await,
        Vec::<String>::new(),
        "parameters are ANDed"
    );
}

async fn date_search_and_sort(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut by_date = Vec::new();
    for date in [
        "2024-01-15T10:00:00Z",
        "2024-02-15T10:00:00+01:00",
        "2024-03-15",
    ] {
        by_date.push(
            create(&store, json!({"resourceType": "Task", "status": "requested", "intent": "order", "authoredOn": date})).await,
        );
    }
    assert_eq!(
        ids(&store, "Task", &[("authored-on", "2024-01")]).await,
        vec![by_date[0].clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[("authored-on", "gt2024-02-01"), ("_sort", "authored-on")]
        )
        .await,
        by_date[1..].to_vec()
    );
    assert_eq!(
        ids(&store, "Task", &[("authored-on", "lt2024-02-15T09:00:00Z")]).await,
        vec![by_date[0].clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[
                ("authored-on", "le2024-02-15T09:00:00Z"),
                ("_sort", "authored-on")
            ]
        )
        .await,
        by_date[..2].to_vec()
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[("authored-on", "ge2024-03-15"), ("_sort", "authored-on")]
        )
        .await,
        vec![by_date[2].clone()]
    );
    assert_eq!(
        ids(
            &store,
            "Task",
            &[("authored-on", "ne2024-03-15"), ("_sort", "authored-on")]
        )
        .await,
        by_date[..2].to_vec()
    );
    assert_eq!(
        ids(&store, "Task", &[("_sort", "-authored-on")]).await,
        by_date.iter().rev().cloned().collect::<Vec<_>>()
    );

    let all = ids(&store, "Task", &[("_sort", "_lastUpdated")]).await;
    assert_eq!(all, by_date);
    let first = store
        .read("Task", &by_date[0])
        .await
        .expect("read")
        .expect("exists");
    let stamp = first.resource.as_json()["meta"]["lastUpdated"]
        .as_str()
        .expect("lastUpdated")
        .to_owned();
    let later = ids(&store, "Task", &[("_lastUpdated", &format!("gt{stamp}"))]).await;
    assert!(
        !later.contains(&by_date[0]),
        "gt excludes the instant itself"
    );
    let at_or_later = ids(&store, "Task", &[("_lastUpdated", &format!("ge{stamp}"))]).await;
    assert!(at_or_later.contains(&by_date[0]));
}

async fn paging_and_counts(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut all = Vec::new();
    for _ in 0..7 {
        all.push(
            create(
                &store,
                json!({"resourceType": "Task", "status": "requested", "intent": "order"}),
            )
            .await,
        );
    }
    let page = |p: &'static str| {
        query(
            "Task",
            &[("_count", "3"), ("_page", p), ("_sort", "_lastUpdated")],
        )
    };
    let mut seen = Vec::new();
    for p in ["1", "2", "3"] {
        let result = store.search(&page(p), 20).await.expect("search");
        assert_eq!(result.total, 7);
        seen.extend(result.matches.iter().map(|m| m.id().to_owned()));
    }
    assert_eq!(seen, all);
    let beyond = store.search(&page("4"), 20).await.expect("search");
    assert!(beyond.matches.is_empty());
    assert_eq!(beyond.total, 7);
    let count_only = store
        .search(&query("Task", &[("_summary", "count")]), 20)
        .await
        .expect("search");
    assert!(count_only.matches.is_empty());
    assert_eq!(count_only.total, 7);
    let zero = store
        .search(&query("Task", &[("_count", "0")]), 20)
        .await
        .expect("search");
    assert!(zero.matches.is_empty());
    assert_eq!(zero.total, 7);
}

async fn includes_and_revincludes(backend: Backend) {
    let (_db, store) = open(backend).await;
    let org = create(&store, json!({"resourceType": "Organization", "name": "A"})).await;
    let endpoint = create(
        &store,
        json!({"resourceType": "Endpoint", "status": "active", "address": "https://a/fhir",
               "managingOrganization": {"reference": format!("Organization/{org}")},
               "connectionType": {"code": "hl7-fhir-rest"}, "payloadType": [{"text": "Task"}]}),
    )
    .await;
    let mut tx = store.begin().await.expect("begin");
    let mut json = store
        .read("Organization", &org)
        .await
        .expect("read")
        .expect("org")
        .resource
        .into_json();
    json.insert(
        "endpoint".into(),
        json!([{"reference": format!("Endpoint/{endpoint}")}]),
    );
    tx.update(Resource::trusted(json), None)
        .await
        .expect("update");
    tx.commit().await.expect("commit");

    let result = store
        .search(
            &query("Organization", &[("_include", "Organization:endpoint")]),
            20,
        )
        .await
        .expect("search");
    assert_eq!(result.matches.len(), 1);
    assert_eq!(result.included.len(), 1);
    assert_eq!(result.included[0].id(), endpoint);

    let result = store
        .search(
            &query("Organization", &[("_revinclude", "Endpoint:organization")]),
            20,
        )
        .await
        .expect("search");
    assert_eq!(
        result.included.iter().map(|s| s.id()).collect::<Vec<_>>(),
        vec![endpoint.as_str()]
    );
}

async fn binary_data_is_kept_apart(backend: Backend) {
    let (_db, store) = open(backend).await;
    let id = create(
        &store,
        json!({"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8="}),
    )
    .await;
    let stored = store
        .read("Binary", &id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.data.as_deref(), Some(&b"hello"[..]));
    assert!(stored.resource.as_json().get("data").is_none());
    assert_eq!(stored.into_full_resource().as_json()["data"], "aGVsbG8=");
    assert_eq!(
        ids(&store, "Binary", &[("contentType", "text/plain")]).await,
        vec![id]
    );

    let mut tx = store.begin().await.expect("begin");
    let err = tx
        .create(trusted(json!({"resourceType": "Binary", "contentType": "text/plain", "data": "not base64!"})), None)
        .await
        .expect_err("bad base64");
    assert!(matches!(err, StoreError::Invalid(_)));
}

async fn reads_see_committed_writes_only(backend: Backend) {
    let (_db, store) = open(backend).await;
    let id = create(&store, json!({"resourceType": "Patient", "active": true})).await;
    let v1 = store
        .read("Patient", &id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        store
            .read("Patient", &id)
            .await
            .expect("read")
            .expect("exists"),
        v1
    );
    let mut changed = v1.resource.as_json().clone();
    changed.insert("active".into(), json!(false));
    let mut tx = store.begin().await.expect("begin");
    tx.update(Resource::trusted(changed.clone()), None)
        .await
        .expect("update");
    drop(tx);
    assert_eq!(
        store
            .read("Patient", &id)
            .await
            .expect("read")
            .expect("exists")
            .version,
        1
    );
    let mut tx = store.begin().await.expect("begin");
    tx.update(Resource::trusted(changed), None)
        .await
        .expect("update");
    assert_eq!(
        store
            .read("Patient", &id)
            .await
            .expect("read")
            .expect("exists")
            .version,
        1,
        "not before commit"
    );
    tx.commit().await.expect("commit");
    assert_eq!(
        store
            .read("Patient", &id)
            .await
            .expect("read")
            .expect("exists")
            .version,
        2
    );
    let mut tx = store.begin().await.expect("begin");
    tx.delete("Patient", &id).await.expect("delete");
    tx.commit().await.expect("commit");
    assert!(
        store
            .read("Patient", &id)
            .await
            .expect("read")
            .expect("marker")
            .deleted
    );
    let mut tx = store.begin().await.expect("begin");
    tx.permanent_delete("Patient", &id)
        .await
        .expect("permanent delete");
    tx.commit().await.expect("commit");
    assert!(store.read("Patient", &id).await.expect("read").is_none());
}

async fn concurrent_commits_and_rollbacks_keep_exactly_the_commits(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut handles = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let keep = i % 3 != 0;
            let name = if keep {
                format!("keep{i}")
            } else {
                format!("drop{i}")
            };
            let mut tx = store.begin().await?;
            let stored = tx
                .create(
                    resource(json!({"resourceType": "Organization", "name": name})),
                    None,
                )
                .await?;
            if keep {
                tx.commit().await?;
            } else {
                tokio::task::yield_now().await;
                drop(tx);
            }
            Ok::<_, StoreError>((keep, stored.id().to_owned()))
        }));
    }
    let mut kept = 0;
    for h in handles {
        let (keep, id) = h.await.expect("join").expect("write");
        let found = store.read("Organization", &id).await.expect("read");
        assert_eq!(
            found.is_some(),
            keep,
            "{id}: committed writes stay, dropped ones vanish"
        );
        kept += usize::from(keep);
    }
    assert_eq!(
        ids(&store, "Organization", &[("name", "keep")]).await.len(),
        kept
    );
    assert!(
        ids(&store, "Organization", &[("name", "drop")])
            .await
            .is_empty()
    );
    let history = store
        .history(&HistoryQuery {
            count: 100,
            page: 1,
            ..HistoryQuery::default()
        })
        .await
        .expect("history");
    assert_eq!(history.total as usize, kept);
}
