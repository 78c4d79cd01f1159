//! The DSF plugin processes (ping/pong, hello world, allow list) deploy unchanged and run to their
//! end events with test delegates registered under their `camunda:class` names.

use dsf_bpmn::engine::Correlation;
use dsf_bpmn::error::EngineError;
use dsf_bpmn::exec::{Effect, HistoryEvent, InstanceState};
use dsf_bpmn::runtime::{DelegateContext, DelegateError, Registry};
use dsf_bpmn::value::{Value, Variables};
use serde_json::json;
use time::Duration;
use uuid::Uuid;

use crate::common::{Log, deployment_properties, plugin_model, runtime};

type R = Result<(), Box<dyn std::error::Error>>;

fn logging(
    log: &Log,
    name: &'static str,
) -> impl Fn(&mut DelegateContext<'_>) -> Result<(), DelegateError> + Send + Sync + 'static {
    let log = log.clone();
    move |ctx: &mut DelegateContext<'_>| {
        log.push(format!("{name} {}", ctx.business_key().unwrap_or("-")));
        Ok(())
    }
}

async fn completed_elements(
    rt: &dsf_bpmn::runtime::Runtime<dsf_bpmn::store::MemoryStore>,
    id: Uuid,
    element: &str,
) -> usize {
    rt.engine()
        .instance(id)
        .await
        .ok()
        .flatten()
        .map(|i| {
            i.history
                .iter()
                .filter(|h| h.element == element && h.event == HistoryEvent::Completed)
                .count()
        })
        .unwrap_or(0)
}

async fn state(
    rt: &dsf_bpmn::runtime::Runtime<dsf_bpmn::store::MemoryStore>,
    id: Uuid,
) -> Option<InstanceState> {
    rt.engine()
        .instance(id)
        .await
        .ok()
        .flatten()
        .map(|i| i.state)
}

fn ping_registry(log: &Log) -> Registry {
    let mut r = Registry::new();
    r.register(
        "dev.dsf.bpe.service.SelectPingTargets",
        |ctx: &mut DelegateContext<'_>| {
            ctx.set_variable(
                "targets",
                Value::Json(json!({"entries": [
                    {"correlationKey": "ck-b", "organizationIdentifier": "org-b"},
                    {"correlationKey": "ck-c", "organizationIdentifier": "org-c"}
                ]})),
            );
            Ok(())
        },
    );
    r.register(
        "dev.dsf.bpe.listener.SetCorrelationKeyListener",
        |ctx: &mut DelegateContext<'_>| {
            let key = match ctx.variable("target") {
                Some(Value::Json(t)) => t["correlationKey"].as_str().map(str::to_owned),
                _ => None,
            };
            let key = key.ok_or_else(|| DelegateError::Failed("no target".into()))?;
            ctx.set_variable_local("correlationKey", key);
            Ok(())
        },
    );
    let sent = log.clone();
    r.register(
        "dev.dsf.bpe.message.SendPing",
        move |ctx: &mut DelegateContext<'_>| {
            let target = match ctx.variable("target") {
                Some(Value::Json(t)) => t["correlationKey"].as_str().unwrap_or("?").to_owned(),
                _ => "?".to_owned(),
            };
            let canonical = ctx
                .field("instantiatesCanonical")
                .map(Value::to_string)
                .unwrap_or_default();
            sent.push(format!("SendPing {target} {canonical}"));
            Ok(())
        },
    );
    r.register("dev.dsf.bpe.service.LogPong", logging(log, "LogPong"));
    r.register(
        "dev.dsf.bpe.service.LogNoResponse",
        logging(log, "LogNoResponse"),
    );
    r.register(
        "dev.dsf.bpe.service.LogSendError",
        logging(log, "LogSendError"),
    );
    r.register(
        "dev.dsf.bpe.service.SaveResults",
        logging(log, "SaveResults"),
    );
    r.register("dev.dsf.bpe.service.LogPing", logging(log, "LogPing"));
    r.register(
        "dev.dsf.bpe.service.SelectPongTarget",
        |ctx: &mut DelegateContext<'_>| {
            if ctx.variable("allowed") == Some(&Value::Bool(false)) {
                return Err(DelegateError::Bpmn {
                    code: "target_not_allowed".into(),
                    message: None,
                });
            }
            Ok(())
        },
    );
    r.register("dev.dsf.bpe.message.SendPong", logging(log, "SendPong"));
    r
}

