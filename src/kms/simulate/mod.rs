//! The simulator: drives the KMS engine on a simulated clock from a scenario (accounts,
//! principals and their habits, keys, incidents) and writes the CloudTrail trail the engine
//! records plus `ground-truth.json`, the list of injected incidents a rule pack should flag.
//! The same scenario and seed give the same bytes.
//!
//! - [`scenario`]: the YAML file and its checks.
//! - [`actors`]: principals as callers, and the key policies naming them.
//! - [`plan`]: which calls happen when, and the ground-truth entries.
//! - [`run`]: the calls on the engine.

pub mod actors;
pub mod plan;
pub mod run;
pub mod scenario;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;

use crate::kms::audit::{AuditEvent, AuditSink, DigestConfig, FileSink, FileSinkConfig, SinkError};
use crate::kms::engine::clock::SimulatedClock;
use crate::kms::engine::error::KmsError;
use crate::kms::engine::{Engine, EngineConfig};
use actors::{account_actions_identity_policy, cross_account_identity_policy, Actor};
use plan::{day_start, TruthEntry};
use run::Runner;
pub use scenario::{IncidentType, Scenario, ScenarioError};

/// The name of the ground-truth file in the output directory.
pub const GROUND_TRUTH_FILE: &str = "ground-truth.json";

/// Why a simulation stopped.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is unusable.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The output directory already holds a trail.
    #[error("{}: already holds a trail (AWSLogs/); choose an empty directory or remove it", .0.display())]
    OutputNotEmpty(PathBuf),
    /// Writing output failed.
    #[error("{}: {source}", path.display())]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The trail could not be written.
    #[error("writing the trail: {0}")]
    Sink(#[from] SinkError),
    /// The engine failed (not a KMS error a caller would see: the audit sink failed).
    #[error("the KMS engine failed: {0}")]
    Engine(KmsError),
    /// A call the simulator made did not fit the API (a defect of the simulator or of an
    /// unusual scenario), or a set-up call failed.
    #[error("simulation request failed: {0}")]
    Request(String),
    /// A time computation left the supported range.
    #[error("simulated time out of range: {0}")]
    Time(String),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the trail (`AWSLogs/…`) and `ground-truth.json` go.
    pub out: PathBuf,
    /// The seed; `None` uses the scenario's.
    pub seed: Option<u64>,
    /// Minutes of event time one trail file covers; `None` uses the scenario's
    /// `file_minutes`, else 5 (as CloudTrail delivers).
    pub file_window_minutes: Option<i64>,
}

impl Options {
    /// Defaults: the scenario's seed, 5-minute files.
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            seed: None,
            file_window_minutes: None,
        }
    }
}

/// What a simulation did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The seed used.
    pub seed: u64,
    /// Records written to the trail (monitored accounts only).
    pub events_written: u64,
    /// Trail log files written.
    pub files_written: usize,
    /// Digest files written (unsigned: [`crate::kms::audit::digest_writer`]).
    pub digests_written: usize,
    /// API calls made (each recorded once per receiving account).
    pub calls: u64,
    /// Calls that failed, by error code.
    pub failures: BTreeMap<String, u64>,
    /// Lifecycle service events (rotations, deletions, expiries).
    pub service_events: u64,
    /// Incidents injected.
    pub incidents: usize,
    /// The ground-truth file.
    pub ground_truth: PathBuf,
}

/// `ground-truth.json`.
#[derive(Debug, Serialize)]
struct GroundTruth<'a> {
    scenario: &'a str,
    seed: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    monitored_accounts: Vec<&'a str>,
    events_written: u64,
    incidents: &'a [TruthEntry],
}

/// A sink that writes only what monitored accounts receive, and counts it.
struct MonitoredSink {
    inner: FileSink,
    monitored: BTreeSet<String>,
    written: AtomicU64,
}

impl AuditSink for MonitoredSink {
    fn record(&self, event: &AuditEvent) -> Result<(), SinkError> {
        if !self.monitored.contains(&event.recipient_account_id) {
            return Ok(());
        }
        self.inner.record(event)?;
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        self.inner.flush()
    }
}

/// The home Region of the simulated organization trail (in digest file names).
pub const TRAIL_HOME_REGION: &str = "us-east-1";

