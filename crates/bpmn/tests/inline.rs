//! A runtime's classes run inside the command that reaches them: the engine commits once per
//! command, when every token waits, unless engines share the store.

use std::collections::HashMap;
use std::sync::Arc;

use dsf_bpmn::clock::ManualClock;
use dsf_bpmn::engine::{Correlation, Engine, EngineConfig};
use dsf_bpmn::exec::{Effect, InstanceState};
use dsf_bpmn::runtime::{DelegateContext, Registry, Runtime};
use dsf_bpmn::store::MemoryStore;
use dsf_bpmn::value::Variables;
use time::macros::datetime;

use crate::common::{Log, model};

type R = Result<(), Box<dyn std::error::Error>>;

async fn runtime(
    store: &MemoryStore,
    lease: Option<time::Duration>,
    log: &Log,
) -> Runtime<MemoryStore> {
    let config = EngineConfig {
        clock: Arc::new(ManualClock::new(datetime!(2026-11-30 08:00 UTC))),
        lease,
        ..EngineConfig::default()
    };
    let engine = Engine::open(store.clone(), config)
        .await
        .unwrap_or_else(|e| panic!("engine: {e}"));
    let mut registry = Registry::new();
    let l = log.clone();
    registry.register("test.Record", move |ctx: &mut DelegateContext<'_>| {
        l.push(ctx.work().element.clone());
        Ok(())
    });
    Runtime::new(engine, registry)
}

fn go() -> Correlation {
    Correlation {
        message: "go".into(),
        business_key: Some("bk".into()),
        correlation_key: None,
        variables: Variables::new(),
    }
}

#[tokio::test]
async fn classes_run_in_the_command_that_reaches_them_which_commits_once() -> R {
    let (store, log) = (MemoryStore::new(), Log::default());
    let mut rt = runtime(&store, None, &log).await;
    rt.deploy(&model("inline"), &HashMap::new()).await?;
    let id = rt
        .engine_mut()
        .start("inline", None, Some("bk".into()), Variables::new())
        .await?;
    assert_eq!(log.entries(), vec!["before"]);
    assert_eq!(store.commits(), 1, "start and the first class: one commit");
    assert!(rt.engine().pending_work().is_empty());
    let info = rt.engine().instance(id).await?.ok_or("instance lost")?;
    assert_eq!(info.active_elements, vec!["wait"]);

    rt.engine_mut().correlate(go()).await?;
    assert_eq!(log.entries(), vec!["before", "after"]);
    assert_eq!(store.commits(), 2);
    let ended = rt.engine_mut().take_effects();
    assert!(ended.iter().any(|e| matches!(e,
        Effect::InstanceEnded { instance, state: InstanceState::Completed } if *instance == id)));
    Ok(())
}

#[tokio::test]
async fn engines_sharing_a_store_hand_class_calls_out() -> R {
    let (store, log) = (MemoryStore::new(), Log::default());
    let mut rt = runtime(&store, Some(time::Duration::seconds(30)), &log).await;
    rt.deploy(&model("inline"), &HashMap::new()).await?;
    rt.engine_mut()
        .start("inline", None, Some("bk".into()), Variables::new())
        .await?;
    assert!(log.entries().is_empty(), "nothing runs before the commit");
    assert_eq!(store.commits(), 1);
    rt.run().await?;
    assert_eq!(log.entries(), vec!["before"]);
    assert_eq!(
        store.commits(),
        2,
        "the class's result is a commit of its own"
    );
    Ok(())
}
