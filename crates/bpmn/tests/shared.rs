//! Two engines on one store: each job runs once, work of an engine that died is taken over when
//! its lock expires, and a message reaches an instance once whichever engine delivers it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use dsf_bpmn::clock::ManualClock;
use dsf_bpmn::engine::{Correlation, Engine, EngineConfig};
use dsf_bpmn::error::EngineError;
use dsf_bpmn::exec::{Effect, InstanceState};
use dsf_bpmn::runtime::{DelegateContext, Registry, Runtime};
use dsf_bpmn::store::MemoryStore;
use dsf_bpmn::value::Variables;
use time::Duration;
use time::macros::datetime;

use crate::common::model;

type R = Result<(), Box<dyn std::error::Error>>;
type Counts = Arc<Mutex<HashMap<String, u32>>>;

async fn engine(
    store: &MemoryStore,
    clock: &ManualClock,
    counts: &Counts,
) -> Result<Runtime<MemoryStore>, EngineError> {
    let config = EngineConfig {
        clock: Arc::new(clock.clone()),
        lease: Some(Duration::seconds(30)),
        ..EngineConfig::default()
    };
    let mut registry = Registry::new();
    let counts = counts.clone();
    registry.register("test.Count", move |ctx: &mut DelegateContext<'_>| {
        let key = ctx.business_key().unwrap_or_default().to_owned();
        *counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
        Ok(())
    });
    Ok(Runtime::new(
        Engine::open(store.clone(), config).await?,
        registry,
    ))
}

fn go(bk: &str) -> Correlation {
    Correlation {
        message: "go".into(),
        business_key: Some(bk.into()),
        correlation_key: None,
        variables: Variables::new(),
    }
}

fn total(counts: &Counts) -> u32 {
    counts
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_run_each_job_exactly_once() -> R {
    let store = MemoryStore::new();
    let clock = ManualClock::new(datetime!(2026-11-30 08:00 UTC));
    let counts = Counts::default();
    let mut a = engine(&store, &clock, &counts).await?;
    a.deploy(&model("shared_jobs"), &HashMap::new()).await?;
    let b = engine(&store, &clock, &counts).await?;
    let n = 40;
    for i in 0..n {
        a.engine_mut()
            .start(
                "sharedJobs",
                None,
                Some(format!("bk-{i}")),
                Variables::new(),
            )
            .await?;
    }
    let workers: Vec<_> = [a, b]
        .into_iter()
        .map(|mut rt| {
            let counts = counts.clone();
            tokio::spawn(async move {
                for _ in 0..1000 {
                    match rt.run().await {
                        Ok(_) | Err(EngineError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                    if total(&counts) >= n {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
                Ok::<_, EngineError>(rt)
            })
        })
        .collect();
    let mut engines = Vec::new();
    for w in workers {
        engines.push(w.await??);
    }
    let counts_now = counts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(counts_now.len(), n as usize);
    assert!(counts_now.values().all(|c| *c == 1), "{counts_now:?}");

    // messages correlate through either engine, whichever loaded the instance
    for i in 0..n {
        let rt = &mut engines[(i % 2) as usize];
        rt.engine_mut().correlate(go(&format!("bk-{i}"))).await?;
    }
    let finished = engines[0]
        .engine()
        .instances()
        .await?
        .into_iter()
        .filter(|(_, _, s)| *s == InstanceState::Completed)
        .count();
    assert_eq!(finished, n as usize);
    Ok(())
}

#[tokio::test]
async fn work_of_an_engine_that_died_is_taken_over_when_its_lock_expires() -> R {
    let store = MemoryStore::new();
    let clock = ManualClock::new(datetime!(2026-11-30 08:00 UTC));
    let counts = Counts::default();
    let mut a = engine(&store, &clock, &counts).await?;
    a.deploy(&model("shared_jobs"), &HashMap::new()).await?;
    let mut b = engine(&store, &clock, &counts).await?;
    let id = a
        .engine_mut()
        .start("sharedJobs", None, Some("bk".into()), Variables::new())
        .await?;
    // engine a takes the job and hands out the work, then dies before running it
    a.engine_mut().run_due().await?;
    let handed_out = a.engine_mut().take_effects();
    assert!(matches!(handed_out.as_slice(), [Effect::Work(w)] if w.element == "work"));
    drop(a);

    b.run().await?;
    assert_eq!(total(&counts), 0, "the lock still holds");
    clock.advance(Duration::seconds(30));
    b.run().await?;
    assert_eq!(total(&counts), 1);
    b.engine_mut().correlate(go("bk")).await?;
    let info = b.engine().instance(id).await?.ok_or("instance lost")?;
    assert_eq!(info.state, InstanceState::Completed);
    Ok(())
}

#[tokio::test]
async fn a_message_reaches_an_instance_once_through_either_engine() -> R {
    let store = MemoryStore::new();
    let clock = ManualClock::new(datetime!(2026-11-30 08:00 UTC));
    let counts = Counts::default();
    let mut a = engine(&store, &clock, &counts).await?;
    let mut b = engine(&store, &clock, &counts).await?;
    // b was running before a deployed: it picks the definition up from the store
    a.deploy(&model("shared_jobs"), &HashMap::new()).await?;
    b.engine_mut()
        .start("sharedJobs", None, Some("bk".into()), Variables::new())
        .await?;
    a.run().await?;
    assert_eq!(total(&counts), 1);
    // both engines now know the waiting instance
    assert_eq!(
        b.engine_mut().signal("unrelated", Variables::new()).await?,
        0
    );
    assert_eq!(b.engine().instances_by_business_key("bk").len(), 1);
    a.engine_mut().correlate(go("bk")).await?;
    // b's copy is stale; it reads the store before correlating and finds nothing waiting
    assert!(matches!(
        b.engine_mut().correlate(go("bk")).await,
        Err(EngineError::Correlation { matches: 0, .. })
    ));
    Ok(())
}
