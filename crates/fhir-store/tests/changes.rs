//! The change feed and matching single versions against searches, on SQLite and PostgreSQL.

use std::time::Duration;

use dsf_fhir::Resource;
use dsf_fhir_store::{Change, SearchQuery, Store, Stored, Written};
use dsf_testkit::{Backend, TestDb, both_backends};
use serde_json::{Value, json};
use tokio::sync::broadcast::Receiver;

fn library(status: &str) -> Resource {
    Resource::from_json_value(json!({"resourceType": "Library", "status": status,
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/library-type", "code": "logic-library"}]}}))
    .expect("valid Library")
}

fn criteria(text: &str) -> SearchQuery {
    let (resource_type, params) = text.split_once('?').expect("Type?params");
    let pairs: Vec<(String, String)> = form_pairs(params);
    let (query, issues) = SearchQuery::parse(resource_type, &pairs, "");
    assert!(issues.is_empty(), "{issues:?}");
    query
}

fn form_pairs(params: &str) -> Vec<(String, String)> {
    params
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

async fn next(feed: &mut Receiver<Change>) -> Written {
    match tokio::time::timeout(Duration::from_secs(10), feed.recv()).await {
        Ok(Ok(Change::Written(written))) => written,
        other => panic!("expected a written change, got {other:?}"),
    }
}

async fn quiet(feed: &mut Receiver<Change>) {
    let waited = tokio::time::timeout(Duration::from_millis(300), feed.recv()).await;
    assert!(waited.is_err(), "no change expected, got {waited:?}");
}

async fn create(store: &Store, resource: Resource) -> Stored {
    let mut tx = store.begin().await.expect("begin");
    let stored = tx.create(resource, None).await.expect("create");
    tx.commit().await.expect("commit");
    stored
}

async fn committed_writes_in_order(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.config).await.expect("open");
    let mut feed = store.changes();

    let first = create(&store, library("active")).await;
    let seen = next(&mut feed).await;
    assert_eq!(
        (seen.resource_type.as_str(), seen.id.as_str(), seen.version),
        ("Library", first.id(), 1)
    );
    assert!(!seen.deleted);

    // A transaction dropped without commit is never announced.
    let mut tx = store.begin().await.expect("begin");
    tx.create(library("active"), None).await.expect("create");
    drop(tx);
    quiet(&mut feed).await;

    // A transaction's writes come in the order they were made; a deletion is flagged.
    let mut tx = store.begin().await.expect("begin");
    let mut updated = first.resource.clone().into_json();
    updated.insert("status".into(), Value::String("retired".into()));
    tx.update(Resource::trusted(updated), None)
        .await
        .expect("update");
    tx.delete("Library", first.id()).await.expect("delete");
    tx.commit().await.expect("commit");
    assert_eq!(next(&mut feed).await.version, 2);
    let deletion = next(&mut feed).await;
    assert_eq!((deletion.version, deletion.deleted), (3, true));

    // Concurrent writers: the feed's order is the commit order, every commit once.
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    create(&store, library("active")).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.push(next(&mut feed).await.id);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "each commit once");
    quiet(&mut feed).await;
}

async fn single_versions_match_like_searches(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.config).await.expect("open");
    let active = criteria("Library?status=active");
    let first = create(&store, library("active")).await;
    assert!(store.matches(&active, &first).expect("match"));
    assert!(
        !store
            .matches(&criteria("Library?status=draft"), &first)
            .expect("match")
    );
    assert!(
        !store
            .matches(&criteria("Task?status=active"), &first)
            .expect("match")
    );
    assert!(
        store
            .matches(&criteria(&format!("Library?_id={}", first.id())), &first)
            .expect("match")
    );
    assert!(
        store
            .matches(&criteria("Library?status:not=draft"), &first)
            .expect("match")
    );

    // A later version does not change what the earlier one matched.
    let mut tx = store.begin().await.expect("begin");
    let mut retired = first.resource.clone().into_json();
    retired.insert("status".into(), Value::String("retired".into()));
    let second = tx
        .update(Resource::trusted(retired), None)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    assert!(store.matches(&active, &first).expect("match"));
    assert!(!store.matches(&active, &second).expect("match"));
    let bare = create(
        &store,
        Resource::from_json_value(json!({"resourceType": "Basic",
            "code": {"coding": [{"system": "http://example.org", "code": "x"}]}}))
        .expect("Basic"),
    )
    .await;
    assert!(
        store
            .matches(&criteria("Basic?_lastUpdated=gt2020-01-01"), &bare)
            .expect("match")
    );
}

/// Batches of versions, of every size and across the statement batch, match as single versions
/// do, and in their order.
async fn batches_match_like_single_versions(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.config).await.expect("open");
    let mut tx = store.begin().await.expect("begin");
    let mut written = Vec::new();
    for i in 0..40 {
        let mut json = library(if i % 3 == 0 { "draft" } else { "active" }).into_json();
        json.insert("url".into(), json!(format!("http://dsf.test/Library/{i}")));
        written.push(
            tx.create(Resource::trusted(json), None)
                .await
                .expect("create"),
        );
    }
    tx.commit().await.expect("commit");
    let all: Vec<&Stored> = written.iter().collect();
    for query in [
        "Library?status=active",
        "Library?status:not=active",
        "Library?status=active&url=http://dsf.test/Library/7",
        "Library?status=draft,retired",
        "Task?status=active",
    ] {
        let query = criteria(query);
        for size in [40, 33, 32, 5, 1] {
            let batch = &all[40 - size..];
            let expected: Vec<i64> = batch
                .iter()
                .filter(|s| store.matches(&query, s).expect("match"))
                .map(|s| s.seq)
                .collect();
            assert_eq!(store.matching(&query, batch).expect("match"), expected);
        }
    }
    let active = store
        .matching(&criteria("Library?status=active"), &all)
        .expect("match");
    assert_eq!(active.len(), 26, "every version but each third one");
    assert!(active.is_sorted());
    let seventh = criteria("Library?status=active&url=http://dsf.test/Library/7");
    assert_eq!(
        store.matching(&seventh, &all).expect("match"),
        [written[7].seq]
    );

    // Index values travel as JSON: quotes, backslashes and non-ASCII text arrive intact.
    let mut json = library("active").into_json();
    json.insert("name".into(), json!("Zürich \"Süd\" \\ 🏥"));
    let named = create(&store, Resource::trusted(json)).await;
    for (query, matched) in [
        ("Library?name=zürich \"süd\" \\ 🏥", true),
        ("Library?name:exact=Zürich \"Süd\" \\ 🏥", true),
        ("Library?name:exact=Zürich \"Süd\" \\", false),
    ] {
        let found = store.matching(&criteria(query), &[&named]).expect("match");
        assert_eq!(found == [named.seq], matched, "{query}");
    }
}

