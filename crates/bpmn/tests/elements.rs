//! One focused model per element kind or extension (`tests/models/<name>.bpmn`).

use std::collections::HashMap;

use dsf_bpmn::deploy::{DeployOptions, check};
use dsf_bpmn::engine::Correlation;
use dsf_bpmn::error::{EngineError, ProblemKind};
use dsf_bpmn::exec::{HistoryEvent, InstanceState, WorkKind, WorkResult};
use dsf_bpmn::runtime::{DelegateContext, DelegateError, Registry, Runtime};
use dsf_bpmn::store::MemoryStore;
use dsf_bpmn::value::{Value, Variables};
use serde_json::json;
use time::Duration;
use time::macros::datetime;
use uuid::Uuid;

use crate::common::{Log, handing_out, model, runtime};

type R = Result<(), Box<dyn std::error::Error>>;

/// A registry where `test.Record` logs the element id it runs for.
fn recording(log: &Log) -> Registry {
    let mut r = Registry::new();
    let l = log.clone();
    r.register("test.Record", move |ctx: &mut DelegateContext<'_>| {
        l.push(ctx.work().element.clone());
        Ok(())
    });
    r
}

fn vars(pairs: &[(&str, Value)]) -> Variables {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

async fn info(rt: &Runtime<MemoryStore>, id: Uuid) -> dsf_bpmn::engine::InstanceInfo {
    rt.engine()
        .instance(id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("instance {id} not found"))
}

fn message(name: &str, business_key: &str, variables: Variables) -> Correlation {
    Correlation {
        message: name.into(),
        business_key: Some(business_key.into()),
        correlation_key: None,
        variables,
    }
}

#[tokio::test]
async fn exclusive_parallel_and_inclusive_gateways() -> R {
    let log = Log::default();
    let (mut rt, _) = runtime(recording(&log)).await;
    rt.deploy(&model("gateways"), &HashMap::new()).await?;
    let start = async |rt: &mut Runtime<MemoryStore>, bk: &str, amount: i64, x: bool, y: bool| {
        rt.engine_mut()
            .start(
                "gateways",
                Some("1"),
                Some(bk.into()),
                vars(&[
                    ("amount", Value::Integer(amount)),
                    ("wantX", Value::Bool(x)),
                    ("wantY", Value::Bool(y)),
                ]),
            )
            .await
    };
    let first = start(&mut rt, "one", 500, true, true).await?;
    rt.run().await?;
    // the parallel join waits for the receive task
    assert_eq!(log.entries(), vec!["high", "a"]);
    assert_eq!(info(&rt, first).await.active_elements, vec!["b", "join"]);
    rt.engine_mut()
        .correlate(message("go", "one", Variables::new()))
        .await?;
    rt.run().await?;
    let mut tail = log.entries().split_off(2);
    tail.sort();
    assert_eq!(tail, vec!["x", "y"]);
    assert_eq!(info(&rt, first).await.state, InstanceState::Completed);
    let joined = info(&rt, first)
        .await
        .history
        .iter()
        .filter(|h| h.element == "orJoin" && h.event == HistoryEvent::Completed)
        .count();
    assert_eq!(joined, 1, "the inclusive join fires once for both branches");

    let log_len = log.entries().len();
    let second = start(&mut rt, "two", 5, false, false).await?;
    rt.run().await?;
    rt.engine_mut()
        .correlate(message("go", "two", Variables::new()))
        .await?;
    rt.run().await?;
    assert_eq!(log.entries().split_off(log_len), vec!["low", "a", "z"]);
    assert_eq!(info(&rt, second).await.state, InstanceState::Completed);
    Ok(())
}

#[tokio::test]
async fn boundary_events_interrupting_and_not() -> R {
    let log = Log::default();
    let (mut rt, clock) = runtime(recording(&log)).await;
    rt.deploy(&model("boundary_events"), &HashMap::new())
        .await?;
    let start = async |rt: &mut Runtime<MemoryStore>, bk: &str| {
        rt.engine_mut()
            .start(
                "boundaries",
                None,
                Some(bk.into()),
                vars(&[("deadline", "PT3H".into())]),
            )
            .await
    };
    let timed_out = start(&mut rt, "a").await?;
    rt.run().await?;
    rt.engine_mut()
        .correlate(message("note", "a", Variables::new()))
        .await?;
    rt.engine_mut()
        .correlate(message("note", "a", Variables::new()))
        .await?;
    rt.run().await?;
    for _ in 0..3 {
        clock.advance(Duration::hours(1));
        rt.run().await?;
    }
    // two reminders (R2), two notes (the message boundary stays), then the deadline interrupts
    assert_eq!(
        log.entries(),
        vec!["logNote", "logNote", "remind", "remind", "escalate"]
    );
    let i = info(&rt, timed_out).await;
    assert_eq!(i.state, InstanceState::Completed);
    assert!(
        i.history
            .iter()
            .any(|h| h.element == "approve" && h.event == HistoryEvent::Cancelled)
    );
    assert!(rt.engine().user_tasks().is_empty());

    let signalled = start(&mut rt, "b").await?;
    let approved = start(&mut rt, "c").await?;
    rt.run().await?;
    let task = rt
        .engine()
        .user_tasks()
        .into_iter()
        .find(|t| t.id.instance == approved)
        .ok_or("no user task")?;
    assert_eq!(task.form_key.as_deref(), Some("form:approve"));
    rt.engine_mut()
        .complete_user_task(task.id, Variables::new())
        .await?;
    assert_eq!(
        rt.engine_mut()
            .signal("cancel-all", Variables::new())
            .await?,
        1
    );
    rt.run().await?;
    assert!(
        info(&rt, signalled)
            .await
            .history
            .iter()
            .any(|h| h.element == "cancelEnd")
    );
    assert!(
        info(&rt, approved)
            .await
            .history
            .iter()
            .any(|h| h.element == "done")
    );
    assert_eq!(info(&rt, signalled).await.state, InstanceState::Completed);
    Ok(())
}

fn error_registry(log: &Log) -> Registry {
    let mut r = recording(log);
    r.register("test.MaybeFail", |ctx: &mut DelegateContext<'_>| match ctx
        .variable("mode")
        .and_then(Value::as_str)
    {
        Some("not-allowed") => Err(DelegateError::Bpmn {
            code: "not-allowed".into(),
            message: Some("target refused".into()),
        }),
        Some("other-error") => Err(DelegateError::Bpmn {
            code: "other".into(),
            message: None,
        }),
        _ => Ok(()),
    });
    r
}

#[tokio::test]
async fn bpmn_errors_reach_the_nearest_catching_boundary_or_event_sub_process() -> R {
    let log = Log::default();
    let (mut rt, _) = runtime(error_registry(&log)).await;
    rt.deploy(&model("errors"), &HashMap::new()).await?;
    let mut run = async |mode: &str| -> Result<Uuid, EngineError> {
        let id = rt
            .engine_mut()
            .start("errors", None, None, vars(&[("mode", mode.into())]))
            .await?;
        rt.run().await?;
        Ok(id)
    };
    let refused = run("not-allowed").await?;
    let sub = run("sub-error").await?;
    let other = run("other-error").await?;
    let fine = run("fine").await?;
    assert_eq!(log.entries(), vec!["handled", "cleanup"]);
    let v = info(&rt, refused).await.variables;
    assert_eq!(v.get("code"), Some(&Value::from("not-allowed")));
    assert_eq!(v.get("reason"), Some(&Value::from("target refused")));
    let s = info(&rt, sub).await;
    assert_eq!(s.variables.get("subCode"), Some(&Value::from("sub-failed")));
    assert!(s.history.iter().any(|h| h.element == "subCaught"));
    assert!(!s.history.iter().any(|h| h.element == "subEnd"));
    let o = info(&rt, other).await;
    assert_eq!(o.variables.get("anyCode"), Some(&Value::from("other")));
    assert!(o.history.iter().any(|h| h.element == "errorEnd"));
    for id in [refused, sub, other, fine] {
        assert_eq!(info(&rt, id).await.state, InstanceState::Completed);
    }
    assert!(
        info(&rt, fine)
            .await
            .history
            .iter()
            .any(|h| h.element == "subEnd")
    );
    Ok(())
}

#[tokio::test]
async fn event_sub_processes_interrupting_and_not() -> R {
    let log = Log::default();
    let (mut rt, clock) = runtime(recording(&log)).await;
    rt.deploy(&model("event_subprocesses"), &HashMap::new())
        .await?;
    let id = rt
        .engine_mut()
        .start("eventSubs", None, Some("bk".into()), Variables::new())
        .await?;
    rt.run().await?;
    clock.advance(Duration::minutes(10));
    rt.run().await?;
    assert_eq!(log.entries(), vec!["report"]);
    assert_eq!(info(&rt, id).await.active_elements, vec!["wait"]);
    rt.engine_mut()
        .correlate(message("abort", "bk", vars(&[("why", "operator".into())])))
        .await?;
    rt.run().await?;
    assert_eq!(log.entries(), vec!["report", "cleanup"]);
    let i = info(&rt, id).await;
    assert_eq!(i.state, InstanceState::Completed);
    assert_eq!(i.variables.get("why"), Some(&Value::from("operator")));
    assert!(
        i.history
            .iter()
            .any(|h| h.element == "wait" && h.event == HistoryEvent::Cancelled)
    );
    // the receive task is gone with the interrupted scope
    let late = rt
        .engine_mut()
        .correlate(message("finish", "bk", Variables::new()))
        .await;
    assert!(matches!(
        late,
        Err(EngineError::Correlation { matches: 0, .. })
    ));
    Ok(())
}

#[tokio::test]
async fn multi_instance_sequential_with_completion_condition_and_parallel_by_cardinality() -> R {
    let log = Log::default();
    let mut registry = Registry::new();
    let l = log.clone();
    registry.register("test.Record", move |ctx: &mut DelegateContext<'_>| {
        let item = ctx
            .variable("item")
            .map(Value::to_string)
            .unwrap_or_default();
        let counter = ctx
            .variable("loopCounter")
            .map(Value::to_string)
            .unwrap_or_default();
        l.push(format!("{} {item} {counter}", ctx.work().element));
        if item == "c" {
            ctx.set_variable("found", true);
        }
        Ok(())
    });
    let (mut rt, _) = handing_out(registry).await;
    rt.deploy(&model("multi_instance"), &HashMap::new()).await?;
    let id = rt
        .engine_mut()
        .start(
            "multiInstance",
            None,
            None,
            vars(&[
                ("items", Value::Json(json!(["a", "b", "c", "d"]))),
                ("found", false.into()),
                ("count", Value::Integer(3)),
            ]),
        )
        .await?;
    // sequential: one instance at a time
    let pending: Vec<String> = rt
        .engine()
        .pending_work()
        .into_iter()
        .map(|w| w.element)
        .collect();
    assert_eq!(pending, vec!["each"]);
    rt.run().await?;
    // the completion condition stops after "c"; the parallel instances ran as async jobs
    assert_eq!(
        log.entries(),
        vec![
            "each a 0", "each b 1", "each c 2", "times  0", "times  1", "times  2"
        ]
    );
    assert_eq!(info(&rt, id).await.state, InstanceState::Completed);
    Ok(())
}

