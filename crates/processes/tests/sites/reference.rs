//! The reference's own models and FHIR resources (`../shared/fixtures`) of ping/pong (with
//! autostart), the allow list and hello world, unchanged, run with this project's activities registered
//! under the reference's class names, and give the results of this project's models.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;

use dsf_bpe::{Activities, FhirFile, ProcessModel, ProcessPlugin, ProcessResources};
use dsf_testkit::Backend;

/// The reference's ping-pong plugin files with the built-in plugin's activities.
struct ReferencePingPong;

/// A file of the reference's plugin `plugin` (`ping-pong`): its name and content.
fn fixture(plugin: &str, path: &str) -> (Cow<'static, str>, Cow<'static, str>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/plugins")
        .join(plugin);
    let content = std::fs::read_to_string(dir.join(path))
        .expect("the reference's plugins in ../shared/fixtures");
    (path.to_owned().into(), content.into())
}

fn models(plugin: &str, paths: &[&str]) -> Vec<ProcessModel> {
    paths
        .iter()
        .map(|p| {
            let (file, xml) = fixture(plugin, p);
            ProcessModel { file, xml }
        })
        .collect()
}

fn files(plugin: &str, paths: &[&str]) -> Vec<FhirFile> {
    paths
        .iter()
        .map(|p| {
            let (file, content) = fixture(plugin, &format!("fhir/{p}"));
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
        models(
            "ping-pong",
            &["bpe/ping.bpmn", "bpe/pong.bpmn", "bpe/ping-autostart.bpmn"],
        )
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
        let files = |paths: &[&str]| files("ping-pong", paths);
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
        let autostart = files(&[
            "CodeSystem/dsf-ping.xml",
            "ValueSet/dsf-ping.xml",
            "ActivityDefinition/dsf-ping-autostart.xml",
            "StructureDefinition/dsf-task-start-ping-autostart.xml",
            "StructureDefinition/dsf-task-stop-ping-autostart.xml",
            "Task/dsf-task-start-ping-autostart.xml",
            "Task/dsf-task-stop-ping-autostart.xml",
        ]);
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
        dsf_processes::ping_pong::PingPong.activities()
    }
}

/// The reference's allow list plugin files with the built-in plugin's activities.
struct ReferenceAllowList;

impl ProcessPlugin for ReferenceAllowList {
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
        models(
            "allow-list",
            &["bpe/update-allow-list.bpmn", "bpe/download-allow-list.bpmn"],
        )
    }

    fn resources(&self) -> Vec<ProcessResources> {
        let files = |paths: &[&str]| files("allow-list", paths);
        let shared = [
            "CodeSystem/dsf-allow-list.xml",
            "ValueSet/dsf-allow-list.xml",
        ];
        let mut update = files(&shared);
        update.extend(files(&[
            "ActivityDefinition/dsf-update-allow-list.xml",
            "StructureDefinition/dsf-task-update-allow-list.xml",
            "Task/dsf-task-update-allow-list.xml",
        ]));
        let mut download = files(&shared);
        download.extend(files(&[
            "ActivityDefinition/dsf-download-allow-list.xml",
            "StructureDefinition/dsf-task-download-allow-list.xml",
            "Task/dsf-task-download-allow-list.xml",
        ]));
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
        dsf_processes::allow_list::AllowList.activities()
    }
}

/// The reference's hello-world plugin files with the built-in plugin's activities.
struct ReferenceHelloWorld;

impl ProcessPlugin for ReferenceHelloWorld {
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
        models(
            "hello-world",
            &["bpe/hello-world.bpmn", "bpe/hello-user.bpmn"],
        )
    }

    fn resources(&self) -> Vec<ProcessResources> {
        let shared = [
            "CodeSystem/dsf-hello-world.xml",
            "ValueSet/dsf-hello-world.xml",
        ];
        let mut world = files("hello-world", &shared);
        world.extend(files(
            "hello-world",
            &[
                "ActivityDefinition/dsf-hello-world.xml",
                "StructureDefinition/dsf-task-hello-world.xml",
                "Task/dsf-task-hello-world.xml",
            ],
        ));
        let mut user = files("hello-world", &shared);
        user.extend(files(
            "hello-world",
            &[
                "ActivityDefinition/dsf-hello-user.xml",
                "StructureDefinition/dsf-task-hello-user.xml",
                "Questionnaire/dsf-hello-user.xml",
                "Task/dsf-task-hello-user.xml",
            ],
        ));
        vec![
            ProcessResources {
                process_id: "dsfdev_helloWorld".into(),
                files: world,
            },
            ProcessResources {
                process_id: "dsfdev_helloUser".into(),
                files: user,
            },
        ]
    }

    fn activities(&self) -> Activities {
        dsf_processes::hello_world::HelloWorld.activities()
    }
}

fn reference_hello_world() -> Vec<Arc<dyn ProcessPlugin>> {
    vec![Arc::new(ReferenceHelloWorld)]
}

fn reference_plugins() -> Vec<Arc<dyn ProcessPlugin>> {
    vec![Arc::new(ReferencePingPong)]
}

fn reference_allow_list() -> Vec<Arc<dyn ProcessPlugin>> {
    vec![Arc::new(ReferenceAllowList)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_references_models_ping_every_other_site() {
    super::ping_every_other_site(Backend::Sqlite, reference_plugins).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_references_autostart_pings_until_stopped() {
    super::autostart::autostart_pings_until_stopped(reference_plugins).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_references_allow_list_is_published_and_downloaded() {
    super::allow_list::publish_and_download(Backend::Sqlite, reference_allow_list).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_references_hello_user_takes_the_answers() {
    super::user_task::answer_hello_user(reference_hello_world).await;
}
