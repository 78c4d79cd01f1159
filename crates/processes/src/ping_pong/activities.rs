//! The activities of ping and pong.

use dsf_bpe::activity::{Activity, ActivityContext, DelegateError};
use dsf_bpe::api::{ProcessPluginApi, identifier_value};
use dsf_bpe::client::ClientError;
use dsf_bpe::task::{self, ENDPOINT_IDENTIFIER, ORGANIZATION_IDENTIFIER};
use dsf_bpe::{Target, listeners};
use futures::future::BoxFuture;
use serde_json::{Value, json};

use crate::support::{failed, start_task};

/// Code system of the ping and pong Task inputs and outputs.
pub const PING: &str = "http://dsf.dev/fhir/CodeSystem/ping";
/// Code system of ping and pong results.
pub const PING_STATUS: &str = "http://dsf.dev/fhir/CodeSystem/ping-status";
/// The extension with a result's details.
const PING_STATUS_EXTENSION: &str = "http://dsf.dev/fhir/StructureDefinition/extension-ping-status";
/// The endpoints pinged when the start Task does not say.
const DEFAULT_TARGETS: &str =
    "Endpoint?status=active&identifier=http://dsf.dev/sid/endpoint-identifier|";
/// The timer interval of ping autostart when the start Task does not give one.
const DEFAULT_TIMER_INTERVAL: &str = "PT24H";
/// Resource types a `target-endpoints` search may name.
const TARGET_SEARCH_TYPES: [&str; 8] = [
    "Endpoint",
    "HealthcareService",
    "ImagingStudy",
    "InsurancePlan",
    "Location",
    "Organization",
    "OrganizationAffiliation",
    "PractitionerRole",
];

fn target(ctx: &ActivityContext) -> Result<Target, DelegateError> {
    ctx.target()
        .ok_or_else(|| DelegateError::Failed("the variable 'target' is not set".into()))
}

/// `statusCode` and `errorMessage` of a failed send, as the reference names them: 403 is
/// `not-allowed`, anything else `not-reachable`.
fn send_error(e: &ClientError) -> (&'static str, String) {
    let code = match e.status() {
        Some(status) if status.as_u16() == 403 => "not-allowed",
        _ => "not-reachable",
    };
    (code, e.to_string())
}

/// A `ping-status` or `pong-status` output of `status` for `target`.
fn status_output(kind: &str, status: &str, target: &Target, error: Option<&str>) -> Value {
    let mut details = vec![
        json!({"url": "correlation-key", "valueString": target.correlation_key.clone().unwrap_or_default()}),
        json!({"url": "organization-identifier", "valueIdentifier": {"system": ORGANIZATION_IDENTIFIER, "value": target.organization_identifier_value}}),
        json!({"url": "endpoint-identifier", "valueIdentifier": {"system": ENDPOINT_IDENTIFIER, "value": target.endpoint_identifier_value}}),
    ];
    if let Some(error) = error {
        details.push(json!({"url": "error-message", "valueString": error}));
    }
    let mut output = task::parameter(
        PING,
        kind,
        "valueCoding",
        json!({"system": PING_STATUS, "code": status}),
    );
    output["extension"] = json!([{"url": PING_STATUS_EXTENSION, "extension": details}]);
    output
}

/// Selects the endpoints to ping: those of the start Task's `target-endpoints` search (or all
/// active endpoints with an identifier), other than the local one, of remote organizations of
/// the allow list; each gets a random correlation key.
pub struct SelectPingTargets;

impl Activity for SelectPingTargets {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let start = start_task(ctx)?;
            let search = task::input_string(&start, PING, "target-endpoints")
                .unwrap_or(DEFAULT_TARGETS)
                .to_owned();
            let resource_type = search.split('?').next().unwrap_or_default();
            if !TARGET_SEARCH_TYPES.contains(&resource_type) {
                return Err(DelegateError::Failed(format!(
                    "target-endpoints search of {resource_type} not allowed"
                )));
            }
            let api = ctx.api();
            let organizations = api
                .remote_organizations()
                .await
                .map_err(|e| failed("reading the allow list", e))?;
            let mut targets = endpoints_of(api, &search)
                .await
                .map_err(|e| failed("searching the target endpoints", e))?
                .iter()
                .filter(|e| {
                    e.get("address").and_then(Value::as_str) != Some(api.local_endpoint_address())
                })
                .filter_map(|endpoint| {
                    let organization = managing_organization(endpoint, &organizations)?;
                    Some(Target {
                        organization_identifier_value: organization.to_owned(),
                        endpoint_identifier_value: identifier_value(endpoint, ENDPOINT_IDENTIFIER)?
                            .to_owned(),
                        endpoint_url: endpoint.get("address")?.as_str()?.to_owned(),
                        correlation_key: Some(uuid::Uuid::new_v4().to_string()),
                    })
                })
                .collect::<Vec<_>>();
            targets.sort_by(|a, b| {
                a.endpoint_identifier_value
                    .cmp(&b.endpoint_identifier_value)
            });
            targets.dedup_by(|a, b| a.endpoint_url == b.endpoint_url);
            tracing::info!(targets = targets.len(), "ping targets selected");
            ctx.set_targets(&targets);
            Ok(())
        })
    }
}