#[tokio::test]
async fn camunda_extensions_fields_io_listeners_async_and_retries() -> R {
    let log = Log::default();
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(3));
    let mut registry = Registry::new();
    let l = log.clone();
    registry.register("test.Listener", move |ctx: &mut DelegateContext<'_>| {
        let tag = ctx.field("tag").map(Value::to_string).unwrap_or_default();
        l.push(format!("listener {} {tag}", ctx.work().element));
        Ok(())
    });
    let l = log.clone();
    let f = failures.clone();
    registry.register("test.Fields", move |ctx: &mut DelegateContext<'_>| {
        if f.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            f.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            return Err(DelegateError::Failed("endpoint unreachable".into()));
        }
        l.push(format!(
            "call url={} computed={} greeting={}",
            ctx.field("url").map(Value::to_string).unwrap_or_default(),
            ctx.field("computed")
                .map(Value::to_string)
                .unwrap_or_default(),
            ctx.variable("greeting")
                .map(Value::to_string)
                .unwrap_or_default(),
        ));
        Ok(())
    });
    let (mut rt, clock) = handing_out(registry).await;
    let props = HashMap::from([("version".to_owned(), "2.1".to_owned())]);
    let deployed = rt.deploy(&model("camunda_extensions"), &props).await?;
    assert_eq!(deployed[0].version_tag.as_deref(), Some("2.1"));
    let id = rt
        .engine_mut()
        .start(
            "extensions",
            Some("2.1"),
            None,
            vars(&[("name", "dsf".into()), ("base", Value::Integer(21))]),
        )
        .await?;
    // the start event's end listener is handed out first
    let work = rt.engine().pending_work();
    assert_eq!(work.len(), 1);
    assert_eq!(work[0].kind, WorkKind::ExecutionListener("end".into()));
    rt.engine_mut()
        .complete_work(work[0].id, WorkResult::completed())
        .await?;
    // asyncBefore: the service task waits as a job, due now, with nothing handed out yet
    assert_eq!(info(&rt, id).await.active_elements, vec!["call"]);
    assert!(rt.engine().pending_work().is_empty());
    assert_eq!(rt.engine().next_due(), Some(rt.engine().now()));
    rt.run().await?;
    // three attempts (R3), the last failure is an incident
    clock.advance(Duration::seconds(5));
    rt.run().await?;
    clock.advance(Duration::seconds(5));
    rt.run().await?;
    let i = info(&rt, id).await;
    assert_eq!(i.incidents.len(), 1);
    assert_eq!(i.incidents[0].message, "endpoint unreachable");
    assert_eq!(i.failed_work.len(), 1);
    assert_eq!(failures.load(std::sync::atomic::Ordering::SeqCst), 0);
    assert_eq!(rt.engine_mut().retry_incident(id, "call").await?, 1);
    rt.run().await?;
    assert_eq!(
        log.entries(),
        vec![
            "listener call listener-start",
            "call url=http://example.org/2.1 computed=42 greeting=hello dsf",
        ]
    );
    let i = info(&rt, id).await;
    assert_eq!(i.state, InstanceState::Completed);
    assert_eq!(i.variables.get("result"), Some(&Value::from("hello dsf!")));
    assert!(
        !i.variables.contains_key("greeting"),
        "input parameters stay local"
    );
    assert!(i.incidents.is_empty());
    Ok(())
}