/// The simulated trail's name: the scenario's, as a trail name may be written.
fn trail_name(scenario: &str) -> String {
    let name: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}-trail", name.trim_matches('-'))
}

/// The bucket the simulated digests name.
fn bucket_name(scenario: &str) -> String {
    format!("kms-audit-{}", trail_name(scenario).to_ascii_lowercase())
}

/// Runs `scenario`, reporting each finished day to `progress(done, total)`.
pub fn simulate(
    scenario: &Scenario,
    options: &Options,
    progress: &mut dyn FnMut(u32, u32),
) -> Result<Summary, SimError> {
    let seed = options.seed.unwrap_or(scenario.seed);
    check_output(&options.out)?;
    let actors: Vec<Actor> = scenario
        .principals
        .iter()
        .map(|p| Actor::new(scenario, p))
        .collect();
    let roots = root_actors(scenario);
    let monitored: BTreeSet<String> = scenario
        .accounts
        .iter()
        .filter(|a| a.monitored)
        .map(|a| a.id.clone())
        .collect();
    let mut sink_config = FileSinkConfig::new(&options.out, seed ^ 0x7472_6169_6c5f_6e61);
    let minutes = options
        .file_window_minutes
        .or(scenario.file_minutes)
        .unwrap_or(5);
    sink_config.window = Duration::minutes(minutes.max(1));
    // Digests as CloudTrail with log file validation writes them: hourly, or one per file
    // window when a file covers more than an hour (the sample's daily files).
    sink_config.digests = Some(DigestConfig {
        period: Duration::minutes(minutes.max(60)),
        ..DigestConfig::hourly(
            &trail_name(&scenario.name),
            TRAIL_HOME_REGION,
            &bucket_name(&scenario.name),
        )
    });
    let sink = Arc::new(MonitoredSink {
        inner: FileSink::open(sink_config)?,
        monitored,
        written: AtomicU64::new(0),
    });
    let setup = plan::setup_actions(scenario);
    let first = setup
        .iter()
        .map(|a| a.time)
        .min()
        .unwrap_or_else(|| day_start(scenario, 0));
    let clock = Arc::new(SimulatedClock::new(first - Duration::minutes(1)));
    let engine = Engine::new(
        clock.clone(),
        sink.clone(),
        EngineConfig {
            identity_policies: identity_policies(scenario, &actors),
            seed: Some(seed),
            ..EngineConfig::default()
        },
    )
    .map_err(SimError::Engine)?;
    let mut plan_rng = ChaCha20Rng::seed_from_u64(seed);
    plan_rng.set_stream(1);
    let (mut incident_days, mut truth) = plan::incident_actions(scenario, &actors, &mut plan_rng);
    let mut runner = Runner::new(
        scenario,
        actors.clone(),
        roots,
        engine,
        clock,
        ChaCha20Rng::seed_from_u64(seed ^ 0x6361_6c6c_6572_7321),
    );
    for action in &setup {
        runner.run(action)?;
    }
    let mut actions = Vec::new();
    for day in 0..scenario.days {
        actions.clear();
        plan::habit_actions(scenario, &actors, day, &mut plan_rng, &mut actions);
        if let Some(extra) = incident_days.remove(&day) {
            actions.extend(extra);
        }
        actions.sort_by_key(|a| a.time);
        for action in &actions {
            runner.run(action)?;
        }
        progress(day + 1, scenario.days);
    }
    let end = day_start(scenario, scenario.days);
    runner.advance_to(end)?;
    sink.flush()?;
    sink.inner.finish(end)?;
    for (entry, incident) in truth.iter_mut().zip(&scenario.incidents) {
        let key = incident.key.as_deref().and_then(|n| scenario.key_index(n));
        entry.key = key.and_then(|k| runner.key_arn(k)).map(str::to_owned);
        let foreign = incident
            .foreign_key
            .as_deref()
            .and_then(|n| scenario.key_index(n));
        entry.foreign_key = foreign.and_then(|k| runner.key_arn(k)).map(str::to_owned);
    }
    let events_written = sink.written.load(Ordering::Relaxed);
    let ground_truth = options.out.join(GROUND_TRUTH_FILE);
    let document = GroundTruth {
        scenario: &scenario.name,
        seed,
        start: day_start(scenario, 0),
        end,
        monitored_accounts: sink.monitored.iter().map(String::as_str).collect(),
        events_written,
        incidents: &truth,
    };
    write_json(&ground_truth, &document)?;
    Ok(Summary {
        seed,
        events_written,
        files_written: sink.inner.written_files()?.len(),
        digests_written: sink.inner.written_digests()?.len(),
        calls: runner.stats.calls,
        failures: runner.stats.failures.clone(),
        service_events: runner.stats.service_events,
        incidents: truth.len(),
        ground_truth,
    })
}