#[tokio::test]
async fn ping_gets_one_pong_and_times_out_on_the_other_target() -> R {
    let log = Log::default();
    let (mut rt, clock) = runtime(ping_registry(&log)).await;
    let props = deployment_properties();
    rt.deploy(&plugin_model("ping-pong/bpe/ping.bpmn"), &props)
        .await?;
    rt.deploy(&plugin_model("ping-pong/bpe/pong.bpmn"), &props)
        .await?;

    let ping = rt
        .engine_mut()
        .start_by_message(
            "startPing",
            "dsfdev_ping",
            Some("1.0"),
            Some("bk-ping".into()),
            Variables::new(),
        )
        .await?;
    rt.run().await?;
    let mut sent = log.matching("SendPing");
    sent.sort();
    assert_eq!(
        sent,
        vec![
            "SendPing ck-b http://dsf.dev/bpe/Process/pong|1.0",
            "SendPing ck-c http://dsf.dev/bpe/Process/pong|1.0"
        ]
    );

    // The pong site answers for target b only.
    let pong = rt
        .engine_mut()
        .start_by_message(
            "ping",
            "dsfdev_pong",
            Some("1.0"),
            Some("bk-ping".into()),
            Variables::new(),
        )
        .await?;
    rt.run().await?;
    assert_eq!(state(&rt, pong).await, Some(InstanceState::Completed));
    assert_eq!(log.matching("SendPong"), vec!["SendPong bk-ping"]);

    // A pong for an unknown branch matches nothing and is the caller's error.
    let unknown = rt
        .engine_mut()
        .correlate(Correlation {
            message: "pong".into(),
            business_key: Some("bk-ping".into()),
            correlation_key: Some("ck-x".into()),
            variables: Variables::new(),
        })
        .await;
    assert!(matches!(
        unknown,
        Err(EngineError::Correlation { matches: 0, .. })
    ));

    rt.engine_mut()
        .correlate(Correlation {
            message: "pong".into(),
            business_key: Some("bk-ping".into()),
            correlation_key: Some("ck-b".into()),
            variables: Variables::new(),
        })
        .await?;
    rt.run().await?;
    assert_eq!(log.matching("LogPong"), vec!["LogPong bk-ping"]);
    assert_eq!(state(&rt, ping).await, Some(InstanceState::Active));

    // Target c never answers: the PT20S timer of its branch fires.
    clock.advance(Duration::seconds(19));
    rt.run().await?;
    assert!(log.matching("LogNoResponse").is_empty());
    clock.advance(Duration::seconds(1));
    rt.run().await?;
    assert_eq!(log.matching("LogNoResponse"), vec!["LogNoResponse bk-ping"]);
    assert_eq!(log.matching("SaveResults"), vec!["SaveResults bk-ping"]);
    assert_eq!(state(&rt, ping).await, Some(InstanceState::Completed));
    // two sub-process instances and the multi-instance body
    assert_eq!(completed_elements(&rt, ping, "SubProcess").await, 3);
    assert_eq!(completed_elements(&rt, ping, "SubProcessEndEvent").await, 2);
    assert!(log.matching("LogSendError").is_empty());
    Ok(())
}

#[tokio::test]
async fn pong_target_not_allowed_ends_through_the_error_boundary() -> R {
    let log = Log::default();
    let (mut rt, _) = runtime(ping_registry(&log)).await;
    rt.deploy(
        &plugin_model("ping-pong/bpe/pong.bpmn"),
        &deployment_properties(),
    )
    .await?;
    let vars = Variables::from([("allowed".to_owned(), Value::Bool(false))]);
    let pong = rt
        .engine_mut()
        .start_by_message("ping", "dsfdev_pong", None, Some("bk".into()), vars)
        .await?;
    rt.run().await?;
    assert_eq!(state(&rt, pong).await, Some(InstanceState::Completed));
    assert!(log.matching("SendPong").is_empty());
    assert_eq!(
        completed_elements(&rt, pong, "SelectPongTargetErrorBoundaryEvent").await,
        1
    );
    assert_eq!(completed_elements(&rt, pong, "EndEvent").await, 1);
    Ok(())
}

