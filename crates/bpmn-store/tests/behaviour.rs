//! The engine on each database: every wait state survives in the store, failed jobs are
//! reported, an engine opened after a restart resumes instances and fires overdue timers once,
//! and the store checks revisions and leases itself.

use std::collections::HashMap;

use dsf_bpmn::error::EngineError;
use dsf_bpmn::exec::{DefinitionId, Effect, HistoryEvent, InstanceState};
use dsf_bpmn::runtime::Runtime;
use dsf_bpmn::store::{CommitError, InstanceRecord, Store};
use dsf_bpmn::value::Variables;
use dsf_bpmn_store::SqlStore;
use dsf_testkit::{Backend, TestDb, both_backends};
use time::Duration;
use time::macros::datetime;
use uuid::Uuid;

use crate::common::{Counts, SUITE, clock, engine, go, open_store, registry, runtime};

async fn start(rt: &mut Runtime<SqlStore>, business_key: &str) -> Uuid {
    rt.engine_mut()
        .start(
            "storeSuite",
            None,
            Some(business_key.into()),
            Variables::new(),
        )
        .await
        .expect("start")
}

async fn state(rt: &Runtime<SqlStore>, id: Uuid) -> (InstanceState, Vec<String>) {
    let info = rt
        .engine()
        .instance(id)
        .await
        .expect("query")
        .expect("instance stored");
    (info.state, info.active_elements)
}

async fn an_instance_waits_for_work_message_timer_and_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (counts, clock) = (Counts::default(), clock());
    let mut rt = runtime(
        open_store(&db).await,
        &clock,
        None,
        registry(&counts, false),
    )
    .await;
    rt.deploy(SUITE, &HashMap::new()).await.expect("deploy");
    let id = start(&mut rt, "bk").await;
    rt.run().await.expect("run");
    assert_eq!(counts.get("test.Count", "bk"), 1);
    assert_eq!(state(&rt, id).await.1, vec!["wait"]);
    rt.engine_mut()
        .correlate(go("bk"))
        .await
        .expect("correlate");
    rt.run().await.expect("run");
    assert_eq!(state(&rt, id).await.1, vec!["later"]);
    clock.advance(Duration::minutes(59));
    rt.run().await.expect("run");
    assert_eq!(
        counts.get("test.Finish", "bk"),
        0,
        "the timer is not due yet"
    );
    clock.advance(Duration::minutes(1));
    rt.run().await.expect("run");
    assert_eq!(counts.get("test.Finish", "bk"), 1);
    let info = rt
        .engine()
        .instance(id)
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(info.state, InstanceState::Completed);
    for element in ["prepare", "wait", "later", "finish", "end"] {
        assert!(
            info.history
                .iter()
                .any(|h| h.element == element && h.event == HistoryEvent::Completed),
            "history lacks {element}: {:?}",
            info.history
        );
    }
    let listed = rt.engine().instances().await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].2, InstanceState::Completed);
}

async fn a_failing_job_is_retried_then_reported_failed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (counts, clock) = (Counts::default(), clock());
    let mut rt = runtime(open_store(&db).await, &clock, None, registry(&counts, true)).await;
    rt.deploy(SUITE, &HashMap::new()).await.expect("deploy");
    let id = start(&mut rt, "bk").await;
    rt.run().await.expect("run");
    rt.engine_mut()
        .correlate(go("bk"))
        .await
        .expect("correlate");
    clock.advance(Duration::hours(1));
    rt.run().await.expect("run");
    clock.advance(Duration::minutes(1));
    rt.run().await.expect("run");
    clock.advance(Duration::minutes(1));
    rt.run().await.expect("run");
    assert_eq!(counts.get("test.Finish", "bk"), 2, "R2: two attempts");
    drop(rt);

    // the failure is in the store: a new engine reports it and retries it on request
    let mut rt = runtime(
        open_store(&db).await,
        &clock,
        None,
        registry(&counts, false),
    )
    .await;
    let info = rt
        .engine()
        .instance(id)
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(info.failed_work.len(), 1);
    assert_eq!(info.failed_work[0].1, "target unreachable");
    assert_eq!(info.incidents.len(), 1);
    assert_eq!(info.incidents[0].element, "finish");
    rt.engine_mut()
        .retry_incident(id, "finish")
        .await
        .expect("retry");
    rt.run().await.expect("run");
    assert_eq!(counts.get("test.Finish", "bk"), 3);
    assert_eq!(state(&rt, id).await.0, InstanceState::Completed);
}

async fn a_new_engine_resumes_instances_and_fires_overdue_timers_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (counts, clock) = (Counts::default(), clock());
    let mut first = Runtime::handing_out(
        engine(open_store(&db).await, &clock, None).await,
        registry(&counts, false),
    );
    first.deploy(SUITE, &HashMap::new()).await.expect("deploy");
    // a: its first work item is handed out, then the engine stops before running it
    let a = start(&mut first, "a").await;
    let handed_out = first.engine_mut().take_effects();
    assert!(matches!(handed_out.as_slice(), [Effect::Work(w)] if w.element == "prepare"));
    // b: waits at its timer when the engine stops
    let b = start(&mut first, "b").await;
    first.run().await.expect("run");
    first
        .engine_mut()
        .correlate(go("b"))
        .await
        .expect("correlate");
    drop(first);

    clock.advance(Duration::hours(3));
    let mut second = runtime(
        open_store(&db).await,
        &clock,
        None,
        registry(&counts, false),
    )
    .await;
    second.run().await.expect("run");
    second.run().await.expect("run again");
    assert_eq!(
        counts.get("test.Count", "a"),
        1,
        "unreported work runs again"
    );
    assert_eq!(
        counts.get("test.Finish", "b"),
        1,
        "the overdue timer fires once"
    );
    assert_eq!(state(&second, a).await.1, vec!["wait"]);
    assert_eq!(state(&second, b).await.0, InstanceState::Completed);
    drop(second);

    let mut third = runtime(
        open_store(&db).await,
        &clock,
        None,
        registry(&counts, false),
    )
    .await;
    third.run().await.expect("run");
    third
        .engine_mut()
        .correlate(go("a"))
        .await
        .expect("correlate");
    clock.advance(Duration::hours(1));
    third.run().await.expect("run");
    assert_eq!(state(&third, a).await.0, InstanceState::Completed);
    let runs = counts.snapshot();
    assert!(runs.values().all(|n| *n == 1), "{runs:?}");
    assert_eq!(runs.len(), 4);
}

