//! How an [`InstanceRecord`] maps to the columns of `bpmn_instances`, the same on both databases.

use dsf_bpmn::exec::{DefinitionId, InstanceState};
use dsf_bpmn::store::{InstanceRecord, StartTimerRecord};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::SqlStoreError;

/// The columns read back into a record, in [`Row`] order.
macro_rules! record_columns {
    () => {
        "id, definition_key, definition_version, business_key, state, delete_reason, next_due, \
         revision, data"
    };
}
pub(crate) use record_columns;

/// One row of [`record_columns`].
pub(crate) type Row = (
    String,
    String,
    i32,
    Option<String>,
    String,
    Option<String>,
    Option<i64>,
    i64,
    Vec<u8>,
);

/// The `state` and `delete_reason` columns of a state.
pub(crate) fn state_columns(state: &InstanceState) -> (&'static str, Option<&str>) {
    match state {
        InstanceState::Active => ("active", None),
        InstanceState::Suspended => ("suspended", None),
        InstanceState::Completed => ("completed", None),
        InstanceState::Deleted(reason) => ("deleted", Some(reason)),
    }
}

/// The state stored in `state` and `delete_reason`.
pub(crate) fn state(name: &str, reason: Option<String>) -> Result<InstanceState, SqlStoreError> {
    Ok(match name {
        "active" => InstanceState::Active,
        "suspended" => InstanceState::Suspended,
        "completed" => InstanceState::Completed,
        "deleted" => InstanceState::Deleted(reason.unwrap_or_default()),
        other => return Err(SqlStoreError::Invalid(format!("instance state '{other}'"))),
    })
}

/// A time as stored: nanoseconds since the Unix epoch.
pub(crate) fn nanos(t: OffsetDateTime) -> Result<i64, SqlStoreError> {
    i64::try_from(t.unix_timestamp_nanos())
        .map_err(|_| SqlStoreError::Invalid(format!("time {t} out of range")))
}

fn time(nanos: i64) -> Result<OffsetDateTime, SqlStoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|e| SqlStoreError::Invalid(e.to_string()))
}

/// A stored revision (the engine counts from 1).
pub(crate) fn revision(r: u64) -> Result<i64, SqlStoreError> {
    i64::try_from(r).map_err(|_| SqlStoreError::Invalid(format!("revision {r} out of range")))
}

/// A stored engine version of a definition.
pub(crate) fn version(v: u32) -> Result<i32, SqlStoreError> {
    i32::try_from(v).map_err(|_| SqlStoreError::Invalid(format!("version {v} out of range")))
}

/// A definition id read back.
pub(crate) fn definition(key: String, version: i32) -> Result<DefinitionId, SqlStoreError> {
    Ok(DefinitionId {
        key,
        version: u32::try_from(version)
            .map_err(|_| SqlStoreError::Invalid(format!("version {version}")))?,
    })
}

/// An instance id read back.
pub(crate) fn id(text: &str) -> Result<Uuid, SqlStoreError> {
    Uuid::parse_str(text).map_err(|e| SqlStoreError::Invalid(format!("instance id: {e}")))
}

/// The record a row holds.
pub(crate) fn record(row: Row) -> Result<InstanceRecord, SqlStoreError> {
    let (id_text, key, version, business_key, state_name, reason, next_due, rev, data) = row;
    Ok(InstanceRecord {
        id: id(&id_text)?,
        definition: definition(key, version)?,
        business_key,
        state: state(&state_name, reason)?,
        next_due: next_due.map(time).transpose()?,
        revision: u64::try_from(rev)
            .map_err(|_| SqlStoreError::Invalid(format!("revision {rev}")))?,
        data,
    })
}

/// A record as the columns of `bpmn_instances` it is written to.
#[derive(Debug)]
pub(crate) struct Written {
    pub(crate) id: Uuid,
    pub(crate) key: String,
    pub(crate) version: i32,
    pub(crate) business_key: Option<String>,
    pub(crate) state: &'static str,
    pub(crate) delete_reason: Option<String>,
    pub(crate) next_due: Option<i64>,
    pub(crate) revision: i64,
    pub(crate) data: Vec<u8>,
}

impl Written {
    /// The columns of a record.
    pub(crate) fn new(r: InstanceRecord) -> Result<Self, SqlStoreError> {
        let (state, reason) = state_columns(&r.state);
        Ok(Written {
            id: r.id,
            version: version(r.definition.version)?,
            key: r.definition.key,
            business_key: r.business_key,
            state,
            delete_reason: reason.map(str::to_owned),
            next_due: r.next_due.map(nanos).transpose()?,
            revision: revision(r.revision)?,
            data: r.data,
        })
    }
}

/// A timer start event as the columns of `bpmn_start_timers`, in their order.
#[derive(Debug)]
pub(crate) struct StartTimerRow {
    pub(crate) key: String,
    pub(crate) version: i32,
    pub(crate) element: String,
    pub(crate) due: i64,
    /// How a cycle goes on, as JSON.
    pub(crate) repeat: Option<String>,
}

impl StartTimerRow {
    /// The columns of a timer start event.
    pub(crate) fn new(t: &StartTimerRecord) -> Result<Self, SqlStoreError> {
        Ok(StartTimerRow {
            key: t.definition.key.clone(),
            version: version(t.definition.version)?,
            element: t.element.clone(),
            due: nanos(t.due)?,
            repeat: t
                .repeat
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| SqlStoreError::Invalid(e.to_string()))?,
        })
    }

    /// The timer start event a row read back holds.
    pub(crate) fn record(
        (key, version, element, due, repeat): (String, i32, String, i64, Option<String>),
    ) -> Result<StartTimerRecord, SqlStoreError> {
        Ok(StartTimerRecord {
            definition: definition(key, version)?,
            element,
            due: time(due)?,
            repeat: repeat
                .map(|r| serde_json::from_str(&r))
                .transpose()
                .map_err(|e| SqlStoreError::Invalid(format!("timer repeat: {e}")))?,
        })
    }
}
