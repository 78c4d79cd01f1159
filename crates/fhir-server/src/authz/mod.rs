//! Authorization: what a caller may do, by the reference implementation's rules.
//!
//! - The local organization may use every interaction; a remote organization may create Tasks
//!   and read, search and read the history of what its read access allows ([`permits`]).
//! - Reads and searches are filtered by read access ([`read`]): read-access tags, a Task's
//!   requester, a Binary's security context.
//! - Creates and updates pass per-type rules ([`rules`]): valid tags, uniqueness, immutable
//!   elements, and for Tasks the process authorization of the ActivityDefinition ([`task`],
//!   [`process`]).
//!
//! A refusal is a 403 OperationOutcome. Its text names the reason only for the local
//! organization; remote callers learn only that the operation is forbidden. Every decision is
//! logged on the `dsf_audit` target.

pub mod definitions;
pub mod process;
pub mod questionnaire_response;
pub mod read;
pub mod rules;
pub mod tags;
pub mod task;
mod unique;

use std::sync::Arc;

use http::StatusCode;
use serde_json::Value;

use crate::allow_list::AllowList;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::identity::Identity;

/// An interaction, as the reference's roles name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `POST /T` and create entries.
    Create,
    /// Read and vread.
    Read,
    /// `PUT`.
    Update,
    /// `DELETE`.
    Delete,
    /// Searches.
    Search,
    /// Histories.
    History,
    /// `$permanent-delete`.
    PermanentDelete,
    /// Binding a websocket to a Subscription.
    Websocket,
}

impl Operation {
    /// The name used in the reference's messages.
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Read => "read",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Search => "search",
            Operation::History => "history",
            Operation::PermanentDelete => "permanent-delete",
            Operation::Websocket => "websocket",
        }
    }
}

/// The caller of a request, with the allow list its rights are judged by.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling.
    pub identity: Identity,
    /// The federation at the time of the request.
    pub allow_list: Arc<AllowList>,
    /// The server's settings (its organization identifier among them).
    pub config: Arc<ServerConfig>,
    /// The ActivityDefinitions Tasks are authorized by.
    pub definitions: Arc<definitions::DefinitionCache>,
    /// The profiles this caller's writes are validated against; `None` for the server's own
    /// start-up resources, which the reference does not validate either.
    pub profiles: Option<Arc<crate::validation::Profiles>>,
}

impl Caller {
    /// This server's organization identifier value.
    pub fn local_organization(&self) -> &str {
        &self.config.organization_identifier
    }

    /// 403 for `operation`: with the reason for the local organization, without for others.
    pub fn forbidden(&self, operation: Operation, reason: impl Into<String>) -> ApiError {
        let reason = reason.into();
        tracing::info!(
            target: "dsf_audit",
            organization = %self.identity.organization,
            local = self.identity.local,
            operation = operation.name(),
            "forbidden: {reason}"
        );
        let text = if self.identity.local {
            format!("Operation {} forbidden: {reason}", operation.name())
        } else {
            format!("Operation {} forbidden", operation.name())
        };
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", text)
    }

    /// Fails unless the caller's role allows `operation` on `resource_type`.
    pub fn permits(&self, operation: Operation, resource_type: &str) -> Result<(), ApiError> {
        if permits(&self.identity, operation, resource_type) {
            Ok(())
        } else {
            Err(self.forbidden(
                operation,
                format!("not allowed for remote organization on {resource_type}"),
            ))
        }
    }
}

/// The roles of the reference: the local organization may do everything; a remote organization
/// may create Tasks and read, search and read histories; a local user what the role
/// configuration grants.
pub fn permits(identity: &Identity, operation: Operation, resource_type: &str) -> bool {
    if let Some(practitioner) = &identity.practitioner {
        return practitioner.may(operation, resource_type);
    }
    identity.local
        || match operation {
            Operation::Create => resource_type == "Task",
            Operation::Read | Operation::Search | Operation::History => true,
            Operation::Update
            | Operation::Delete
            | Operation::PermanentDelete
            | Operation::Websocket => false,
        }
}

/// A resource's JSON as a value, for the rules that walk it.
pub(crate) fn json_of(resource: &dsf_fhir::Resource) -> Value {
    Value::Object(resource.as_json().clone())
}

/// The string at `key` of a JSON object.
pub(crate) fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The elements of the array at `key` (none when absent).
pub(crate) fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The extensions of `value` with `url`.
pub(crate) fn extensions<'a>(value: &'a Value, url: &'a str) -> impl Iterator<Item = &'a Value> {
    array_at(value, "extension")
        .iter()
        .filter(move |e| str_at(e, "url") == Some(url))
}
