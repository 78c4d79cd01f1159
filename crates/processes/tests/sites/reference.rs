//! The reference's own ping and pong models and FHIR resources (`../shared/fixtures`), unchanged,
//! run with this project's activities registered under the reference's class names, and give the
//! results of this project's models.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use dsf_bpe::{Activities, FhirFile, ProcessModel, ProcessPlugin, ProcessResources};
use dsf_testkit::Backend;

/// The reference's ping-pong plugin files with the built-in plugin's activities.
struct ReferencePingPong;

fn fixture(path: &str) -> (Cow<'static, str>, Cow<'static, str>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/plugins/ping-pong");
    let content = std::fs::read_to_string(dir.join(path))
        .expect("the reference's ping-pong plugin in ../shared/fixtures");
    (path.to_owned().into(), content.into())
}

fn files(paths: &[&str]) -> Vec<FhirFile> {
    paths
        .iter()
        .map(|p| {
            let (file, content) = fixture(&format!("fhir/{p}"));
            FhirFile { file, content }
        })
        .collect()
}

impl ProcessPlugin for ReferencePingPong {
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
        ["bpe/ping.bpmn", "bpe/pong.bpmn"]
            .iter()
            .map(|p| {
                let (file, xml) = fixture(p);
                ProcessModel { file, xml }
            })
            .collect()
    }

    fn resources(&self) -> Vec<ProcessResources> {
        let shared = [
            "CodeSystem/dsf-ping.xml",
            "CodeSystem/dsf-ping-status.xml",
            "ValueSet/dsf-ping.xml",
            "ValueSet/dsf-ping-status.xml",
            "ValueSet/dsf-pong-status.xml",
            "StructureDefinition/dsf-extension-ping-status.xml",
        ];
        let mut ping = files(&shared);
        ping.extend(files(&[
            "ActivityDefinition/dsf-ping.xml",
            "StructureDefinition/dsf-task-start-ping.xml",
            "StructureDefinition/dsf-task-pong.xml",
            "Task/dsf-task-start-ping.xml",
        ]));
        let mut pong = files(&shared);
        pong.extend(files(&[
            "ActivityDefinition/dsf-pong.xml",
            "StructureDefinition/dsf-task-ping.xml",
        ]));
        vec![
            ProcessResources {
                process_id: "dsfdev_ping".into(),
                files: ping,
            },
            ProcessResources {
                process_id: "dsfdev_pong".into(),
                files: pong,
            },
        ]
    }

    fn activities(&self) -> Activities {
        dsf_processes::ping_pong::PingPong.activities()
    }
}

fn reference_plugins() -> Vec<Arc<dyn ProcessPlugin>> {
    vec![Arc::new(ReferencePingPong)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_references_models_ping_every_other_site() {
    super::ping_every_other_site(Backend::Sqlite, reference_plugins).await;
}
