//! The `scan` job: make sure the inputs are in a lake (a per-input cache by default, a lake
//! the user names, or a throwaway one), summarize the lake, then evaluate the rules over its
//! events (narrowed by time, account and region filters) and apply waivers to the findings.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use polars::prelude::{col, lit, DataType, Expr, LazyFrame};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ingest::integrity::Integrity;
use crate::ingest::lake::Lake;
use crate::ingest::manifest::lake_error;
use crate::ingest::schema::{AWS_REGION, EVENT_TIME, RECIPIENT_ACCOUNT_ID};
use crate::ingest::{ingest, IngestOptions, IngestReport, Observer};
use crate::rules::finding::sort_findings;
use crate::rules::waiver::{self, WaivedFinding, Waiver};
use crate::rules::{evaluate, scan_parts, EvalError, EvalOptions, Finding, Rule, Severity};
use crate::summary::{summarize, EventSummary};
use crate::trail::decode::hex;
use crate::trail::discover::{discover, IgnoreReason, STDIN};
use crate::trail::problem::Problem;

/// Environment variable that overrides the cache directory.
pub const CACHE_DIR_ENV: &str = "KMS_AUDIT_CACHE_DIR";

/// Which lake a scan uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeChoice {
    /// A lake per set of inputs under this cache directory, reused by the next scan of the
    /// same inputs.
    Cache(PathBuf),
    /// The lake the user named: the inputs are added to it and all of it is summarized.
    Dir(PathBuf),
    /// A temporary lake, removed afterwards.
    None,
}

/// The default cache directory: `$KMS_AUDIT_CACHE_DIR`, else the platform cache directory
/// (`~/.cache/kms-audit` on Linux), else `.kms-audit-cache` in the working directory.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os(CACHE_DIR_ENV)
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("kms-audit")))
        .unwrap_or_else(|| PathBuf::from(".kms-audit-cache"))
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Ingestion settings (strict mode, threads, memory).
    pub ingest: IngestOptions,
    /// How many values each breakdown lists.
    pub top: usize,
    /// The rules to evaluate and what to do with their findings.
    pub findings: FindingOptions,
}

/// What the findings part of a scan evaluates, and how.
#[derive(Debug, Clone)]
pub struct FindingOptions {
    /// The rules, with settings applied (disabled rules already removed).
    pub rules: Vec<Rule>,
    /// Which events the rules see.
    pub filter: EventFilter,
    /// Waivers to apply to the findings.
    pub waivers: Vec<Waiver>,
    /// The day waiver expiry is judged on.
    pub today: NaiveDate,
    /// Evaluation settings (evidence per finding).
    pub eval: EvalOptions,
}

impl Default for FindingOptions {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            filter: EventFilter::default(),
            waivers: Vec::new(),
            today: Utc::now().date_naive(),
            eval: EvalOptions::default(),
        }
    }
}

/// Which events the rules are evaluated over; empty parts do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventFilter {
    /// Events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Events at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Events whose `recipientAccountId` is one of these.
    pub accounts: Vec<String>,
    /// Events whose `awsRegion` is one of these.
    pub regions: Vec<String>,
}

impl EventFilter {
    /// Whether the filter keeps every event.
    pub fn is_empty(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.accounts.is_empty()
            && self.regions.is_empty()
    }

    /// `events` narrowed to the filter.
    pub fn apply(&self, events: LazyFrame) -> LazyFrame {
        let mut conditions: Vec<Expr> = Vec::new();
        let time = || col(EVENT_TIME).cast(DataType::Int64);
        if let Some(since) = self.since {
            conditions.push(time().gt_eq(lit(since.timestamp_micros())));
        }
        if let Some(until) = self.until {
            conditions.push(time().lt_eq(lit(until.timestamp_micros())));
        }
        for (column, values) in [
            (RECIPIENT_ACCOUNT_ID, &self.accounts),
            (AWS_REGION, &self.regions),
        ] {
            let any = values
                .iter()
                .map(|v| col(column).cast(DataType::String).eq(lit(v.clone())))
                .reduce(Expr::or);
            conditions.extend(any);
        }
        match conditions.into_iter().reduce(Expr::and) {
            Some(condition) => events.filter(condition),
            None => events,
        }
    }
}