async fn catch_up_by_last_updated_is_exact(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = Store::open(&db.config).await.expect("open");
    let mut written = Vec::new();
    for _ in 0..5 {
        written.push(create(&store, library("active")).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let stamp = |s: &Stored| {
        s.resource.as_json()["meta"]["lastUpdated"]
            .as_str()
            .expect("lastUpdated")
            .to_owned()
    };
    let query = criteria(&format!(
        "Library?status=active&_lastUpdated=gt{}&_sort=_lastUpdated",
        stamp(&written[1])
    ));
    let found = store.search(&query, 100).await.expect("search");
    let ids: Vec<&str> = found.matches.iter().map(Stored::id).collect();
    let expected: Vec<&str> = written[2..].iter().map(Stored::id).collect();
    assert_eq!(ids, expected, "strictly after, in time order");
    let read = store
        .read("Library", written[2].id())
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        stamp(&read),
        stamp(&written[2]),
        "the stored instant is exact"
    );
}

both_backends!(
    committed_writes_in_order,
    single_versions_match_like_searches,
    batches_match_like_single_versions,
    catch_up_by_last_updated_is_exact,
);

/// Two stores on one PostgreSQL database, as two server processes: each hears the other's
/// commits, in commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_processes_hear_each_other() {
    let db = TestDb::new(Backend::Postgres).await;
    let one = Store::open(&db.config).await.expect("open");
    let two = Store::open(&db.config).await.expect("open");
    let (mut hears_one, mut hears_two) = (one.changes(), two.changes());
    let a = create(&one, library("active")).await;
    let b = create(&two, library("active")).await;
    for feed in [&mut hears_one, &mut hears_two] {
        assert_eq!(next(feed).await.id, a.id());
        assert_eq!(next(feed).await.id, b.id());
    }
}