/// The Endpoints a target search finds (directly or included).
async fn endpoints_of(api: &ProcessPluginApi, search: &str) -> Result<Vec<Value>, ClientError> {
    let query = if search.starts_with("Endpoint") {
        search.to_owned()
    } else {
        let separator = if search.contains('?') { '&' } else { '?' };
        let resource_type = search.split('?').next().unwrap_or_default();
        format!("{search}{separator}_include={resource_type}:endpoint")
    };
    Ok(api
        .local()
        .search_all(&query)
        .await?
        .into_iter()
        .filter(|r| r.get("resourceType") == Some(&json!("Endpoint")))
        .collect())
}

/// The identifier of the remote organization that manages `endpoint`, if it is one.
fn managing_organization<'a>(endpoint: &Value, organizations: &'a [Value]) -> Option<&'a str> {
    let reference = endpoint.get("managingOrganization")?;
    let by_identifier = reference
        .pointer("/identifier/value")
        .and_then(Value::as_str);
    let by_id = reference
        .get("reference")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit_once("Organization/"))
        .map(|(_, id)| id.split('/').next().unwrap_or(id));
    organizations.iter().find_map(|organization| {
        let identifier = identifier_value(organization, ORGANIZATION_IDENTIFIER)?;
        let id = organization.get("id").and_then(Value::as_str);
        (by_identifier == Some(identifier) || (by_id.is_some() && by_id == id))
            .then_some(identifier)
    })
}

/// The identifier value of the local organization's Endpoint.
async fn local_endpoint_identifier(api: &ProcessPluginApi) -> Result<String, DelegateError> {
    let endpoint = api
        .local_endpoint()
        .await
        .map_err(|e| failed("reading the local endpoint", e))?;
    endpoint
        .as_ref()
        .and_then(|e| identifier_value(e, ENDPOINT_IDENTIFIER))
        .map(str::to_owned)
        .ok_or_else(|| DelegateError::Failed("the local endpoint has no identifier".into()))
}

/// Sends the ping to `target`, with the local endpoint's identifier; a failed send sets
/// `statusCode` and `errorMessage` instead of failing the process.
pub struct SendPing;

impl Activity for SendPing {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let target = target(ctx)?;
            let endpoint_identifier = local_endpoint_identifier(ctx.api()).await?;
            let input = task::parameter(
                PING,
                "endpoint-identifier",
                "valueReference",
                json!({"type": "Endpoint", "identifier": {"system": ENDPOINT_IDENTIFIER, "value": endpoint_identifier}}),
            );
            let message = ctx.message(vec![input])?;
            if let Err(e) = ctx.api().send(&message, &target).await {
                let (code, error) = send_error(&e);
                tracing::warn!(target = target.endpoint_url, "ping not sent: {error}");
                ctx.set_variable_local("statusCode", code);
                ctx.set_variable_local("errorMessage", error);
            }
            Ok(())
        })
    }
}

/// Sets the local variable `correlationKey` to the target's, so that the pong of this target
/// reaches this branch.
pub struct SetCorrelationKey;

impl Activity for SetCorrelationKey {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let key = target(ctx)?.correlation_key.unwrap_or_default();
            ctx.set_variable_local("correlationKey", key);
            Ok(())
        })
    }
}

/// Notes the result for the target as `statusCode_<correlation key>` (and `errorMessage_...`).
pub enum LogStatus {
    /// The pong arrived.
    PongReceived,
    /// No pong in time.
    PongMissing,
    /// The ping could not be sent (`statusCode` says why).
    SendError,
}

impl Activity for LogStatus {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let target = target(ctx)?;
            let key = target.correlation_key.clone().unwrap_or_default();
            let (status, error) = match self {
                LogStatus::PongReceived => ("pong-received".to_owned(), None),
                LogStatus::PongMissing => ("pong-missing".to_owned(), None),
                LogStatus::SendError => (
                    ctx.string("statusCode")
                        .unwrap_or("not-reachable")
                        .to_owned(),
                    ctx.string("errorMessage").map(str::to_owned),
                ),
            };
            tracing::info!(target = target.endpoint_url, status, "ping result");
            ctx.set_variable(&format!("statusCode_{key}"), status);
            if let Some(error) = error {
                ctx.set_variable(&format!("errorMessage_{key}"), error);
            }
            Ok(())
        })
    }
}

/// Adds a `ping-status` output per target to the start Task, sorted by endpoint identifier.
pub struct SaveResults;

