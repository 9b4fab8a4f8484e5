//! The evidence behind compliance reports (`kms-audit report`): make sure the inputs are in
//! a lake (the user's `--lake`, ingesting only new files, or a temporary one), evaluate the
//! rules over the events of the report window, apply the waivers, and gather what a report
//! states besides findings: the window the logs really cover, accounts and Regions, every
//! input file with its hash, the key inventory, silences in the logs, what validating the
//! digests found and use per day. [`crate::report::compliance::evaluate`] turns this into a
//! report per framework.
//!
//! The derived views are built once and serve both the `state` rules and the report (key
//! inventory, silences, integrity problems). Everything that names a file names it as the
//! user gave it (the lake manifest's `display`), never by its absolute path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use polars::prelude::*;

use crate::error::{Error, Result};
use crate::ingest::integrity::Integrity;
use crate::ingest::lake::Lake;
use crate::ingest::manifest::lake_error;
use crate::ingest::schema::{
    AWS_REGION, ERROR_CODE, EVENT_SOURCE, EVENT_TIME, KEY_ARN, RECIPIENT_ACCOUNT_ID,
};
use crate::ingest::{ingest, IngestOptions, IngestReport, Observer};
use crate::report::compliance::model::{
    Activity, CoverageStream, DayActivity, DigestFile, InputFile, IntegrityIssue, KeyDayActivity,
    KeyEntry,
};
use crate::rules::finding::sort_findings;
use crate::rules::model::{Body, Kind};
use crate::rules::views::{keys, log_coverage, Cell, View, ViewTable, Views, DAY_US};
use crate::rules::waiver::{self, Waiver};
use crate::rules::{evaluate, scan_parts, EvalError, EvalOptions, Finding, Rule, Severity};
use crate::scan::{EventFilter, FindingsReport, RuleInfo, SeverityCounts};
use crate::trail::discover::discover;
use crate::trail::problem::Problem;

/// The `eventSource` of KMS events.
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";

// Column aliases of the window queries.
const N: &str = "n";
const KMS_N: &str = "kms_n";
const ERRORS_N: &str = "errors_n";
const FIRST: &str = "first";
const LAST: &str = "last";
const DAY: &str = "day";
const ACCOUNT: &str = "account";
const REGION: &str = "region";
const KEY: &str = "key";

/// Which lake a report reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeSource {
    /// The user's lake: the inputs (if any) are added to it, only files it does not hold
    /// yet being read.
    Dir(PathBuf),
    /// A temporary lake for the inputs, removed afterwards.
    Temporary,
}

/// How to gather the evidence.
#[derive(Debug, Clone)]
pub struct AssessOptions {
    /// Ingestion settings.
    pub ingest: IngestOptions,
    /// The rules to evaluate, settings applied (turned-off rules removed).
    pub rules: Vec<Rule>,
    /// Which events the rules see (the report window).
    pub filter: EventFilter,
    /// Waivers to apply.
    pub waivers: Vec<Waiver>,
    /// The day waiver expiry is judged on (the report date).
    pub today: NaiveDate,
    /// Evidence per finding and the key inventory snapshot.
    pub eval: EvalOptions,
}

/// A silence of more than an hour in one account and Region (a row of the `log_coverage`
/// view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// `account/region@start`: the resource of a coverage finding about it.
    pub id: String,
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// The last event before, RFC 3339.
    pub start: String,
    /// The first event after (or the end of the logs), RFC 3339.
    pub end: String,
    /// Whole hours.
    pub hours: i64,
    /// Events the stream's usual rate predicts for it.
    pub expected_events: i64,
    /// Whether digests show it was really quiet (`None` without digests).
    pub digest_covered: Option<bool>,
}

/// The events of the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowStats {
    /// Events.
    pub events: u64,
    /// KMS events.
    pub kms_events: u64,
    /// First event, µs.
    pub first: Option<i64>,
    /// Last event, µs.
    pub last: Option<i64>,
}

impl WindowStats {
    /// Days from the first to the last event, with a fraction (0 without events).
    pub fn days(&self) -> f64 {
        match (self.first, self.last) {
            #[allow(clippy::cast_precision_loss)]
            (Some(first), Some(last)) => (last - first) as f64 / DAY_US as f64,
            _ => 0.0,
        }
    }

