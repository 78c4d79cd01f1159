//! A process that stops between commits resumes from the store: an engine opened on the same
//! store continues the instance, re-issuing work that was handed out but not reported. One test
//! drops engines in-process; the other kills a child process with SIGKILL after a commit and
//! resumes from the files it left.

use std::sync::Arc;

use dsf_bpmn::clock::ManualClock;
use dsf_bpmn::engine::{Correlation, Engine};
use dsf_bpmn::exec::{Effect, InstanceState};
use dsf_bpmn::runtime::{DelegateContext, Registry, Runtime};
use dsf_bpmn::store::MemoryStore;
use dsf_bpmn::value::{Value, Variables};
use serde_json::json;
use time::Duration;
use time::macros::datetime;

use crate::common::{Log, deployment_properties, plugin_model};
use crate::file_store::FileStore;

fn registry(log: &Log) -> Registry {
    let mut r = Registry::new();
    r.register(
        "dev.dsf.bpe.service.SelectPingTargets",
        |ctx: &mut DelegateContext<'_>| {
            ctx.set_variable(
                "targets",
                Value::Json(json!({"entries": [{"correlationKey": "b"}, {"correlationKey": "c"}]})),
            );
            Ok(())
        },
    );
    r.register(
        "dev.dsf.bpe.listener.SetCorrelationKeyListener",
        |ctx: &mut DelegateContext<'_>| {
            let key = match ctx.variable("target") {
                Some(Value::Json(t)) => t["correlationKey"].as_str().unwrap_or_default().to_owned(),
                _ => String::new(),
            };
            ctx.set_variable_local("correlationKey", key);
            Ok(())
        },
    );
    for class in [
        "dev.dsf.bpe.message.SendPing",
        "dev.dsf.bpe.service.LogPong",
        "dev.dsf.bpe.service.LogNoResponse",
        "dev.dsf.bpe.service.LogSendError",
        "dev.dsf.bpe.service.SaveResults",
    ] {
        let log = log.clone();
        r.register(class, move |ctx: &mut DelegateContext<'_>| {
            let branch = match ctx.variable("target") {
                Some(Value::Json(t)) => t["correlationKey"].as_str().unwrap_or_default().to_owned(),
                _ => String::new(),
            };
            log.push(format!("{} {branch}", ctx.work().element));
            Ok(())
        });
    }
    r
}

#[tokio::test]
async fn an_instance_survives_engine_restarts_between_commits()
-> Result<(), Box<dyn std::error::Error>> {
    let store = MemoryStore::new();
    let clock = ManualClock::new(datetime!(2026-11-30 08:00 UTC));
    let log = Log::default();
    let open = async || -> Result<Runtime<MemoryStore>, Box<dyn std::error::Error>> {
        let engine = Engine::with_clock(store.clone(), Arc::new(clock.clone())).await?;
        Ok(Runtime::handing_out(engine, registry(&log)))
    };

    // First process: deploys, starts, hands out the first work item, then dies.
    let mut first = open().await?;
    first
        .deploy(
            &plugin_model("ping-pong/bpe/ping.bpmn"),
            &deployment_properties(),
        )
        .await?;
    let id = first
        .engine_mut()
        .start_by_message(
            "startPing",
            "dsfdev_ping",
            Some("1.0"),
            Some("bk".into()),
            Variables::new(),
        )
        .await?;
    let handed_out = first.engine_mut().take_effects();
    assert!(matches!(handed_out.as_slice(), [Effect::Work(w)] if w.element == "SelectPingTargets"));
    drop(first);

    // Second process: the unreported work item is handed out again and the instance proceeds to
    // the asynchronous multi-instance boundary, where this process dies before running the jobs.
    let mut second = open().await?;
    let again = second.engine().pending_work();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].element, "SelectPingTargets");
    let select = again[0].id;
    let mut changes = Variables::new();
    changes.insert(
        "targets".into(),
        Value::Json(json!({"entries": [{"correlationKey": "b"}, {"correlationKey": "c"}]})),
    );
    second
        .engine_mut()
        .complete_work(
            select,
            dsf_bpmn::exec::WorkResult {
                variables: changes
                    .into_iter()
                    .map(|(k, v)| dsf_bpmn::exec::VariableChange::Set(k, v))
                    .collect(),
                outcome: dsf_bpmn::exec::WorkOutcome::Completed,
            },
        )
        .await?;
    assert!(second.engine().next_due().is_some(), "async jobs are due");
    assert!(log.entries().is_empty());
    drop(second);

    // Third process: runs the due jobs, sends both pings, gets one pong; the other branch's
    // timer falls due while no engine runs and fires once on restart.
    let mut third = open().await?;
    third.run().await?;
    let mut sent = log.matching("SendPing");
    sent.sort();
    assert_eq!(sent, vec!["SendPing b", "SendPing c"]);
    third
        .engine_mut()
        .correlate(Correlation {
            message: "pong".into(),
            business_key: Some("bk".into()),
            correlation_key: Some("b".into()),
            variables: Variables::new(),
        })
        .await?;
    third.run().await?;
    drop(third);
    clock.advance(Duration::minutes(5));

    let mut fourth = open().await?;
    fourth.run().await?;
    assert_eq!(log.matching("LogNoResponse"), vec!["LogNoResponse c"]);
    assert_eq!(log.matching("SendPing").len(), 2, "no ping is sent twice");
    assert_eq!(log.matching("SaveResults").len(), 1);
    let info = fourth.engine().instance(id).await?.ok_or("instance lost")?;
    assert_eq!(info.state, InstanceState::Completed);
    Ok(())
}