#[tokio::test]
async fn ping_autostart_loops_on_its_timer_until_stopped_by_signal() -> R {
    let log = Log::default();
    let mut registry = Registry::new();
    registry.register(
        "dev.dsf.bpe.service.SetTargetAndConfigureTimer",
        |ctx: &mut DelegateContext<'_>| {
            ctx.set_variable("timerInterval", "PT1H");
            Ok(())
        },
    );
    registry.register(
        "dev.dsf.bpe.message.SendStartPing",
        logging(&log, "SendStartPing"),
    );
    let (mut rt, clock) = runtime(registry).await;
    rt.deploy(
        &plugin_model("ping-pong/bpe/ping-autostart.bpmn"),
        &deployment_properties(),
    )
    .await?;
    let start = async |rt: &mut dsf_bpmn::runtime::Runtime<_>, message: &str, bk: &str| {
        rt.engine_mut()
            .start_by_message(
                message,
                "dsfdev_pingAutostart",
                Some("1.0"),
                Some(bk.to_owned()),
                Variables::new(),
            )
            .await
    };
    let first = start(&mut rt, "startPingAutostart", "a").await?;
    rt.run().await?;
    assert_eq!(log.matching("SendStartPing").len(), 1);
    clock.advance(Duration::hours(1));
    rt.run().await?;
    assert_eq!(log.matching("SendStartPing").len(), 2);

    // A second autostart stops the first with its start signal.
    let second = start(&mut rt, "startPingAutostart", "b").await?;
    rt.run().await?;
    assert_eq!(state(&rt, first).await, Some(InstanceState::Completed));
    assert_eq!(state(&rt, second).await, Some(InstanceState::Active));
    assert_eq!(log.matching("SendStartPing").len(), 3);

    let stop = start(&mut rt, "stopPingAutostart", "c").await?;
    rt.run().await?;
    assert_eq!(state(&rt, stop).await, Some(InstanceState::Completed));
    assert_eq!(state(&rt, second).await, Some(InstanceState::Completed));
    assert_eq!(
        completed_elements(&rt, second, "StopIntermediateSignalCatchEvent").await,
        1
    );
    assert_eq!(
        rt.engine()
            .instance(second)
            .await?
            .map(|i| i.variables.get("stop").cloned()),
        Some(Some(Value::String("yes".into())))
    );
    Ok(())
}

#[tokio::test]
async fn hello_world_runs_its_service_task() -> R {
    let log = Log::default();
    let mut registry = Registry::new();
    registry.register(
        "dev.dsf.bpe.service.HelloWorld",
        logging(&log, "HelloWorld"),
    );
    let (mut rt, _) = runtime(registry).await;
    rt.deploy(
        &plugin_model("hello-world/bpe/hello-world.bpmn"),
        &deployment_properties(),
    )
    .await?;
    let id = rt
        .engine_mut()
        .start_by_message(
            "helloWorld",
            "dsfdev_helloWorld",
            Some("1.0"),
            Some("bk".into()),
            Variables::new(),
        )
        .await?;
    rt.run().await?;
    assert_eq!(log.entries(), vec!["HelloWorld bk"]);
    assert_eq!(state(&rt, id).await, Some(InstanceState::Completed));
    Ok(())
}

#[tokio::test]
async fn hello_user_waits_for_its_user_task() -> R {
    let log = Log::default();
    let mut registry = Registry::new();
    let seen = log.clone();
    registry.register(
        "dev.dsf.bpe.service.LogUserTaskResponse",
        move |ctx: &mut DelegateContext<'_>| {
            seen.push(format!(
                "response {}",
                ctx.variable("answer")
                    .map(Value::to_string)
                    .unwrap_or_default()
            ));
            Ok(())
        },
    );
    let (mut rt, _) = runtime(registry).await;
    rt.deploy(
        &plugin_model("hello-world/bpe/hello-user.bpmn"),
        &deployment_properties(),
    )
    .await?;
    let id = rt
        .engine_mut()
        .start_by_message(
            "helloUser",
            "dsfdev_helloUser",
            None,
            Some("bk".into()),
            Variables::new(),
        )
        .await?;
    rt.run().await?;
    let created: Vec<_> = rt
        .take_events()
        .into_iter()
        .filter_map(|e| match e {
            Effect::UserTaskCreated(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].form_key.as_deref(),
        Some("http://dsf.dev/fhir/Questionnaire/hello-user|1.0")
    );
    assert_eq!(rt.engine().user_tasks(), created);
    assert!(log.entries().is_empty());
    rt.engine_mut()
        .complete_user_task(
            created[0].id,
            Variables::from([("answer".to_owned(), Value::from("hi"))]),
        )
        .await?;
    rt.run().await?;
    assert_eq!(log.entries(), vec!["response hi"]);
    assert_eq!(state(&rt, id).await, Some(InstanceState::Completed));
    assert!(rt.engine().user_tasks().is_empty());
    Ok(())
}

