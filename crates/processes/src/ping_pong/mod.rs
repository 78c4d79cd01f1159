//! Ping/pong (reference plugin `dsf-process-ping-pong` 1.0): `dsfdev_ping` sends a ping Task to
//! every selected endpoint and waits 20 s for the pong; `dsfdev_pong` answers a ping with a pong.
//! The start Task of a ping gets one `ping-status` output per target: `pong-received`,
//! `pong-missing`, `not-allowed` or `not-reachable`. `dsfdev_pingAutostart` sends a startPing
//! Task to the local organization at once and after every `timer-interval` (`PT24H` by default)
//! until a `stopPingAutostart` Task, or a newer autostart, stops it.

mod activities;

use std::sync::Arc;

use dsf_bpe::{Activities, Activity, ProcessModel, ProcessPlugin, ProcessResources};

pub use activities::{PING, PING_STATUS};

/// The ping/pong plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct PingPong;

impl ProcessPlugin for PingPong {
    fn name(&self) -> &str {
        "dsf-process-ping-pong"
    }

    fn version(&self) -> &str {
        "1.0.1.0"
    }

    fn release_date(&self) -> &str {
        "2023-09-12"
    }

    fn models(&self) -> Vec<ProcessModel> {
        vec![
            model!("ping-pong", "ping.bpmn"),
            model!("ping-pong", "pong.bpmn"),
            model!("ping-pong", "ping-autostart.bpmn"),
        ]
    }

    fn resources(&self) -> Vec<ProcessResources> {
        let shared = || {
            vec![
                fhir!("ping-pong", "CodeSystem-ping.json"),
                fhir!("ping-pong", "CodeSystem-ping-status.json"),
                fhir!("ping-pong", "ValueSet-ping.json"),
                fhir!("ping-pong", "ValueSet-ping-status.json"),
                fhir!("ping-pong", "ValueSet-pong-status.json"),
                fhir!(
                    "ping-pong",
                    "StructureDefinition-extension-ping-status.json"
                ),
            ]
        };
        let mut ping = shared();
        ping.extend([
            fhir!("ping-pong", "ActivityDefinition-ping.json"),
            fhir!("ping-pong", "StructureDefinition-task-start-ping.json"),
            fhir!("ping-pong", "StructureDefinition-task-pong.json"),
            fhir!("ping-pong", "Task-start-ping.json"),
        ]);
        let mut pong = shared();
        pong.extend([
            fhir!("ping-pong", "ActivityDefinition-pong.json"),
            fhir!("ping-pong", "StructureDefinition-task-ping.json"),
        ]);
        let autostart = vec![
            fhir!("ping-pong", "CodeSystem-ping.json"),
            fhir!("ping-pong", "ValueSet-ping.json"),
            fhir!("ping-pong", "ActivityDefinition-ping-autostart.json"),
            fhir!(
                "ping-pong",
                "StructureDefinition-task-start-ping-autostart.json"
            ),
            fhir!(
                "ping-pong",
                "StructureDefinition-task-stop-ping-autostart.json"
            ),
            fhir!("ping-pong", "Task-start-ping-autostart.json"),
            fhir!("ping-pong", "Task-stop-ping-autostart.json"),
        ];
        vec![
            ProcessResources {
                process_id: "dsfdev_ping".into(),
                files: ping,
            },
            ProcessResources {
                process_id: "dsfdev_pingAutostart".into(),
                files: autostart,
            },
            ProcessResources {
                process_id: "dsfdev_pong".into(),
                files: pong,
            },
        ]
    }

    fn activities(&self) -> Activities {
        let mut activities = Activities::new();
        let mut add = |ours: &str, reference: &str, activity: Arc<dyn Activity>| {
            activities.register_as(&[ours, reference], activity);
        };
        use activities::*;
        add(
            "dsf.ping.SelectPingTargets",
            "dev.dsf.bpe.service.SelectPingTargets",
            Arc::new(SelectPingTargets),
        );
        add(
            "dsf.ping.SendPing",
            "dev.dsf.bpe.message.SendPing",
            Arc::new(SendPing),
        );
        add(
            "dsf.ping.SetCorrelationKey",
            "dev.dsf.bpe.listener.SetCorrelationKeyListener",
            Arc::new(SetCorrelationKey),
        );
        add(
            "dsf.ping.LogPong",
            "dev.dsf.bpe.service.LogPong",
            Arc::new(LogStatus::PongReceived),
        );
        add(
            "dsf.ping.LogNoResponse",
            "dev.dsf.bpe.service.LogNoResponse",
            Arc::new(LogStatus::PongMissing),
        );
        add(
            "dsf.ping.LogSendError",
            "dev.dsf.bpe.service.LogSendError",
            Arc::new(LogStatus::SendError),
        );
        add(
            "dsf.ping.SaveResults",
            "dev.dsf.bpe.service.SaveResults",
            Arc::new(SaveResults),
        );
        add(
            "dsf.ping.LogPing",
            "dev.dsf.bpe.service.LogPing",
            Arc::new(LogPing),
        );
        add(
            "dsf.ping.SelectPongTarget",
            "dev.dsf.bpe.service.SelectPongTarget",
            Arc::new(SelectPongTarget),
        );
        add(
            "dsf.ping.SendPong",
            "dev.dsf.bpe.message.SendPong",
            Arc::new(SendPong),
        );
        add(
            "dsf.ping.SetTargetAndConfigureTimer",
            "dev.dsf.bpe.service.SetTargetAndConfigureTimer",
            Arc::new(SetTargetAndConfigureTimer),
        );
        add(
            "dsf.ping.SendStartPing",
            "dev.dsf.bpe.message.SendStartPing",
            Arc::new(SendStartPing),
        );
        activities
    }
}