#[tokio::test]
async fn intermediate_events_send_task_signal_and_terminate() -> R {
    let log = Log::default();
    let (mut rt, clock) = runtime(recording(&log)).await;
    rt.deploy(&model("events"), &HashMap::new()).await?;
    let listener = rt
        .engine_mut()
        .start("listener", None, None, Variables::new())
        .await?;
    let id = rt
        .engine_mut()
        .start_by_message(
            "start",
            "events",
            None,
            Some("bk".into()),
            vars(&[
                ("when", "2026-11-30T09:30:00Z".into()),
                ("ready", false.into()),
            ]),
        )
        .await?;
    rt.run().await?;
    assert_eq!(log.entries(), vec!["throwMsg"]);
    clock.set(datetime!(2026-11-30 09:29:59 UTC));
    rt.run().await?;
    assert_eq!(info(&rt, id).await.active_elements, vec!["at"]);
    clock.set(datetime!(2026-11-30 09:30 UTC));
    rt.run().await?;
    assert_eq!(
        info(&rt, id).await.active_elements,
        vec!["setReady", "whenReady"]
    );
    rt.engine_mut()
        .correlate(message("ready", "bk", vars(&[("ready", true.into())])))
        .await?;
    rt.run().await?;
    assert_eq!(log.entries(), vec!["throwMsg", "send"]);
    let i = info(&rt, id).await;
    assert_eq!(i.state, InstanceState::Completed);
    assert!(
        i.history
            .iter()
            .any(|h| h.element == "never" && h.event == HistoryEvent::Cancelled)
    );
    assert_eq!(info(&rt, listener).await.state, InstanceState::Completed);
    let started: Vec<_> = rt
        .engine()
        .instances()
        .await?
        .into_iter()
        .filter(|(_, d, s)| d.key == "signalStarted" && *s == InstanceState::Completed)
        .collect();
    assert_eq!(
        started.len(),
        1,
        "the signal start event started one instance"
    );
    Ok(())
}