/// Parses a `--since` / `--until` value: RFC 3339 (`2024-05-01T12:00:00Z`), or a date
/// (`2024-05-01`), which stands for the start of the day or, with `end_of_day`, its last
/// microsecond (UTC).
pub fn parse_time(text: &str, end_of_day: bool) -> std::result::Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!("`{text}` is not a time: use RFC 3339 (2024-05-01T12:00:00Z) or YYYY-MM-DD")
    })?;
    let time = if end_of_day {
        date.and_hms_micro_opt(23, 59, 59, 999_999)
    } else {
        date.and_hms_opt(0, 0, 0)
    };
    time.map(|t| t.and_utc())
        .ok_or_else(|| format!("`{text}` is out of range"))
}

/// A rule as the findings report lists it (SARIF `tool.driver.rules`, JUnit test cases).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleInfo {
    /// Stable id.
    pub id: String,
    /// Name of the flagged pattern.
    pub name: String,
    /// Title.
    pub title: String,
    /// Severity of its findings.
    pub severity: Severity,
    /// What it flags.
    pub what: String,
    /// Why it matters, when stated.
    pub why: Option<String>,
    /// What to do, when stated.
    pub remediation: Option<String>,
    /// Links.
    pub references: Vec<String>,
}

impl RuleInfo {
    fn of(rule: &Rule) -> Self {
        Self {
            id: rule.id.clone(),
            name: rule.name.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            what: rule.what.clone(),
            why: rule.why.clone(),
            remediation: rule.remediation.clone(),
            references: rule.references.clone(),
        }
    }

    /// The pseudo-rule of expired waivers.
    fn expired_waiver() -> Self {
        Self {
            id: waiver::EXPIRED_RULE_ID.to_owned(),
            name: waiver::EXPIRED_RULE_NAME.to_owned(),
            title: waiver::EXPIRED_TITLE.to_owned(),
            severity: waiver::EXPIRED_SEVERITY,
            what: waiver::EXPIRED_WHAT.to_owned(),
            why: Some(waiver::EXPIRED_WHY.to_owned()),
            remediation: Some(waiver::EXPIRED_REMEDIATION.to_owned()),
            references: Vec::new(),
        }
    }
}

/// Open findings per severity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    /// Critical findings.
    pub critical: u64,
    /// High findings.
    pub high: u64,
    /// Medium findings.
    pub medium: u64,
    /// Low findings.
    pub low: u64,
    /// Info findings.
    pub info: u64,
}

impl SeverityCounts {
    fn add(&mut self, severity: Severity) {
        let slot = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Info => &mut self.info,
        };
        *slot += 1;
    }
}

/// What the rules found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FindingsReport {
    /// The rules evaluated, in id order (plus `KMS.WAIVER.EXPIRED` when waivers were given).
    pub rules: Vec<RuleInfo>,
    /// The event filter applied before evaluation.
    pub filter: EventFilter,
    /// Events the rules were evaluated over (after the filter).
    pub events_evaluated: u64,
    /// Open findings per severity.
    pub counts: SeverityCounts,
    /// Findings not covered by a live waiver (including expired waivers), most severe first.
    pub findings: Vec<Finding>,
    /// Findings covered by a live waiver, most severe first.
    pub waived: Vec<WaivedFinding>,
}

impl FindingsReport {
    /// Whether an open finding is at or above `threshold` (`--fail-on`).
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }
}

/// Counts over the input files behind a scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InputTotals {
    /// Files found under the inputs by this scan.
    pub files_found: u64,
    /// Files whose events are in the lake.
    pub files_in_lake: u64,
    /// Files read by this scan (the rest came from the lake unchanged).
    pub files_read_now: u64,
    /// Files that gave nothing usable.
    pub files_skipped: u64,
    /// Files in the lake that had some damage.
    pub files_damaged: u64,
    /// Files seen in directories but not read, by reason.
    pub files_ignored: BTreeMap<IgnoreReason, u64>,
    /// Records parsed.
    pub records_read: u64,
    /// Records stored (distinct `eventID`s).
    pub records_stored: u64,
    /// Records dropped as repeats of a stored `eventID`.
    pub records_duplicate: u64,
    /// Records that could not be read.
    pub records_skipped: u64,
    /// Uncompressed bytes of the files in the lake.
    pub bytes_uncompressed: u64,
    /// What validating the CloudTrail digest files in the lake found (absent without
    /// digests): the `log_integrity` view lists the problems.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integrity: Option<crate::ingest::manifest::IntegritySummary>,
}