const CHILD_DIR: &str = "DSF_BPMN_RECOVERY_CHILD_DIR";

fn fixed_clock() -> ManualClock {
    ManualClock::new(datetime!(2026-11-30 08:00 UTC))
}

/// The process that gets killed: started by `a_killed_engine_process_resumes_from_its_store` with
/// the store directory in `DSF_BPMN_RECOVERY_CHILD_DIR`; does nothing when run on its own.
#[tokio::test]
#[ignore = "started as a child process by a_killed_engine_process_resumes_from_its_store"]
async fn recovery_child() -> Result<(), Box<dyn std::error::Error>> {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return Ok(());
    };
    let store = FileStore::open(dir.into())?;
    let mut engine = Engine::with_clock(store, Arc::new(fixed_clock())).await?;
    let options = dsf_bpmn::deploy::DeployOptions {
        properties: deployment_properties(),
        allow_unknown_classes: true,
        ..Default::default()
    };
    engine
        .deploy(&plugin_model("ping-pong/bpe/ping.bpmn"), &options)
        .await?;
    engine
        .start_by_message(
            "startPing",
            "dsfdev_ping",
            Some("1.0"),
            Some("bk".into()),
            Variables::new(),
        )
        .await?;
    let select = engine
        .pending_work()
        .first()
        .map(|w| w.id)
        .ok_or("no work")?;
    engine
        .complete_work(
            select,
            dsf_bpmn::exec::WorkResult {
                variables: vec![dsf_bpmn::exec::VariableChange::Set(
                    "targets".into(),
                    Value::Json(
                        json!({"entries": [{"correlationKey": "b"}, {"correlationKey": "c"}]}),
                    ),
                )],
                outcome: dsf_bpmn::exec::WorkOutcome::Completed,
            },
        )
        .await?;
    println!("committed");
    std::thread::sleep(std::time::Duration::from_secs(120));
    Err("the parent test should have killed this process".into())
}

#[tokio::test]
async fn a_killed_engine_process_resumes_from_its_store() -> Result<(), Box<dyn std::error::Error>>
{
    use std::io::BufRead;

    let dir = tempfile::tempdir()?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "recovery::recovery_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let committed = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line == "committed");
    child.kill()?; // SIGKILL
    child.wait()?;
    assert!(committed, "the child process did not reach its commit");

    let log = Log::default();
    let clock = fixed_clock();
    let store = FileStore::open(dir.path().to_owned())?;
    let mut rt = Runtime::new(
        Engine::with_clock(store, Arc::new(clock.clone())).await?,
        registry(&log),
    );
    let id = rt.engine().instances_by_business_key("bk");
    assert_eq!(id.len(), 1);
    rt.run().await?;
    let mut sent = log.matching("SendPing");
    sent.sort();
    assert_eq!(sent, vec!["SendPing b", "SendPing c"]);
    rt.engine_mut()
        .correlate(Correlation {
            message: "pong".into(),
            business_key: Some("bk".into()),
            correlation_key: Some("c".into()),
            variables: Variables::new(),
        })
        .await?;
    clock.advance(Duration::seconds(20));
    rt.run().await?;
    assert_eq!(log.matching("LogPong"), vec!["LogPong c"]);
    assert_eq!(log.matching("LogNoResponse"), vec!["LogNoResponse b"]);
    let info = rt.engine().instance(id[0]).await?.ok_or("instance lost")?;
    assert_eq!(info.state, InstanceState::Completed);
    Ok(())
}
