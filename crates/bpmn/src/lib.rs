//! A BPMN 2.0 process engine for the Data Sharing Framework, executing the DSF's process models in
//! their Camunda 7 dialect without edits.
//!
//! The crate does no I/O of its own. The [`engine::Engine`] moves tokens through a model until every
//! one of them waits, commits the changed instances to a [`store::Store`], and hands its host
//! [`exec::Effect`]s: class calls to make ([`exec::WorkItem`]), user tasks created, instances ended,
//! incidents. The host reports results back ([`engine::Engine::complete_work`]), correlates
//! messages, completes user tasks and fires due timers and jobs ([`engine::Engine::run_due`]).
//! [`runtime::Runtime`] is a small host that runs registered Rust implementations of
//! `camunda:class` names in-process; the engine then runs them in place inside each command
//! ([`engine::InlineClasses`]) instead of handing them out.
//!
//! The engine's methods are `async` only because they await the store: executing a model
//! ([`exec`]) never waits, and with [`store::MemoryStore`] every future is ready at once.
//!
//! Modules, along the data path:
//! - [`parse`] reads BPMN XML (filling `#{...}` deployment placeholders first) into [`model`]
//!   types, collecting every problem with its element id;
//! - [`expr`] parses and evaluates the JUEL subset of conditions, collections, timers, fields and
//!   parameters; [`timer`] reads ISO 8601 durations, dates and cycles;
//! - [`deploy`] checks a model as a deployment would (unsupported elements, dangling references,
//!   unknown classes, bad expressions, missing messages, unfilled placeholders);
//! - [`exec`] holds the instance state (scopes, tokens, waits, work items, history) and the
//!   behaviour of each element kind;
//! - [`engine`] is the API: deploy, start, correlate, signal, complete, query, suspend, delete;
//! - [`store`] is the persistence trait with an in-memory implementation; [`clock`] makes time
//!   injectable.
//!
//! Executed elements: none/message/timer/signal/conditional start events (process level and event
//! sub-processes, interrupting or not; error start events in event sub-processes), message, timer,
//! signal and conditional intermediate catch events, message and signal intermediate throw events,
//! none/message/error/signal/terminate end events, boundary events (error, timer, message, signal,
//! conditional; interrupting and non-interrupting), service, send, receive, user, manual and plain
//! tasks, embedded sub-processes, multi-instance (parallel and sequential, collection or
//! cardinality, completion condition), exclusive, parallel, inclusive and event-based gateways.
//! Timers take ISO 8601 `timeDuration`, `timeDate` and `timeCycle` values, and Quartz-style cron
//! expressions in `timeCycle`, literal or `${...}`.
//!
//! Camunda 7 extensions: `camunda:class` (resolved by the host), `camunda:field` (string and
//! expression), `camunda:inputOutput` (text, expression and template values), execution listeners
//! (`start`, `end`) and `create` task listeners, `asyncBefore`/`asyncAfter` (on activities and on
//! multi-instance loops), `failedJobRetryTimeCycle`, `errorCodeVariable`/`errorMessageVariable`,
//! `formKey`, `versionTag` (versions side by side), `#{...}` deployment placeholders. The engine
//! can add listeners to every deployed process ([`engine::EngineConfig::listeners`]), as the
//! reference adds its start, continue and end listeners.
//!
//! Failures: a class's BPMN error goes to the nearest matching error boundary event or error
//! event sub-process; a technical failure is retried per `failedJobRetryTimeCycle` (three attempts
//! by default) and then becomes an incident, as does an expression that cannot be evaluated or a
//! gateway without a flow to take. Incidents are resolved with
//! [`engine::Engine::retry_incident`].
//!
//! Durability: every command commits the instances it touched once they wait (for a message,
//! timer, user task, async continuation, or work handed out); an engine opened on the same store
//! resumes them, handing out unreported work again. Classes run in place are part of the command:
//! a crash before its commit runs them again from the last commit. Several engines may share a
//! store ([`engine::EngineConfig::lease`]): revisions detect concurrent changes, due instances are
//! leased to one engine, work handed out is locked and taken over when the lock expires.
//!
//! Not executed (deployment reports them): call activities, script and business rule tasks,
//! compensation, escalation, link and cancel events, complex gateways, transactions, standard
//! loops, `camunda:expression`/`delegateExpression`/external task implementations, list and map
//! parameters, listeners other than the ones above.
//!
//! ```
//! use dsf_bpmn::engine::Engine;
//! use dsf_bpmn::exec::InstanceState;
//! use dsf_bpmn::runtime::{DelegateContext, Registry, Runtime};
//! use dsf_bpmn::store::MemoryStore;
//! use dsf_bpmn::value::{Value, Variables};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let xml = r##"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
//!     xmlns:camunda="http://camunda.org/schema/1.0/bpmn">
//!   <bpmn:process id="hello" isExecutable="true" camunda:versionTag="#{version}">
//!     <bpmn:startEvent id="start" />
//!     <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="greet" />
//!     <bpmn:serviceTask id="greet" camunda:class="example.Greet" />
//!     <bpmn:sequenceFlow id="f2" sourceRef="greet" targetRef="end" />
//!     <bpmn:endEvent id="end" />
//!   </bpmn:process>
//! </bpmn:definitions>"##;
//!
//! let mut registry = Registry::new();
//! registry.register("example.Greet", |ctx: &mut DelegateContext<'_>| {
//!     let name = ctx.variable("name").map(Value::to_string).unwrap_or_default();
//!     ctx.set_variable("greeting", format!("hello {name}"));
//!     Ok(())
//! });
//! let mut runtime = Runtime::new(Engine::new(MemoryStore::new()).await?, registry);
//! let properties = [("version".to_owned(), "1.0".to_owned())].into();
//! runtime.deploy(xml, &properties).await?;
//! let variables = Variables::from([("name".to_owned(), Value::from("DSF"))]);
//! let id = runtime.engine_mut().start("hello", Some("1.0"), None, variables).await?;
//! runtime.run().await?;
//! let instance = runtime.engine().instance(id).await?.ok_or("instance not found")?;
//! assert_eq!(instance.state, InstanceState::Completed);
//! assert_eq!(instance.variables.get("greeting"), Some(&Value::from("hello DSF")));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod changes;
pub mod clock;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod exec;
pub mod expr;
pub mod model;
pub mod parse;
pub mod runtime;
pub mod store;
pub mod timer;
pub mod value;
