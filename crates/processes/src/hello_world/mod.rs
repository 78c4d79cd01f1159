//! Hello world (reference plugin `dsf-process-hello-world` 1.5): `dsfdev_helloWorld` logs the
//! organization that started it; `dsfdev_helloUser` asks a person to answer the `hello-user`
//! questionnaire (a user task: a QuestionnaireResponse on the local FHIR server) and logs the
//! answers. A starting point for plugin authors.

use std::sync::Arc;

use dsf_bpe::activity::{Activity, ActivityContext, DelegateError};
use dsf_bpe::task;
use dsf_bpe::{Activities, ProcessModel, ProcessPlugin, ProcessResources};
use futures::future::BoxFuture;
use serde_json::Value;

/// The hello world plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct HelloWorld;

impl ProcessPlugin for HelloWorld {
    fn name(&self) -> &str {
        "dsf-process-hello-world"
    }

    fn version(&self) -> &str {
        "1.5.0.0"
    }

    fn release_date(&self) -> &str {
        "2024-03-01"
    }

    fn models(&self) -> Vec<ProcessModel> {
        vec![
            model!("hello-world", "hello-world.bpmn"),
            model!("hello-world", "hello-user.bpmn"),
        ]
    }

    fn resources(&self) -> Vec<ProcessResources> {
        vec![
            ProcessResources {
                process_id: "dsfdev_helloWorld".into(),
                files: vec![
                    fhir!("hello-world", "ActivityDefinition-hello-world.json"),
                    fhir!("hello-world", "StructureDefinition-task-hello-world.json"),
                    fhir!("hello-world", "Task-hello-world.json"),
                ],
            },
            ProcessResources {
                process_id: "dsfdev_helloUser".into(),
                files: vec![
                    fhir!("hello-world", "ActivityDefinition-hello-user.json"),
                    fhir!("hello-world", "StructureDefinition-task-hello-user.json"),
                    fhir!("hello-world", "Questionnaire-hello-user.json"),
                    fhir!("hello-world", "Task-hello-user.json"),
                ],
            },
        ]
    }

    fn activities(&self) -> Activities {
        let mut activities = Activities::new();
        activities.register_as(
            &["dsf.hello.HelloWorld", "dev.dsf.bpe.service.HelloWorld"],
            Arc::new(LogHello),
        );
        activities.register_as(
            &[
                "dsf.hello.LogUserTaskResponse",
                "dev.dsf.bpe.service.LogUserTaskResponse",
            ],
            Arc::new(LogUserTaskResponse),
        );
        activities
    }
}

/// Logs the organization that started the process.
pub struct LogHello;

impl Activity for LogHello {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let requester = ctx.start_task().and_then(task::requester).unwrap_or("?");
            tracing::info!(requester, "hello world");
            Ok(())
        })
    }
}

/// Logs the answers of the QuestionnaireResponse that completed the user task.
pub struct LogUserTaskResponse;

impl Activity for LogUserTaskResponse {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let response = ctx.questionnaire_response().ok_or_else(|| {
                DelegateError::Failed("no QuestionnaireResponse completed the user task".into())
            })?;
            for item in response
                .get("item")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let link_id = item
                    .get("linkId")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if let Some(answer) = item.pointer("/answer/0") {
                    tracing::info!(link_id, %answer, "user task answer");
                }
            }
            Ok(())
        })
    }
}