#[tokio::test]
async fn deployment_reports_every_problem_with_element_ids() {
    let options = DeployOptions {
        known_classes: ["test.Record".to_owned()].into(),
        ..DeployOptions::default()
    };
    let report = check(&model("invalid"), &options);
    assert!(!report.is_deployable());
    let mut found: Vec<(String, String)> = report
        .errors
        .iter()
        .map(|p| {
            let kind = match &p.kind {
                ProblemKind::Dangling { what, .. } => format!("dangling {what}"),
                ProblemKind::UnknownClass(c) => format!("class {c}"),
                ProblemKind::Expression { .. } => "expression".into(),
                ProblemKind::Unsupported(what) => format!("unsupported {what}"),
                other => other.to_string(),
            };
            (p.element.clone().unwrap_or_default(), kind)
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        vec![
            ("badCondition".into(), "expression".into()),
            ("dangling".into(), "dangling flow node".into()),
            (
                "listened".into(),
                "unsupported taskListener for event 'complete'".into()
            ),
            ("missingMessage".into(), "dangling message".into()),
            ("script".into(), "unsupported scriptTask".into()),
        ]
    );
    // unknown classes are reported once the model parses
    let xml = model("gateways");
    let strict = check(&xml, &DeployOptions::default());
    assert!(
        strict
            .errors
            .iter()
            .all(|p| p.kind == ProblemKind::UnknownClass("test.Record".into()))
    );
    assert_eq!(strict.errors.len(), 6);
    let lenient = check(
        &xml,
        &DeployOptions {
            allow_unknown_classes: true,
            ..DeployOptions::default()
        },
    );
    assert!(lenient.is_deployable());
    assert_eq!(lenient.warnings.len(), 6);
    let printed = lenient.to_string();
    assert_eq!(
        printed.lines().next(),
        Some(
            "process gateways (version tag 1): 1 endEvent, 2 exclusiveGateway, \
             2 inclusiveGateway, 2 parallelGateway, 1 receiveTask, 6 serviceTask, 1 startEvent"
        )
    );
    assert!(printed.contains("warning: gateways/high: unknown camunda:class 'test.Record'"));
    // a placeholder without a value
    let unfilled = check(&model("camunda_extensions"), &options);
    assert!(
        unfilled
            .errors
            .iter()
            .any(|p| p.kind == ProblemKind::Placeholder("version".into()))
    );
}

#[tokio::test]
async fn versions_live_side_by_side() -> R {
    let log = Log::default();
    let mut registry = recording(&log);
    registry.register("test.Listener", |_: &mut DelegateContext<'_>| Ok(()));
    registry.register("test.Fields", |_: &mut DelegateContext<'_>| Ok(()));
    let (mut rt, _) = runtime(registry).await;
    let xml = model("camunda_extensions");
    let v1 = rt
        .deploy(
            &xml,
            &HashMap::from([("version".to_owned(), "1.0".to_owned())]),
        )
        .await?;
    let again = rt
        .deploy(
            &xml,
            &HashMap::from([("version".to_owned(), "1.0".to_owned())]),
        )
        .await?;
    let v2 = rt
        .deploy(
            &xml,
            &HashMap::from([("version".to_owned(), "2.0".to_owned())]),
        )
        .await?;
    assert_eq!(v1, again, "redeploying the same content keeps the version");
    assert_eq!((v1[0].id.version, v2[0].id.version), (1, 2));
    let old = rt
        .engine_mut()
        .start(
            "extensions",
            Some("1.0"),
            None,
            vars(&[("name", "x".into()), ("base", Value::Integer(1))]),
        )
        .await?;
    let new = rt
        .engine_mut()
        .start(
            "extensions",
            None,
            None,
            vars(&[("name", "x".into()), ("base", Value::Integer(1))]),
        )
        .await?;
    assert_eq!(info(&rt, old).await.definition.version, 1);
    assert_eq!(info(&rt, new).await.definition.version, 2);
    assert!(matches!(
        rt.engine_mut().undeploy(&v1[0].id).await,
        Err(EngineError::DefinitionInUse { running: 1, .. })
    ));
    rt.run().await?;
    rt.engine_mut().undeploy(&v1[0].id).await?;
    assert_eq!(rt.engine().definitions().len(), 1);
    Ok(())
}

#[tokio::test]
async fn suspend_activate_and_delete() -> R {
    let log = Log::default();
    let (mut rt, _) = runtime(recording(&log)).await;
    rt.deploy(&model("event_subprocesses"), &HashMap::new())
        .await?;
    let id = rt
        .engine_mut()
        .start("eventSubs", None, Some("bk".into()), Variables::new())
        .await?;
    rt.engine_mut().suspend(id).await?;
    assert!(matches!(
        rt.engine_mut()
            .correlate(message("finish", "bk", Variables::new()))
            .await,
        Err(EngineError::Correlation { matches: 0, .. })
    ));
    rt.engine_mut().activate(id).await?;
    assert!(matches!(
        rt.engine_mut().activate(id).await,
        Err(EngineError::InvalidState {
            state: InstanceState::Active,
            ..
        })
    ));
    let other = rt
        .engine_mut()
        .start("eventSubs", None, Some("bk2".into()), Variables::new())
        .await?;
    rt.engine_mut().delete(other, "no longer needed").await?;
    assert_eq!(
        info(&rt, other).await.state,
        InstanceState::Deleted("no longer needed".into())
    );
    rt.engine_mut()
        .correlate(message("finish", "bk", Variables::new()))
        .await?;
    assert_eq!(info(&rt, id).await.state, InstanceState::Completed);
    assert_eq!(rt.engine().instances().await?.len(), 2);
    Ok(())
}

#[tokio::test]
async fn process_timer_start_events_start_instances_on_their_cycle() -> R {
    let log = Log::default();
    let (mut rt, clock) = runtime(recording(&log)).await;
    let xml = model("timer_start");
    // a process timer cannot read variables: that process is rejected, so is the file
    let rejected = rt.deploy(&xml, &HashMap::new()).await;
    assert!(matches!(
        rejected,
        Err(EngineError::Deploy(ref e)) if e.problems.len() == 1
            && e.problems[0].element.as_deref() == Some("whenever")
    ));
    assert!(rt.engine().definitions().is_empty(), "nothing half-deploys");
    let (valid, _) = xml.split_at(
        xml.find("<bpmn:process id=\"timerStartFromVariable\"")
            .ok_or("model")?,
    );
    rt.deploy(&format!("{valid}</bpmn:definitions>"), &HashMap::new())
        .await?;
    assert_eq!(
        rt.engine().next_due(),
        Some(rt.engine().now() + Duration::hours(1))
    );
    rt.run().await?;
    assert!(log.entries().is_empty());
    for _ in 0..3 {
        clock.advance(Duration::hours(1));
        rt.run().await?;
    }
    assert_eq!(log.entries(), vec!["tick", "tick"]);
    assert_eq!(rt.engine().instances().await?.len(), 2);
    assert_eq!(rt.engine().next_due(), None);
    Ok(())
}

fn more_events_registry(log: &Log) -> Registry {
    let mut r = recording(log);
    let l = log.clone();
    r.register("test.Contact", move |ctx: &mut DelegateContext<'_>| {
        let site = ctx
            .variable("site")
            .map(Value::to_string)
            .unwrap_or_default();
        l.push(format!("contact {site}"));
        if site == "down" {
            return Err(DelegateError::Bpmn {
                code: "unreachable".into(),
                message: None,
            });
        }
        Ok(())
    });
    r
}

#[tokio::test]
async fn event_gateway_receive_task_event_sub_process_and_multi_instance_error() -> R {
    let log = Log::default();
    let (mut rt, clock) = runtime(more_events_registry(&log)).await;
    rt.deploy(&model("more_events"), &HashMap::new()).await?;
    let start = async |rt: &mut Runtime<MemoryStore>, bk: &str, sites: serde_json::Value| {
        rt.engine_mut()
            .start(
                "moreEvents",
                None,
                Some(bk.into()),
                vars(&[("sites", Value::Json(sites)), ("priority", "low".into())]),
            )
            .await
    };
    // answered: the receive task wins the race
    let answered = start(&mut rt, "a", json!(["up1", "up2"])).await?;
    rt.run().await?;
    rt.engine_mut()
        .correlate(message("answer", "a", Variables::new()))
        .await?;
    rt.run().await?;
    assert_eq!(info(&rt, answered).await.active_elements, vec!["review"]);
    // a status request runs beside the main flow without interrupting it
    rt.engine_mut()
        .correlate(message("status", "a", Variables::new()))
        .await?;
    rt.engine_mut()
        .correlate(message("status", "a", Variables::new()))
        .await?;
    rt.run().await?;
    assert_eq!(log.entries(), vec!["report", "report"]);
    // the race is over: the receive task no longer waits
    assert!(matches!(
        rt.engine_mut()
            .correlate(message("answer", "a", Variables::new()))
            .await,
        Err(EngineError::Correlation { matches: 0, .. })
    ));
    // variables set on completion do not trigger the task's conditional boundary event
    let task = rt
        .engine()
        .user_tasks()
        .first()
        .map(|t| t.id)
        .ok_or("no task")?;
    rt.engine_mut()
        .complete_user_task(task, vars(&[("priority", "high".into())]))
        .await?;
    rt.run().await?;
    let mut contacted = log.matching("contact");
    contacted.sort();
    assert_eq!(contacted, vec!["contact up1", "contact up2"]);
    assert_eq!(info(&rt, answered).await.state, InstanceState::Completed);
    assert!(
        log.matching("alert").is_empty(),
        "the task completed before the condition"
    );

    // timed out: the timer wins; a failing site ends the multi-instance through its boundary
    let timed_out = start(&mut rt, "b", json!(["down", "up3"])).await?;
    rt.run().await?;
    clock.advance(Duration::minutes(5));
    rt.run().await?;
    assert!(
        info(&rt, timed_out)
            .await
            .history
            .iter()
            .any(|h| h.element == "timeout" && h.event == HistoryEvent::Completed)
    );
    assert!(
        rt.engine_mut()
            .correlate(message("answer", "b", Variables::new()))
            .await
            .is_err(),
        "the receive task's subscription went with the race"
    );
    let task = rt
        .engine()
        .user_tasks()
        .into_iter()
        .find(|t| t.id.instance == timed_out)
        .ok_or("no task")?;
    rt.engine_mut()
        .complete_user_task(task.id, Variables::new())
        .await?;
    rt.run().await?;
    let i = info(&rt, timed_out).await;
    assert_eq!(
        i.variables.get("failure"),
        Some(&Value::from("unreachable"))
    );
    assert!(i.history.iter().any(|h| h.element == "failedEnd"));
    assert_eq!(i.state, InstanceState::Completed);
    Ok(())
}

#[tokio::test]
async fn conditional_boundary_event_fires_when_variables_make_it_true() -> R {
    let log = Log::default();
    let (mut rt, _) = runtime(more_events_registry(&log)).await;
    rt.deploy(&model("more_events"), &HashMap::new()).await?;
    let id = rt
        .engine_mut()
        .start(
            "moreEvents",
            None,
            Some("c".into()),
            vars(&[
                ("sites", Value::Json(json!([]))),
                ("priority", "low".into()),
            ]),
        )
        .await?;
    rt.run().await?;
    rt.engine_mut()
        .correlate(message("answer", "c", vars(&[("priority", "high".into())])))
        .await?;
    rt.run().await?;
    // the condition already holds when the user task starts waiting
    assert_eq!(log.entries(), vec!["alert"]);
    assert_eq!(info(&rt, id).await.active_elements, vec!["review"]);
    Ok(())
}

#[tokio::test]
async fn an_incident_at_a_gateway_is_resolved_by_setting_variables_and_retrying() -> R {
    let log = Log::default();
    let (mut rt, _) = runtime(recording(&log)).await;
    rt.deploy(&model("gateways"), &HashMap::new()).await?;
    // "amount" is missing: the exclusive gateway's condition cannot be evaluated
    let id = rt
        .engine_mut()
        .start("gateways", None, None, Variables::new())
        .await?;
    rt.run().await?;
    let i = info(&rt, id).await;
    assert_eq!(i.state, InstanceState::Active);
    assert_eq!(i.incidents.len(), 1);
    assert_eq!(i.incidents[0].element, "xor");
    assert!(
        i.incidents[0].message.contains("amount"),
        "{}",
        i.incidents[0].message
    );
    assert!(matches!(
        rt.engine_mut().retry_incident(id, "nope").await,
        Err(EngineError::ElementNotFound(_))
    ));
    rt.engine_mut()
        .set_variables(id, vars(&[("amount", Value::Integer(1))]))
        .await?;
    assert_eq!(rt.engine_mut().retry_incident(id, "xor").await?, 1);
    rt.run().await?;
    assert_eq!(log.entries(), vec!["low", "a"]);
    assert!(info(&rt, id).await.incidents.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_loop_without_wait_states_stops_at_an_incident() -> R {
    let (mut rt, _) = runtime(Registry::new()).await;
    rt.deploy(&model("endless_loop"), &HashMap::new()).await?;
    let id = rt
        .engine_mut()
        .start("endlessLoop", None, None, Variables::new())
        .await?;
    let i = info(&rt, id).await;
    assert_eq!(i.state, InstanceState::Active);
    assert_eq!(i.incidents.len(), 1);
    assert!(i.incidents[0].message.contains("endless loop"));
    Ok(())
}

/// The reference correlates a message to instances whose business key or whose variable
/// `alternativeBusinessKey` equals the message's business key (dsf-bpe §1.4).
#[tokio::test]
async fn messages_correlate_by_alternative_business_key() -> R {
    let (mut rt, _) = runtime(recording(&Log::default())).await;
    rt.deploy(&model("event_subprocesses"), &HashMap::new())
        .await?;
    let id = rt
        .engine_mut()
        .start(
            "eventSubs",
            None,
            Some("bk".into()),
            vars(&[("alternativeBusinessKey", "alt".into())]),
        )
        .await?;
    rt.engine_mut()
        .correlate(message("finish", "alt", Variables::new()))
        .await?;
    assert_eq!(info(&rt, id).await.state, InstanceState::Completed);
    assert!(matches!(
        rt.engine_mut()
            .correlate(message("finish", "alt", Variables::new()))
            .await,
        Err(EngineError::Correlation { matches: 0, .. })
    ));
    Ok(())
}