/// Everything `scan` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// kms-audit version.
    pub tool_version: String,
    /// The lake analysed (`null` for a temporary one).
    pub lake: Option<String>,
    /// Input counts.
    pub input: InputTotals,
    /// The events.
    pub events: EventSummary,
    /// Every input problem: this run's, then those recorded when files were first ingested.
    pub problems: Vec<Problem>,
    /// What the rules found.
    pub findings: FindingsReport,
    /// How long each phase took: filled by [`scan`]; the CLI shows it only with `--timings`
    /// (absent from the JSON otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<ScanTimings>,
}

/// Wall-clock seconds of each phase of a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ScanTimings {
    /// Finding the input files and adding the new ones to the lake (near zero when the lake
    /// already holds them all).
    pub ingest_s: f64,
    /// Summarizing the lake's events (`events`).
    pub summary_s: f64,
    /// Evaluating the rules over the lake's events and applying the waivers (`findings`).
    pub rules_s: f64,
    /// The whole scan.
    pub total_s: f64,
}

/// Runs a scan of `inputs`.
pub fn scan(
    inputs: &[PathBuf],
    choice: &LakeChoice,
    options: &ScanOptions,
    observer: &dyn Observer,
) -> Result<ScanSummary> {
    let started = Instant::now();
    let discovery = discover(inputs)?;
    let uses_stdin = inputs.iter().any(|p| p.as_os_str() == STDIN);
    let temporary;
    let (root, shown) = match choice {
        LakeChoice::Dir(dir) => (dir.clone(), Some(dir.display().to_string())),
        LakeChoice::Cache(cache) if !uses_stdin => {
            let dir = cache.join("lakes").join(cache_key(inputs));
            (dir.clone(), Some(dir.display().to_string()))
        }
        _ => {
            temporary = tempfile::Builder::new()
                .prefix("kms-audit-lake-")
                .tempdir()
                .map_err(|err| {
                    lake_error(
                        &std::env::temp_dir(),
                        format!("temporary lake cannot be created: {err}"),
                    )
                })?;
            (temporary.path().to_path_buf(), None)
        }
    };
    let mut lake = Lake::open(&root)?;
    if matches!(choice, LakeChoice::Cache(_)) && cache_is_stale(&lake, &discovery) {
        drop(lake);
        std::fs::remove_dir_all(&root)
            .map_err(|err| lake_error(&root, format!("stale cache cannot be removed: {err}")))?;
        lake = Lake::open(&root)?;
    }
    let report = ingest(&discovery, &mut lake, &options.ingest, observer)?;
    let run = lake.manifest().runs.last().map_or(0, |r| r.id);
    let earlier_problems: Vec<Problem> = lake
        .manifest()
        .files
        .iter()
        .filter(|f| report.files_ingested == 0 || f.run != run)
        .flat_map(|f| f.problems.iter().cloned())
        .collect();
    if options.ingest.strict {
        if let Some(problem) = earlier_problems.first() {
            return Err(Error::Strict(problem.clone()));
        }
    }
    let ingested = Instant::now();
    let events = summarize(lake.root(), &lake.part_paths(), options.top)?;
    let input = totals(&lake, &report);
    let summarized = Instant::now();
    let findings = find(&lake, &options.findings)?;
    let found = Instant::now();
    let seconds = |from: Instant, to: Instant| (to - from).as_secs_f64();
    let timings = ScanTimings {
        ingest_s: seconds(started, ingested),
        summary_s: seconds(ingested, summarized),
        rules_s: seconds(summarized, found),
        total_s: seconds(started, found),
    };
    let mut problems = report.problems;
    problems.extend(earlier_problems);
    Ok(ScanSummary {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        lake: shown,
        input,
        events,
        problems,
        findings,
        timings: Some(timings),
    })
}

