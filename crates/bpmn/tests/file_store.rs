//! A store of JSON files in a directory, for tests that kill a process and read its state from
//! another one. Commits write every record to a temporary file and rename it into place. It serves
//! one engine: it checks revisions but does not lease.

use std::io;
use std::path::PathBuf;

use dsf_bpmn::exec::{DefinitionId, InstanceState};
use dsf_bpmn::store::{CommitError, InstanceRecord, StartTimerRecord, Store, StoredDefinition};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// JSON files: `definitions/<key>-<version>.json`, `instances/<id>.json` and
/// `start_timers.json`.
pub struct FileStore {
    dir: PathBuf,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

fn state_name(s: &InstanceState) -> String {
    match s {
        InstanceState::Active => "active".into(),
        InstanceState::Suspended => "suspended".into(),
        InstanceState::Completed => "completed".into(),
        InstanceState::Deleted(reason) => format!("deleted:{reason}"),
    }
}

fn parse_state(s: &str) -> InstanceState {
    match s {
        "active" => InstanceState::Active,
        "suspended" => InstanceState::Suspended,
        "completed" => InstanceState::Completed,
        other => InstanceState::Deleted(other.trim_start_matches("deleted:").to_owned()),
    }
}

impl FileStore {
    /// A store in `dir`, created if missing.
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(dir.join("definitions"))?;
        std::fs::create_dir_all(dir.join("instances"))?;
        Ok(FileStore { dir })
    }

    fn write_atomically(&self, path: PathBuf, content: &[u8]) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, content)?;
        std::fs::rename(tmp, path)
    }

    fn write_start_timers(&self, timers: &[StartTimerRecord]) -> io::Result<()> {
        let json = serde_json::to_vec(timers).map_err(invalid)?;
        self.write_atomically(self.dir.join("start_timers.json"), &json)
    }

    fn read_records(&self) -> io::Result<Vec<InstanceRecord>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("instances"))? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "json") {
                out.push(Self::record_from(&std::fs::read(path)?)?);
            }
        }
        Ok(out)
    }

    fn record_from(bytes: &[u8]) -> io::Result<InstanceRecord> {
        let v: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
        let text = |k: &str| v[k].as_str().map(str::to_owned);
        Ok(InstanceRecord {
            id: text("id")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid("id"))?,
            definition: DefinitionId {
                key: text("key").ok_or_else(|| invalid("key"))?,
                version: v["version"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| invalid("version"))?,
            },
            business_key: text("businessKey"),
            state: parse_state(&text("state").unwrap_or_default()),
            next_due: text("nextDue")
                .and_then(|n| n.parse::<i128>().ok())
                .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok()),
            revision: v["revision"].as_u64().unwrap_or(0),
            data: text("data")
                .map(String::into_bytes)
                .ok_or_else(|| invalid("data"))?,
        })
    }
}

impl Store for FileStore {
    type Error = io::Error;

    async fn load_definitions(&self) -> io::Result<Vec<StoredDefinition>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.join("definitions"))? {
            let path = entry?.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(path)?).map_err(invalid)?;
            out.push(StoredDefinition {
                id: DefinitionId {
                    key: v["key"].as_str().unwrap_or_default().to_owned(),
                    version: v["version"]
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(0),
                },
                version_tag: v["versionTag"].as_str().map(str::to_owned),
                xml: v["xml"].as_str().unwrap_or_default().to_owned(),
            });
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn save_definition(&self, d: &StoredDefinition) -> io::Result<()> {
        let doc = json!({"key": d.id.key, "version": d.id.version, "versionTag": d.version_tag, "xml": d.xml});
        let path = self
            .dir
            .join("definitions")
            .join(format!("{}-{}.json", d.id.key, d.id.version));
        self.write_atomically(path, doc.to_string().as_bytes())
    }

    async fn delete_definition(&self, id: &DefinitionId) -> io::Result<()> {
        std::fs::remove_file(
            self.dir
                .join("definitions")
                .join(format!("{}-{}.json", id.key, id.version)),
        )
    }

    async fn save_start_timers(&self, key: &str, timers: Vec<StartTimerRecord>) -> io::Result<()> {
        let mut all = self.load_start_timers().await?;
        all.retain(|t| t.definition.key != key);
        all.extend(timers);
        self.write_start_timers(&all)
    }

    async fn load_start_timers(&self) -> io::Result<Vec<StartTimerRecord>> {
        match std::fs::read(self.dir.join("start_timers.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(invalid),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    async fn advance_start_timer(
        &self,
        fired: &StartTimerRecord,
        next: Option<&StartTimerRecord>,
    ) -> io::Result<()> {
        let mut all = self.load_start_timers().await?;
        if let Some(i) = all.iter().position(|t| t == fired) {
            all.remove(i);
            all.extend(next.cloned());
        }
        self.write_start_timers(&all)
    }

    async fn commit(&self, instances: Vec<InstanceRecord>) -> Result<(), CommitError<io::Error>> {
        for r in &instances {
            let stored = self
                .load_instance(r.id)
                .await
                .map_err(CommitError::Store)?
                .map_or(0, |s| s.revision);
            if r.revision != stored + 1 {
                return Err(CommitError::Conflict(r.id));
            }
        }
        for r in instances {
            let doc = json!({
                "id": r.id.to_string(),
                "key": r.definition.key,
                "version": r.definition.version,
                "businessKey": r.business_key,
                "state": state_name(&r.state),
                "nextDue": r.next_due.map(|d| d.unix_timestamp_nanos().to_string()),
                "revision": r.revision,
                "data": String::from_utf8(r.data).map_err(|e| CommitError::Store(invalid(e)))?,
            });
            let path = self.dir.join("instances").join(format!("{}.json", r.id));
            self.write_atomically(path, doc.to_string().as_bytes())
                .map_err(CommitError::Store)?;
        }
        Ok(())
    }

    async fn acquire_due(
        &self,
        _owner: Uuid,
        now: OffsetDateTime,
        _lease_until: OffsetDateTime,
        limit: usize,
    ) -> io::Result<Vec<InstanceRecord>> {
        let mut due: Vec<InstanceRecord> = self
            .read_records()?
            .into_iter()
            .filter(|r| r.state == InstanceState::Active && r.next_due.is_some_and(|d| d <= now))
            .collect();
        due.truncate(limit);
        Ok(due)
    }

    async fn find_by_business_key(&self, business_key: &str) -> io::Result<Vec<InstanceRecord>> {
        Ok(self
            .load_unfinished()
            .await?
            .into_iter()
            .filter(|r| r.business_key.as_deref() == Some(business_key))
            .collect())
    }

    async fn load_instance(&self, id: Uuid) -> io::Result<Option<InstanceRecord>> {
        let path = self.dir.join("instances").join(format!("{id}.json"));
        match std::fs::read(path) {
            Ok(bytes) => Self::record_from(&bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn load_unfinished(&self) -> io::Result<Vec<InstanceRecord>> {
        Ok(self
            .read_records()?
            .into_iter()
            .filter(|r| matches!(r.state, InstanceState::Active | InstanceState::Suspended))
            .collect())
    }

    async fn list_instances(&self) -> io::Result<Vec<(Uuid, DefinitionId, InstanceState)>> {
        Ok(self
            .read_records()?
            .into_iter()
            .map(|r| (r.id, r.definition, r.state))
            .collect())
    }
}