    /// UTC calendar days from the first event's to the last event's, both included (0
    /// without events).
    pub fn calendar_days(&self) -> u64 {
        match (self.first, self.last) {
            (Some(first), Some(last)) => {
                let days = last.div_euclid(DAY_US) - first.div_euclid(DAY_US) + 1;
                u64::try_from(days).unwrap_or(0)
            }
            _ => 0,
        }
    }
}

/// Everything a compliance report is built from.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// The lake, as given (`None` for a temporary one).
    pub lake: Option<String>,
    /// What this run's ingestion did (files read now, files already in the lake).
    pub ingest: IngestReport,
    /// Input problems: this run's, then those recorded when files were first ingested.
    pub problems: Vec<Problem>,
    /// The rules' findings over the window, waivers applied; file paths as given.
    pub findings: FindingsReport,
    /// The events of the window.
    pub window: WindowStats,
    /// All events the lake holds up to `--until`, whatever `--since` says: the retention
    /// evidence.
    pub all_logs: WindowStats,
    /// Accounts with events in the window, sorted.
    pub accounts: Vec<String>,
    /// Regions with events in the window, sorted.
    pub regions: Vec<String>,
    /// Per account and Region in the window.
    pub streams: Vec<CoverageStream>,
    /// Silences of more than an hour in the window, by account, Region and time.
    pub silences: Vec<Silence>,
    /// The `keys` view of the window.
    pub keys: Vec<KeyEntry>,
    /// Whether the lake holds CloudTrail digest files.
    pub has_digests: bool,
    /// Counts of the last digest validation (digests, files listed, verified, problems).
    pub integrity: Option<crate::ingest::manifest::IntegritySummary>,
    /// Every problem the digests reveal (whole lake).
    pub integrity_problems: Vec<IntegrityIssue>,
    /// Every log file in the lake, by path.
    pub inputs: Vec<InputFile>,
    /// Every digest file in the lake, by path.
    pub digests: Vec<DigestFile>,
    /// Use per day in the window.
    pub activity: Activity,
}

