//! Timer start events kept in the database: engines sharing it start one instance per due time,
//! and a due time that fell while no engine ran starts one instance after the restart.

use std::collections::HashMap;

use dsf_bpmn::clock::Clock;
use dsf_testkit::{Backend, TestDb, both_backends};
use time::Duration;

use crate::common::{Counts, clock, open_store, registry, runtime};

/// Starts on the hour (a Quartz cron cycle) and counts its runs.
const HOURLY: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <bpmn:process id="hourly" isExecutable="true">
    <bpmn:startEvent id="onTheHour">
      <bpmn:timerEventDefinition>
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">0 0 * * * ?</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="onTheHour" targetRef="count" />
    <bpmn:serviceTask id="count" camunda:class="test.Count" />
    <bpmn:sequenceFlow id="f2" sourceRef="count" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>"#;

const LEASE: Option<Duration> = Some(Duration::seconds(30));

async fn a_timer_start_fires_once_per_due_time_across_engines_and_restarts(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (counts, clock) = (Counts::default(), clock());
    let runs = || counts.get("test.Count", "");
    let mut a = runtime(
        open_store(&db).await,
        &clock,
        LEASE,
        registry(&counts, false),
    )
    .await;
    a.deploy(HOURLY, &HashMap::new()).await.expect("deploy");
    let mut b = runtime(
        open_store(&db).await,
        &clock,
        LEASE,
        registry(&counts, false),
    )
    .await;

    // 08:00 → due at 09:00 and 10:00; both engines run each time, one instance starts
    for hour in 1..=2 {
        clock.advance(Duration::hours(1));
        a.run().await.expect("run a");
        b.run().await.expect("run b");
        assert_eq!(runs(), hour);
    }
    drop((a, b));

    // no engine runs from 10:00 to 13:30: one instance for the missed due times, then hourly
    clock.advance(Duration::minutes(210));
    let mut c = runtime(
        open_store(&db).await,
        &clock,
        LEASE,
        registry(&counts, false),
    )
    .await;
    c.run().await.expect("run after restart");
    assert_eq!(runs(), 3);
    assert_eq!(
        c.engine().next_due(),
        Some(clock.now() + Duration::minutes(30)),
        "next due at 14:00"
    );
}

both_backends!(a_timer_start_fires_once_per_due_time_across_engines_and_restarts);