impl Activity for SaveResults {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let mut start = start_task(ctx)?;
            let mut targets = ctx.targets();
            targets.sort_by(|a, b| {
                a.endpoint_identifier_value
                    .cmp(&b.endpoint_identifier_value)
            });
            for target in &targets {
                let key = target.correlation_key.clone().unwrap_or_default();
                let status = ctx
                    .string(&format!("statusCode_{key}"))
                    .unwrap_or("pong-missing");
                let error = ctx.string(&format!("errorMessage_{key}"));
                task::push(
                    &mut start,
                    "output",
                    status_output("ping-status", status, target, error),
                );
            }
            ctx.update_start_task(start);
            Ok(())
        })
    }
}

/// Logs a received ping.
pub struct LogPing;

impl Activity for LogPing {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let start = start_task(ctx)?;
            tracing::info!(
                from = task::requester(&start),
                business_key = ctx.business_key(),
                "ping received"
            );
            Ok(())
        })
    }
}

/// Selects the requester of the ping as the target of the pong, at the endpoint the ping names;
/// an endpoint that is not in the allow list ends the process (`target_not_allowed`).
pub struct SelectPongTarget;

impl Activity for SelectPongTarget {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let start = start_task(ctx)?;
            let organization = task::requester(&start).unwrap_or_default().to_owned();
            let endpoint_identifier = task::input(&start, PING, "endpoint-identifier")
                .and_then(|i| i.pointer("/valueReference/identifier/value"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let endpoint = ctx
                .api()
                .endpoint(&endpoint_identifier)
                .await
                .map_err(|e| failed("reading the endpoint", e))?;
            let Some(address) = endpoint
                .as_ref()
                .and_then(|e| e.get("address"))
                .and_then(Value::as_str)
            else {
                tracing::warn!(
                    organization,
                    endpoint = endpoint_identifier,
                    "pong target not in the allow list"
                );
                return Err(DelegateError::Bpmn {
                    code: "target_not_allowed".into(),
                    message: Some(format!("endpoint {endpoint_identifier} not allowed")),
                });
            };
            let target = Target {
                organization_identifier_value: organization,
                endpoint_identifier_value: endpoint_identifier,
                endpoint_url: address.to_owned(),
                correlation_key: task::correlation_key(&start).map(str::to_owned),
            };
            ctx.set_target(&target);
            Ok(())
        })
    }
}

/// Sends the pong; the ping Task gets a `pong-status` output (`pong-send`, or why it failed,
/// in which case the ping Task is failed).
pub struct SendPong;

impl Activity for SendPong {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let target = target(ctx)?;
            let message = ctx.message(Vec::new())?;
            let mut start = start_task(ctx)?;
            match ctx.api().send(&message, &target).await {
                Ok(_) => {
                    task::push(
                        &mut start,
                        "output",
                        status_output("pong-status", "pong-send", &target, None),
                    );
                    ctx.update_start_task(start);
                }
                Err(e) => {
                    let (code, error) = send_error(&e);
                    tracing::warn!(target = target.endpoint_url, "pong not sent: {error}");
                    task::push(
                        &mut start,
                        "output",
                        status_output("pong-status", code, &target, Some(&error)),
                    );
                    task::fail(&mut start, &format!("pong not sent: {error}"));
                    let written = listeners::put_task(ctx.api(), &start)
                        .await
                        .map_err(|e| failed("failing the ping Task", e))?;
                    ctx.update_start_task(written);
                }
            }
            Ok(())
        })
    }
}

/// Sets `timerInterval` from the start Task's `timer-interval` input (`PT24H` without one) and
/// the local organization and endpoint as the `target` of the startPing Tasks.
pub struct SetTargetAndConfigureTimer;

impl Activity for SetTargetAndConfigureTimer {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let start = start_task(ctx)?;
            let interval = task::input_string(&start, PING, "timer-interval")
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .unwrap_or(DEFAULT_TIMER_INTERVAL)
                .to_owned();
            let api = ctx.api();
            let endpoint_identifier = local_endpoint_identifier(api).await?;
            let target = Target {
                organization_identifier_value: api.local_organization_identifier().to_owned(),
                endpoint_identifier_value: endpoint_identifier,
                endpoint_url: api.local_endpoint_address().to_owned(),
                correlation_key: None,
            };
            tracing::info!(interval, "ping autostart configured");
            ctx.set_variable("timerInterval", interval);
            ctx.set_target(&target);
            Ok(())
        })
    }
}

/// Sends a startPing Task to the local organization, with the `target-endpoints` input of the
/// autostart's start Task. It carries no business key: every ping is a process of its own.
pub struct SendStartPing;

impl Activity for SendStartPing {
    fn execute<'a>(
        &'a self,
        ctx: &'a mut ActivityContext,
    ) -> BoxFuture<'a, Result<(), DelegateError>> {
        Box::pin(async move {
            let start = start_task(ctx)?;
            let target = target(ctx)?;
            let inputs = task::inputs(&start, PING, "target-endpoints")
                .cloned()
                .collect();
            let mut message = ctx.message(inputs)?;
            message.business_key = None;
            ctx.api()
                .send(&message, &target)
                .await
                .map_err(|e| failed("sending startPing", e))?;
            Ok(())
        })
    }
}