/// Gathers the evidence for reports over `inputs` (which may be empty with a lake).
pub fn assess(
    inputs: &[PathBuf],
    source: &LakeSource,
    options: &AssessOptions,
    observer: &dyn Observer,
) -> Result<Evidence> {
    let temporary;
    let (root, shown) = match source {
        LakeSource::Dir(dir) => (dir.clone(), Some(dir.display().to_string())),
        LakeSource::Temporary => {
            temporary = tempfile::Builder::new()
                .prefix("kms-audit-report-")
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
    let discovery = discover(inputs)?;
    let mut lake = Lake::open(&root)?;
    let report = ingest(&discovery, &mut lake, &options.ingest, observer)?;
    let run = lake.manifest().runs.last().map_or(0, |r| r.id);
    let earlier: Vec<Problem> = lake
        .manifest()
        .files
        .iter()
        .filter(|f| report.files_ingested == 0 || f.run != run)
        .flat_map(|f| f.problems.iter().cloned())
        .collect();
    if options.ingest.strict {
        if let Some(problem) = earlier.first() {
            return Err(Error::Strict(problem.clone()));
        }
    }
    let mut problems = report.problems.clone();
    problems.extend(earlier);

    let analysis = |source: PolarsError| Error::Analysis {
        path: root.clone(),
        source,
    };
    let parts = lake.part_paths();
    let integrity = Integrity::load(lake.root())?;
    let paths = PathNames::of(&lake);

    let (findings, window, all_logs, streams, activity, views) = if parts.is_empty() {
        let findings = finish_findings(&options.rules, Vec::new(), 0, options);
        (
            findings,
            WindowStats::default(),
            WindowStats::default(),
            Vec::new(),
            Activity::default(),
            None,
        )
    } else {
        let all = scan_parts(&parts).map_err(analysis)?;
        let events = options.filter.apply(all.clone());
        let window = window_stats(&events).map_err(analysis)?;
        // Retention is measured on every log read, up to --until only.
        let read = EventFilter {
            until: options.filter.until,
            ..EventFilter::default()
        };
        let all_logs = window_stats(&read.apply(all)).map_err(analysis)?;
        let streams = streams(&events).map_err(analysis)?;
        let activity = activity(&events).map_err(analysis)?;
        let mut eval = options.eval.clone();
        eval.integrity = integrity.clone().map(Arc::new);
        let failed = |err: EvalError| match err {
            EvalError::Polars(source) => analysis(source),
            EvalError::Lake(err) => err,
            other => lake_error(&root, format!("rule evaluation: {other}")),
        };
        // The views serve the state rules and the report: built once.
        let views = Views::build_with(
            events.clone(),
            eval.inventory.as_deref(),
            eval.integrity.as_deref(),
            &|_| true,
        )
        .map_err(failed)?;
        let state: Vec<&Rule> = options
            .rules
            .iter()
            .filter(|r| r.kind == Kind::State)
            .collect();
        let others: Vec<&Rule> = options
            .rules
            .iter()
            .filter(|r| r.kind != Kind::State)
            .collect();
        let mut found = crate::rules::state::evaluate_views(&state, &views, &eval).findings;
        if !others.is_empty() {
            found.extend(evaluate(&others, events, &eval).map_err(failed)?.findings);
        }
        let findings = finish_findings(&options.rules, found, window.events, options);
        (findings, window, all_logs, streams, activity, Some(views))
    };

    let mut findings = findings;
    for finding in findings
        .findings
        .iter_mut()
        .chain(findings.waived.iter_mut().map(|w| &mut w.finding))
    {
        paths.rename_evidence(finding);
    }
    let keys = views.as_ref().map(key_entries).unwrap_or_default();
    let silences = views
        .as_ref()
        .map(|v| silences(&v.log_coverage))
        .unwrap_or_default();
    let integrity_problems = integrity
        .as_ref()
        .map(|i| {
            i.problems
                .iter()
                .map(|p| IntegrityIssue {
                    problem: p.problem.as_str().to_owned(),
                    account: p.account.clone(),
                    region: p.region.clone(),
                    object: p.object.clone(),
                    detail: p.detail.clone(),
                    digest_end: p.digest_end.map(crate::rules::finding::rfc3339),
                    source_file: paths.name(&p.source_file),
                })
                .collect()
        })
        .unwrap_or_default();
    let (accounts, regions) = accounts_and_regions(&streams);
    let manifest = lake.manifest();
    let mut inputs: Vec<InputFile> = manifest
        .files
        .iter()
        .map(|f| InputFile {
            path: f.display.clone(),
            sha256: f.sha256.clone(),
            records: f.records,
            skipped: f.skipped,
            problems: f.problems.len() as u64,
        })
        .collect();
    inputs.sort_by(|a, b| a.path.cmp(&b.path));
    let mut digests: Vec<DigestFile> = manifest
        .digests
        .iter()
        .map(|d| DigestFile {
            path: d.display.clone(),
            content_sha256: d.content_sha256.clone(),
        })
        .collect();
    digests.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Evidence {
        lake: shown,
        ingest: report,
        problems,
        findings,
        window,
        all_logs,
        accounts,
        regions,
        streams,
        silences,
        keys,
        has_digests: !manifest.digests.is_empty(),
        integrity: manifest.integrity.clone(),
        integrity_problems,
        inputs,
        digests,
        activity,
    })
}

/// Applies the waivers and counts, as `scan` does.
fn finish_findings(
    rules: &[Rule],
    found: Vec<Finding>,
    events: u64,
    options: &AssessOptions,
) -> FindingsReport {
    let mut infos: Vec<RuleInfo> = rules
        .iter()
        .map(|rule| RuleInfo {
            id: rule.id.clone(),
            name: rule.name.clone(),
            title: rule.title.clone(),
            severity: rule.severity,
            what: rule.what.clone(),
            why: rule.why.clone(),
            remediation: rule.remediation.clone(),
            references: rule.references.clone(),
        })
        .collect();
    infos.sort_by(|a, b| a.id.cmp(&b.id));
    let mut split = waiver::apply(found, &options.waivers, options.today);
    sort_findings(&mut split.open);
    let mut counts = SeverityCounts::default();
    for finding in &split.open {
        let slot = match finding.severity {
            Severity::Critical => &mut counts.critical,
            Severity::High => &mut counts.high,
            Severity::Medium => &mut counts.medium,
            Severity::Low => &mut counts.low,
            Severity::Info => &mut counts.info,
        };
        *slot += 1;
    }
    FindingsReport {
        rules: infos,
        filter: options.filter.clone(),
        events_evaluated: events,
        counts,
        findings: split.open,
        waived: split.waived,
    }
}

/// File names as the user gave them, by the identity (absolute path) the lake records.
struct PathNames {
    by_identity: HashMap<String, String>,
}

impl PathNames {
    fn of(lake: &Lake) -> Self {
        let manifest = lake.manifest();
        let by_identity = manifest
            .files
            .iter()
            .map(|f| (f.identity.clone(), f.display.clone()))
            .chain(
                manifest
                    .digests
                    .iter()
                    .map(|d| (d.identity.clone(), d.display.clone())),
            )
            .collect();
        Self { by_identity }
    }

    fn name(&self, identity: &str) -> String {
        self.by_identity
            .get(identity)
            .cloned()
            .unwrap_or_else(|| identity.to_owned())
    }

    fn rename_evidence(&self, finding: &mut Finding) {
        for evidence in &mut finding.evidence {
            if let Some(shown) = self.by_identity.get(&evidence.source_file) {
                evidence.source_file.clone_from(shown);
            }
        }
    }
}

fn text(name: &str) -> Expr {
    col(name).cast(DataType::String)
}

fn time() -> Expr {
    col(EVENT_TIME).cast(DataType::Int64)
}

fn first_u64(frame: &DataFrame, name: &str) -> PolarsResult<Option<u64>> {
    let column = frame.column(name)?.cast(&DataType::UInt64)?;
    Ok(column.u64()?.get(0))
}

fn first_i64(frame: &DataFrame, name: &str) -> PolarsResult<Option<i64>> {
    let column = frame.column(name)?.cast(&DataType::Int64)?;
    Ok(column.i64()?.get(0))
}

fn window_stats(events: &LazyFrame) -> PolarsResult<WindowStats> {
    let frame = events
        .clone()
        .select([
            len().alias(N),
            text(EVENT_SOURCE)
                .eq(lit(KMS_EVENT_SOURCE))
                .cast(DataType::UInt64)
                .sum()
                .alias(KMS_N),
            time().min().alias(FIRST),
            time().max().alias(LAST),
        ])
        .collect()?;
    Ok(WindowStats {
        events: first_u64(&frame, N)?.unwrap_or(0),
        kms_events: first_u64(&frame, KMS_N)?.unwrap_or(0),
        first: first_i64(&frame, FIRST)?,
        last: first_i64(&frame, LAST)?,
    })
}

fn streams(events: &LazyFrame) -> PolarsResult<Vec<CoverageStream>> {
    let frame = events
        .clone()
        .group_by([
            text(RECIPIENT_ACCOUNT_ID).alias(ACCOUNT),
            text(AWS_REGION).alias(REGION),
        ])
        .agg([
            len().alias(N),
            time().min().alias(FIRST),
            time().max().alias(LAST),
        ])
        .sort([ACCOUNT, REGION], SortMultipleOptions::default())
        .collect()?;
    let accounts = frame.column(ACCOUNT)?.str()?;
    let regions = frame.column(REGION)?.str()?;
    let counts = frame.column(N)?.cast(&DataType::UInt64)?;
    let counts = counts.u64()?;
    let firsts = frame.column(FIRST)?.i64()?;
    let lasts = frame.column(LAST)?.i64()?;
    let mut out = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        let (Some(account), Some(region)) = (accounts.get(row), regions.get(row)) else {
            continue;
        };
        out.push(CoverageStream {
            account: account.to_owned(),
            region: region.to_owned(),
            first_event: crate::rules::finding::rfc3339(firsts.get(row).unwrap_or_default()),
            last_event: crate::rules::finding::rfc3339(lasts.get(row).unwrap_or_default()),
            events: counts.get(row).unwrap_or_default(),
        });
    }
    Ok(out)
}

