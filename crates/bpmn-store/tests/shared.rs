//! Two engines on one PostgreSQL database, each with its own connection pool as two processes
//! would have: every job runs exactly once, and the work of an engine that died is taken over
//! when its lease expires.

use std::collections::HashMap;

use dsf_bpmn::error::EngineError;
use dsf_bpmn::exec::{Effect, InstanceState};
use dsf_bpmn::runtime::Runtime;
use dsf_bpmn::value::Variables;
use dsf_bpmn_store::SqlStore;
use dsf_testkit::{Backend, TestDb};
use time::Duration;

use crate::common::{Counts, SUITE, clock, go, open_store, registry, runtime};

const LEASE: Option<Duration> = Some(Duration::seconds(30));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_on_one_database_run_each_job_exactly_once() {
    let db = TestDb::new(Backend::Postgres).await;
    let (counts, clock) = (Counts::default(), clock());
    let mut a = runtime(
        open_store(&db).await,
        &clock,
        LEASE,
        registry(&counts, false),
    )
    .await;
    let b = runtime(
        open_store(&db).await,
        &clock,
        LEASE,
        registry(&counts, false),
    )
    .await;
    a.deploy(SUITE, &HashMap::new()).await.expect("deploy");
    let n = 40;
    for i in 0..n {
        a.engine_mut()
            .start(
                "storeSuite",
                None,
                Some(format!("bk-{i}")),
                Variables::new(),
            )
            .await
            .expect("start");
    }
    a.run().await.expect("run");
    for i in 0..n {
        a.engine_mut()
            .correlate(go(&format!("bk-{i}")))
            .await
            .expect("correlate");
    }
    // every timer falls due at once; both engines race for the timers and the jobs after them
    clock.advance(Duration::hours(1));
    let workers: Vec<_> = [a, b]
        .into_iter()
        .map(|mut rt| {
            let counts = counts.clone();
            tokio::spawn(async move {
                for _ in 0..2000 {
                    match rt.run().await {
                        Ok(_) | Err(EngineError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                    let finished = counts
                        .snapshot()
                        .keys()
                        .filter(|k| k.starts_with("test.Finish"))
                        .count();
                    if finished >= n {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Ok::<Runtime<SqlStore>, EngineError>(rt)
            })
        })
        .collect();
    let mut engines = Vec::new();
    for w in workers {
        engines.push(w.await.expect("worker").expect("engine"));
    }
    for i in 0..n {
        assert_eq!(counts.get("test.Finish", &format!("bk-{i}")), 1, "bk-{i}");
        assert_eq!(counts.get("test.Count", &format!("bk-{i}")), 1, "bk-{i}");
    }
    let completed = engines[1]
        .engine()
        .instances()
        .await
        .expect("list")
        .into_iter()
        .filter(|(_, _, s)| *s == InstanceState::Completed)
        .count();
    assert_eq!(completed, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_work_of_a_dead_engine_is_taken_over_when_its_lease_expires() {
    let db = TestDb::new(Backend::Postgres).await;
    let (counts, clock) = (Counts::default(), clock());
    let mut a = runtime(
        open_store(&db).await,
        &clock,
        LEASE,
        registry(&counts, false),
    )
    .await;
    a.deploy(SUITE, &HashMap::new()).await.expect("deploy");
    let mut b = runtime(
        open_store(&db).await,
        &clock,
        LEASE,
        registry(&counts, false),
    )
    .await;
    let id = a
        .engine_mut()
        .start("storeSuite", None, Some("bk".into()), Variables::new())
        .await
        .expect("start");
    a.run().await.expect("run");
    a.engine_mut().correlate(go("bk")).await.expect("correlate");
    clock.advance(Duration::hours(1));
    // engine a fires the timer and takes the job, hands out its work, then dies
    a.engine_mut().run_due().await.expect("run due");
    let handed_out = a.engine_mut().take_effects();
    assert!(matches!(handed_out.as_slice(), [Effect::Work(w)] if w.element == "finish"));
    drop(a);

    b.run().await.expect("run");
    assert_eq!(counts.get("test.Finish", "bk"), 0, "the lease still holds");
    clock.advance(Duration::seconds(30));
    b.run().await.expect("run");
    assert_eq!(counts.get("test.Finish", "bk"), 1);
    let info = b
        .engine()
        .instance(id)
        .await
        .expect("query")
        .expect("stored");
    assert_eq!(info.state, InstanceState::Completed);
}