async fn suspension_deletion_and_undeployment_persist(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (counts, clock) = (Counts::default(), clock());
    let mut rt = runtime(
        open_store(&db).await,
        &clock,
        None,
        registry(&counts, false),
    )
    .await;
    rt.deploy(SUITE, &HashMap::new()).await.expect("deploy");
    let id = start(&mut rt, "bk").await;
    rt.run().await.expect("run");
    rt.engine_mut().suspend(id).await.expect("suspend");
    drop(rt);

    let mut rt = runtime(
        open_store(&db).await,
        &clock,
        None,
        registry(&counts, false),
    )
    .await;
    assert_eq!(state(&rt, id).await.0, InstanceState::Suspended);
    // a suspended instance receives no messages
    assert!(matches!(
        rt.engine_mut().correlate(go("bk")).await,
        Err(EngineError::Correlation { matches: 0, .. })
    ));
    rt.engine_mut().activate(id).await.expect("activate");
    let definition = DefinitionId {
        key: "storeSuite".into(),
        version: 1,
    };
    assert!(matches!(
        rt.engine_mut().undeploy(&definition).await,
        Err(EngineError::DefinitionInUse { .. })
    ));
    rt.engine_mut()
        .delete(id, "no longer needed")
        .await
        .expect("delete");
    rt.engine_mut()
        .undeploy(&definition)
        .await
        .expect("undeploy");
    drop(rt);

    let rt = runtime(
        open_store(&db).await,
        &clock,
        None,
        registry(&counts, false),
    )
    .await;
    assert!(rt.engine().definitions().is_empty());
    assert_eq!(
        state(&rt, id).await.0,
        InstanceState::Deleted("no longer needed".into())
    );
}

fn record(id: Uuid, revision: u64, due: Option<time::OffsetDateTime>) -> InstanceRecord {
    InstanceRecord {
        id,
        definition: DefinitionId {
            key: "p".into(),
            version: 1,
        },
        business_key: Some("bk".into()),
        state: InstanceState::Active,
        next_due: due,
        revision,
        data: b"{}".to_vec(),
    }
}

async fn commits_check_revisions_and_are_all_or_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = open_store(&db).await;
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    store
        .commit(vec![record(a, 1, None)])
        .await
        .expect("commit");
    // b is new, a's revision is stale: neither is written
    assert!(matches!(
        store.commit(vec![record(b, 1, None), record(a, 1, None)]).await,
        Err(CommitError::Conflict(id)) if id == a
    ));
    assert!(store.load_instance(b).await.expect("load").is_none());
    assert!(matches!(
        store.commit(vec![record(a, 3, None)]).await,
        Err(CommitError::Conflict(_))
    ));
    store
        .commit(vec![record(a, 2, None), record(b, 1, None)])
        .await
        .expect("commit");
    let stored = store.load_instance(a).await.expect("load").expect("stored");
    assert_eq!(stored, record(a, 2, None));
    assert_eq!(
        store.find_by_business_key("bk").await.expect("find").len(),
        2
    );
}

async fn due_instances_are_leased_until_the_lease_ends(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = open_store(&db).await;
    let now = datetime!(2026-11-30 08:00 UTC);
    let (id, later) = (Uuid::new_v4(), Uuid::new_v4());
    let due = Some(now + Duration::nanoseconds(1));
    store
        .commit(vec![
            record(id, 1, due),
            record(later, 1, Some(now + Duration::hours(1))),
        ])
        .await
        .expect("commit");
    let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
    let until = now + Duration::seconds(30);
    let acquire = async |owner: Uuid, at: time::OffsetDateTime| -> Vec<Uuid> {
        let records = store.acquire_due(owner, at, until, 10).await;
        records
            .expect("acquire")
            .into_iter()
            .map(|r| r.id)
            .collect()
    };
    assert!(
        acquire(one, now).await.is_empty(),
        "due one nanosecond later"
    );
    let now = now + Duration::nanoseconds(1);
    assert_eq!(acquire(one, now).await, vec![id]);
    assert!(acquire(two, now).await.is_empty(), "leased to one");
    assert_eq!(acquire(one, now).await, vec![id], "the holder may renew");
    assert_eq!(acquire(two, until).await, vec![id], "taken over on expiry");
    // a commit ends the lease
    store
        .commit(vec![record(id, 2, due)])
        .await
        .expect("commit");
    assert_eq!(acquire(one, now).await, vec![id]);
}

both_backends!(
    an_instance_waits_for_work_message_timer_and_job,
    a_failing_job_is_retried_then_reported_failed,
    a_new_engine_resumes_instances_and_fires_overdue_timers_once,
    suspension_deletion_and_undeployment_persist,
    commits_check_revisions_and_are_all_or_nothing,
    due_instances_are_leased_until_the_lease_ends,
);
