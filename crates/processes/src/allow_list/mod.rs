//! Allow list (reference plugin `dsf-process-allow-list` 1.0): `dsfdev_updateAllowList` runs at
//! the organization that manages the federation's allow list (property
//! `dev.dsf.bpe.allow.list.organization`, `hs-heilbronn.de` when not set) and writes the allow
//! list as a transaction Bundle readable by all, with a reference to it as the start Task's
//! `allow-list#allow_list` output; `dsfdev_downloadAllowList` runs at every site, downloads the
//! Bundle its start Task names, checks that it only writes or removes Organizations, Endpoints
//! and OrganizationAffiliations, and runs it on the local FHIR server.

mod activities;

use std::sync::Arc;

use dsf_bpe::{Activities, Activity, ProcessModel, ProcessPlugin, ProcessResources};

pub use activities::{ALLOW_LIST, ALLOW_LIST_CODE};

/// The property that names the organization managing the allow list.
pub const ALLOW_LIST_ORGANIZATION: &str = "dev.dsf.bpe.allow.list.organization";

/// The allow list plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowList;

impl ProcessPlugin for AllowList {
    fn name(&self) -> &str {
        "dsf-process-allow-list"
    }

    fn version(&self) -> &str {
        "1.0.0.1"
    }

    fn release_date(&self) -> &str {
        "2023-09-14"
    }

    fn models(&self) -> Vec<ProcessModel> {
        vec![
            model!("allow-list", "update-allow-list.bpmn"),
            model!("allow-list", "download-allow-list.bpmn"),
        ]
    }

    fn resources(&self) -> Vec<ProcessResources> {
        let shared = || {
            vec![
                fhir!("allow-list", "CodeSystem-allow-list.json"),
                fhir!("allow-list", "ValueSet-allow-list.json"),
            ]
        };
        let mut update = shared();
        update.extend([
            fhir!("allow-list", "ActivityDefinition-update-allow-list.json"),
            fhir!(
                "allow-list",
                "StructureDefinition-task-update-allow-list.json"
            ),
            fhir!("allow-list", "Task-update-allow-list.json"),
        ]);
        let mut download = shared();
        download.extend([
            fhir!("allow-list", "ActivityDefinition-download-allow-list.json"),
            fhir!(
                "allow-list",
                "StructureDefinition-task-download-allow-list.json"
            ),
            fhir!("allow-list", "Task-download-allow-list.json"),
        ]);
        vec![
            ProcessResources {
                process_id: "dsfdev_updateAllowList".into(),
                files: update,
            },
            ProcessResources {
                process_id: "dsfdev_downloadAllowList".into(),
                files: download,
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
            "dsf.allowlist.UpdateAllowList",
            "dev.dsf.bpe.service.UpdateAllowList",
            Arc::new(UpdateAllowList),
        );
        add(
            "dsf.allowlist.DownloadAllowList",
            "dev.dsf.bpe.service.DownloadAllowList",
            Arc::new(DownloadAllowList),
        );
        add(
            "dsf.allowlist.CheckAllowList",
            "dev.dsf.bpe.service.CheckAllowList",
            Arc::new(CheckAllowList),
        );
        add(
            "dsf.allowlist.InsertAllowList",
            "dev.dsf.bpe.service.InsertAllowList",
            Arc::new(InsertAllowList),
        );
        activities
    }
}