/// Evaluates the rules over the lake's events (filtered) and applies the waivers.
pub fn find(lake: &Lake, options: &FindingOptions) -> Result<FindingsReport> {
    let root = lake.root().to_path_buf();
    let failed = |err: EvalError| match err {
        EvalError::Polars(source) => Error::Analysis {
            path: root.clone(),
            source,
        },
        EvalError::Lake(err) => err,
        other => Error::Lake {
            path: root.clone(),
            message: format!("rule evaluation: {other}"),
        },
    };
    let mut rules: Vec<RuleInfo> = options.rules.iter().map(RuleInfo::of).collect();
    if !options.waivers.is_empty() {
        rules.push(RuleInfo::expired_waiver());
    }
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    let parts = lake.part_paths();
    let (found, events_evaluated) = if parts.is_empty() || options.rules.is_empty() {
        (Vec::new(), 0)
    } else {
        let events = options
            .filter
            .apply(scan_parts(&parts).map_err(|e| failed(EvalError::Polars(e)))?);
        let counted = events
            .clone()
            .select([polars::prelude::len().alias("n")])
            .collect()
            .map_err(|e| failed(EvalError::Polars(e)))?;
        let evaluated = counted
            .column("n")
            .and_then(|c| c.cast(&DataType::UInt64))
            .ok()
            .and_then(|c| c.u64().ok().and_then(|c| c.get(0)))
            .unwrap_or(0);
        let refs: Vec<&Rule> = options.rules.iter().collect();
        let mut eval = options.eval.clone();
        eval.integrity = Integrity::load(lake.root())?.map(std::sync::Arc::new);
        let outcome = evaluate(&refs, events, &eval).map_err(failed)?;
        (outcome.findings, evaluated)
    };
    let mut split = waiver::apply(found, &options.waivers, options.today);
    sort_findings(&mut split.open);
    let mut counts = SeverityCounts::default();
    for finding in &split.open {
        counts.add(finding.severity);
    }
    Ok(FindingsReport {
        rules,
        filter: options.filter.clone(),
        events_evaluated,
        counts,
        findings: split.open,
        waived: split.waived,
    })
}

/// The cache key of a set of inputs: their canonical paths, sorted, hashed.
fn cache_key(inputs: &[PathBuf]) -> String {
    let mut names: Vec<String> = inputs
        .iter()
        .map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    let digest = Sha256::digest(names.join("\n").as_bytes());
    hex(&digest[..12])
}

/// A cached lake holds a file (log or digest) that is no longer among the inputs: start it
/// again.
fn cache_is_stale(lake: &Lake, discovery: &crate::trail::discover::Discovery) -> bool {
    let present: HashSet<&str> = discovery
        .files
        .iter()
        .chain(&discovery.digests)
        .filter_map(|f| f.identity.as_deref())
        .collect();
    let manifest = lake.manifest();
    manifest
        .files
        .iter()
        .map(|f| f.identity.as_str())
        .chain(manifest.digests.iter().map(|d| d.identity.as_str()))
        .any(|identity| !present.contains(identity))
}

fn totals(lake: &Lake, report: &IngestReport) -> InputTotals {
    let files = &lake.manifest().files;
    InputTotals {
        files_found: report.files_found,
        files_in_lake: files.len() as u64,
        files_read_now: report.files_ingested + report.files_skipped,
        files_skipped: report.files_skipped,
        files_damaged: files.iter().filter(|f| !f.problems.is_empty()).count() as u64,
        files_ignored: report.files_ignored.clone(),
        records_read: files.iter().map(|f| f.records).sum(),
        records_stored: files.iter().map(|f| f.stored).sum(),
        records_duplicate: files.iter().map(|f| f.duplicates).sum(),
        records_skipped: files.iter().map(|f| f.skipped).sum::<u64>()
            + report.records_skipped_unrecorded,
        bytes_uncompressed: files.iter().map(|f| f.uncompressed_bytes).sum(),
        integrity: lake.manifest().integrity.clone(),
    }
}