/// Refuses an output directory that already holds a trail: two runs in one directory would
/// mix their events.
fn check_output(out: &Path) -> Result<(), SimError> {
    let logs = out.join("AWSLogs");
    let holds_files = std::fs::read_dir(&logs).is_ok_and(|mut entries| entries.next().is_some());
    if holds_files {
        return Err(SimError::OutputNotEmpty(out.to_owned()));
    }
    Ok(())
}

/// An account-root actor for every account whose keys have no administrator.
fn root_actors(scenario: &Scenario) -> BTreeMap<String, Actor> {
    scenario
        .keys
        .iter()
        .filter(|k| k.admins.is_empty())
        .map(|k| {
            let principal = scenario::Principal {
                name: format!("{}-root", k.account),
                account: k.account.clone(),
                kind: scenario::PrincipalKind::Root,
                iam_name: None,
                duty: scenario::Duty::Admin,
                networks: Vec::new(),
                user_agents: Vec::new(),
                hours: None,
                weekdays: false,
                via_service: None,
                habits: Vec::new(),
            };
            (k.account.clone(), Actor::new(scenario, &principal))
        })
        .collect()
}

/// The identity policies of the scenario's principals: the account-level permissions each
/// needs (`kms:CreateKey` and `kms:TagResource` for key administrators, who create the keys
/// with tags; the `ListKeys`, `ListAliases` and `GenerateRandom` its habits call), which IAM
/// alone decides; and the use of keys of other accounts that name them (a cross-account call
/// needs both the key policy and the caller's own account to allow it), including a
/// ransomware incident's foreign key.
fn identity_policies(scenario: &Scenario, actors: &[Actor]) -> BTreeMap<String, Vec<String>> {
    let mut policies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (p, principal) in scenario.principals.iter().enumerate() {
        let mut actions: BTreeSet<String> = principal
            .habits
            .iter()
            .flat_map(|h| h.operations.keys())
            .filter(|op| scenario::habit_operation_needs_key(op) == Some(false))
            .map(|op| format!("kms:{op}"))
            .collect();
        if scenario
            .keys
            .iter()
            .any(|k| k.admins.contains(&principal.name))
        {
            actions.extend(["kms:CreateKey".to_owned(), "kms:TagResource".to_owned()]);
        }
        if !actions.is_empty() && actors[p].kind != scenario::PrincipalKind::Root {
            policies
                .entry(actors[p].arn.clone())
                .or_default()
                .push(account_actions_identity_policy(&actions));
        }
    }
    let mut wanted: BTreeSet<(usize, String)> = BTreeSet::new();
    for key in &scenario.keys {
        for user in &key.users {
            if let Some(p) = scenario.principal_index(user) {
                if actors[p].account != key.account {
                    wanted.insert((p, key.account.clone()));
                }
            }
        }
    }
    for incident in &scenario.incidents {
        let p = incident
            .principal
            .as_deref()
            .and_then(|n| scenario.principal_index(n));
        let foreign = incident
            .foreign_key
            .as_deref()
            .and_then(|n| scenario.key_index(n));
        if let (Some(p), Some(f)) = (p, foreign) {
            wanted.insert((p, scenario.keys[f].account.clone()));
        }
    }
    for (p, account) in wanted {
        policies
            .entry(actors[p].arn.clone())
            .or_default()
            .push(cross_account_identity_policy(&account));
    }
    policies
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), SimError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|err| SimError::Output {
        path: path.to_owned(),
        source: std::io::Error::other(err),
    })?;
    text.push(b'\n');
    std::fs::write(path, text).map_err(|source| SimError::Output {
        path: path.to_owned(),
        source,
    })
}