fn accounts_and_regions(streams: &[CoverageStream]) -> (Vec<String>, Vec<String>) {
    let mut accounts: Vec<String> = streams.iter().map(|s| s.account.clone()).collect();
    let mut regions: Vec<String> = streams.iter().map(|s| s.region.clone()).collect();
    accounts.sort();
    accounts.dedup();
    regions.sort();
    regions.dedup();
    (accounts, regions)
}

/// The day (days since the epoch) of an event.
fn day() -> Expr {
    col(EVENT_TIME)
        .cast(DataType::Date)
        .cast(DataType::Int32)
        .cast(DataType::Int64)
        .alias(DAY)
}

fn date_of(day: i64) -> String {
    chrono::DateTime::from_timestamp_micros(day.saturating_mul(DAY_US))
        .map(|t| t.date_naive().format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn activity(events: &LazyFrame) -> PolarsResult<Activity> {
    let failed = || col(ERROR_CODE).is_not_null().cast(DataType::UInt64).sum();
    let frame = events
        .clone()
        .group_by([day()])
        .agg([
            len().alias(N),
            text(EVENT_SOURCE)
                .eq(lit(KMS_EVENT_SOURCE))
                .cast(DataType::UInt64)
                .sum()
                .alias(KMS_N),
            failed().alias(ERRORS_N),
        ])
        .sort([DAY], SortMultipleOptions::default())
        .collect()?;
    let days_col = frame.column(DAY)?.cast(&DataType::Int64)?;
    let days_col = days_col.i64()?;
    let counts = frame.column(N)?.cast(&DataType::UInt64)?;
    let kms = frame.column(KMS_N)?.cast(&DataType::UInt64)?;
    let errors = frame.column(ERRORS_N)?.cast(&DataType::UInt64)?;
    let (counts, kms, errors) = (counts.u64()?, kms.u64()?, errors.u64()?);
    let days = (0..frame.height())
        .filter_map(|row| {
            Some(DayActivity {
                date: date_of(days_col.get(row)?),
                events: counts.get(row).unwrap_or_default(),
                kms_events: kms.get(row).unwrap_or_default(),
                errors: errors.get(row).unwrap_or_default(),
            })
        })
        .collect();

    let frame = events
        .clone()
        .filter(col(KEY_ARN).is_not_null())
        .group_by([text(KEY_ARN).alias(KEY), day()])
        .agg([len().alias(N), failed().alias(ERRORS_N)])
        .sort([KEY, DAY], SortMultipleOptions::default())
        .collect()?;
    let key_col = frame.column(KEY)?.str()?;
    let days_col = frame.column(DAY)?.cast(&DataType::Int64)?;
    let days_col = days_col.i64()?;
    let counts = frame.column(N)?.cast(&DataType::UInt64)?;
    let errors = frame.column(ERRORS_N)?.cast(&DataType::UInt64)?;
    let (counts, errors) = (counts.u64()?, errors.u64()?);
    let key_days = (0..frame.height())
        .filter_map(|row| {
            Some(KeyDayActivity {
                key_arn: key_col.get(row)?.to_owned(),
                date: date_of(days_col.get(row)?),
                calls: counts.get(row).unwrap_or_default(),
                errors: errors.get(row).unwrap_or_default(),
            })
        })
        .collect();
    Ok(Activity { days, key_days })
}

fn cell_text(table: &ViewTable, row: usize, column: &str) -> Option<String> {
    match table.get(row, column) {
        Cell::Text(t) => Some(t.clone()),
        _ => None,
    }
}

fn cell_int(table: &ViewTable, row: usize, column: &str) -> Option<i64> {
    match table.get(row, column) {
        Cell::Int(i) => Some(*i),
        _ => None,
    }
}

fn cell_bool(table: &ViewTable, row: usize, column: &str) -> Option<bool> {
    match table.get(row, column) {
        Cell::Bool(b) => Some(*b),
        _ => None,
    }
}

fn cell_time(table: &ViewTable, row: usize, column: &str) -> Option<String> {
    match table.get(row, column) {
        Cell::Time(t) => Some(crate::rules::finding::rfc3339(*t)),
        _ => None,
    }
}

fn key_entries(views: &Views) -> Vec<KeyEntry> {
    let table = views.table(View::Keys);
    let mut out: Vec<KeyEntry> = (0..table.rows.len())
        .filter_map(|row| {
            Some(KeyEntry {
                key_arn: cell_text(table, row, keys::KEY_ARN)?,
                account: cell_text(table, row, keys::ACCOUNT),
                region: cell_text(table, row, keys::REGION),
                key_spec: cell_text(table, row, keys::KEY_SPEC),
                key_usage: cell_text(table, row, keys::KEY_USAGE),
                origin: cell_text(table, row, keys::ORIGIN),
                key_manager: cell_text(table, row, keys::KEY_MANAGER),
                state: cell_text(table, row, keys::STATE),
                created: cell_time(table, row, keys::CREATED),
                rotation_enabled: cell_bool(table, row, keys::ROTATION_ENABLED),
                rotation_period_days: cell_int(table, row, keys::ROTATION_PERIOD_DAYS),
                last_rotation: cell_time(table, row, keys::LAST_ROTATION),
                rotation_age_days: cell_int(table, row, keys::MATERIAL_AGE_DAYS),
                can_rotate: cell_bool(table, row, keys::CAN_ROTATE),
                can_rotate_reason: cell_text(table, row, keys::ROTATE_REASON),
                last_used: cell_time(table, row, keys::LAST_USED),
                source: cell_text(table, row, keys::SOURCE),
            })
        })
        .collect();
    out.sort_by(|a, b| a.key_arn.cmp(&b.key_arn));
    out
}

fn silences(table: &ViewTable) -> Vec<Silence> {
    (0..table.rows.len())
        .filter_map(|row| {
            Some(Silence {
                id: cell_text(table, row, log_coverage::GAP)?,
                account: cell_text(table, row, log_coverage::ACCOUNT).unwrap_or_default(),
                region: cell_text(table, row, log_coverage::REGION).unwrap_or_default(),
                start: cell_time(table, row, log_coverage::GAP_START).unwrap_or_default(),
                end: cell_time(table, row, log_coverage::GAP_END).unwrap_or_default(),
                hours: cell_int(table, row, log_coverage::HOURS).unwrap_or_default(),
                expected_events: cell_int(table, row, log_coverage::EXPECTED_EVENTS)
                    .unwrap_or_default(),
                digest_covered: cell_bool(table, row, log_coverage::DIGEST_COVERED),
            })
        })
        .collect()
}

/// The view a `state` rule reads, if it is one.
pub fn rule_view(rule: &Rule) -> Option<View> {
    match &rule.body {
        Body::State(body) => Some(body.view),
        _ => None,
    }
}

/// A `report --since` / `--until` value: a time (RFC 3339, or a date: its start for
/// `--since`, its end for `--until`), or `Nd`, a number of days before the report date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSpec {
    /// A fixed time.
    At(chrono::DateTime<chrono::Utc>),
    /// `Nd`: N days before the report date (`--since 30d` is 00:00 UTC thirty days before
    /// the report date; `--until 1d` the end of the day before it).
    DaysBefore(u32),
}

impl TimeSpec {
    /// Parses `text`; `end_of_day` for `--until`.
    pub fn parse(text: &str, end_of_day: bool) -> std::result::Result<Self, String> {
        let trimmed = text.trim();
        if let Some(days) = trimmed.strip_suffix('d') {
            return days
                .parse::<u32>()
                .map(Self::DaysBefore)
                .map_err(|_| format!("`{text}` is not a number of days: write it like 30d"));
        }
        crate::scan::parse_time(trimmed, end_of_day)
            .map(Self::At)
            .map_err(|err| format!("{err}, or a number of days before the report date (30d)"))
    }

    /// The time meant, for a report dated `today`; `end_of_day` for `--until`.
    pub fn resolve(self, today: NaiveDate, end_of_day: bool) -> chrono::DateTime<chrono::Utc> {
        match self {
            Self::At(time) => time,
            Self::DaysBefore(days) => {
                let day = today - chrono::Days::new(u64::from(days));
                let time = if end_of_day {
                    day.and_hms_micro_opt(23, 59, 59, 999_999)
                } else {
                    day.and_hms_opt(0, 0, 0)
                };
                time.unwrap_or_default().and_utc()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn relative_times_count_back_from_the_report_date() {
        let today = date("2026-03-31");
        let since = TimeSpec::parse("30d", false).expect("parses");
        assert_eq!(since, TimeSpec::DaysBefore(30));
        assert_eq!(
            since.resolve(today, false).to_rfc3339(),
            "2026-03-01T00:00:00+00:00"
        );
        let until = TimeSpec::parse("1d", true).expect("parses");
        assert_eq!(
            until.resolve(today, true).to_rfc3339(),
            "2026-03-30T23:59:59.999999+00:00"
        );
        let fixed = TimeSpec::parse("2026-01-15", true).expect("parses");
        assert_eq!(
            fixed.resolve(today, true).to_rfc3339(),
            "2026-01-15T23:59:59.999999+00:00"
        );
        assert!(TimeSpec::parse("xd", false)
            .unwrap_err()
            .contains("not a number of days"));
        assert!(TimeSpec::parse("soon", false)
            .unwrap_err()
            .contains("number of days before the report date"));
    }

    #[test]
    fn calendar_days_count_first_and_last_day() {
        let at = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .expect("time")
                .timestamp_micros()
        };
        let stats = WindowStats {
            events: 2,
            kms_events: 2,
            first: Some(at("2025-01-01T00:05:00Z")),
            last: Some(at("2025-12-31T23:50:00Z")),
        };
        assert_eq!(stats.calendar_days(), 365);
        assert!(stats.days() < 365.0);
        assert_eq!(WindowStats::default().calendar_days(), 0);
    }
}