#[tokio::test]
async fn allow_list_processes_run_their_tasks_in_order() -> R {
    let log = Log::default();
    let mut registry = Registry::new();
    for class in [
        "DownloadAllowList",
        "CheckAllowList",
        "InsertAllowList",
        "UpdateAllowList",
    ] {
        let log = log.clone();
        registry.register(
            &format!("dev.dsf.bpe.service.{class}"),
            move |_: &mut DelegateContext<'_>| {
                log.push(class);
                Ok(())
            },
        );
    }
    let (mut rt, _) = runtime(registry).await;
    let props = deployment_properties();
    rt.deploy(
        &plugin_model("allow-list/bpe/download-allow-list.bpmn"),
        &props,
    )
    .await?;
    rt.deploy(
        &plugin_model("allow-list/bpe/update-allow-list.bpmn"),
        &props,
    )
    .await?;
    let download = rt
        .engine_mut()
        .start_by_message(
            "downloadAllowListMessage",
            "dsfdev_downloadAllowList",
            Some("1.0"),
            None,
            Variables::new(),
        )
        .await?;
    rt.run().await?;
    assert_eq!(
        log.entries(),
        vec!["DownloadAllowList", "CheckAllowList", "InsertAllowList"]
    );
    let update = rt
        .engine_mut()
        .start_by_message(
            "updateAllowList",
            "dsfdev_updateAllowList",
            Some("1.0"),
            None,
            Variables::new(),
        )
        .await?;
    rt.run().await?;
    assert_eq!(
        log.entries().last().map(String::as_str),
        Some("UpdateAllowList")
    );
    assert_eq!(state(&rt, download).await, Some(InstanceState::Completed));
    assert_eq!(state(&rt, update).await, Some(InstanceState::Completed));
    Ok(())
}

/// The reference engine adds a start listener to message start events, a continue listener to
/// message catch events and receive tasks, and an end listener to end events of every plugin
/// process (dsf-bpe §1.5); the engine adds them from its configuration.
#[tokio::test]
async fn engine_listeners_run_at_message_start_continue_and_end_events() -> R {
    use dsf_bpmn::clock::ManualClock;
    use dsf_bpmn::deploy::{AddedListener, ListenerTarget};
    use dsf_bpmn::engine::{Engine, EngineConfig};
    use dsf_bpmn::store::MemoryStore;
    use std::sync::Arc;

    let log = Log::default();
    let mut registry = ping_registry(&log);
    let l = log.clone();
    registry.register("dsf.StartListener", move |ctx: &mut DelegateContext<'_>| {
        let task = ctx
            .variable("task")
            .map(Value::to_string)
            .unwrap_or_default();
        l.push(format!("start {task}"));
        ctx.remove_variable("task");
        Ok(())
    });
    let l = log.clone();
    registry.register(
        "dsf.ContinueListener",
        move |ctx: &mut DelegateContext<'_>| {
            let task = ctx
                .variable("task")
                .map(Value::to_string)
                .unwrap_or_default();
            l.push(format!("continue {} {task}", ctx.work().element));
            ctx.remove_variable("task");
            Ok(())
        },
    );
    let l = log.clone();
    registry.register("dsf.EndListener", move |ctx: &mut DelegateContext<'_>| {
        l.push(format!("end {}", ctx.work().element));
        Ok(())
    });
    let listener = |target, event: &str, class: &str| AddedListener {
        target,
        event: event.into(),
        class: class.into(),
    };
    let config = EngineConfig {
        clock: Arc::new(ManualClock::new(
            time::macros::datetime!(2026-11-30 08:00 UTC),
        )),
        listeners: vec![
            listener(
                ListenerTarget::MessageStartEvents,
                "start",
                "dsf.StartListener",
            ),
            listener(
                ListenerTarget::MessageCatches,
                "end",
                "dsf.ContinueListener",
            ),
            listener(ListenerTarget::EndEvents, "end", "dsf.EndListener"),
        ],
        lease: None,
    };
    let mut rt =
        dsf_bpmn::runtime::Runtime::new(Engine::open(MemoryStore::new(), config).await?, registry);
    rt.deploy(
        &plugin_model("ping-pong/bpe/ping.bpmn"),
        &deployment_properties(),
    )
    .await?;
    let id = rt
        .engine_mut()
        .start_by_message(
            "startPing",
            "dsfdev_ping",
            None,
            Some("bk".into()),
            Variables::from([("task".to_owned(), Value::from("start-task"))]),
        )
        .await?;
    rt.run().await?;
    for ck in ["ck-b", "ck-c"] {
        rt.engine_mut()
            .correlate(Correlation {
                message: "pong".into(),
                business_key: Some("bk".into()),
                correlation_key: Some(ck.into()),
                variables: Variables::from([(
                    "task".to_owned(),
                    Value::from(format!("pong-{ck}")),
                )]),
            })
            .await?;
        rt.run().await?;
    }
    let listened: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("start") || e.starts_with("continue") || e.starts_with("end"))
        .collect();
    assert_eq!(
        listened,
        vec![
            "start start-task",
            "continue PongCatchEvent pong-ck-b",
            "end SubProcessEndEvent",
            "continue PongCatchEvent pong-ck-c",
            "end SubProcessEndEvent",
            "end EndEvent",
        ]
    );
    assert_eq!(state(&rt, id).await, Some(InstanceState::Completed));
    Ok(())
}
