//! The compliance report model: what `kms-audit report` knows about one framework after one
//! run, independent of any output format. Every renderer (Markdown, JSON, CSV, HTML, OSCAL)
//! reads only this model; the JSON format *is* this model serialized, so field names are
//! stable and documented in `docs/report-formats.md`. Fields are only ever added.
//!
//! Conventions: times are RFC 3339 UTC text (`2026-08-01T12:00:00Z`), dates `YYYY-MM-DD`;
//! file paths are as given on the command line (relative when given relative), never the
//! checkout's absolute location; lists have a deterministic order (documented per field) so
//! that two reports of the same inputs are byte-identical and diff cleanly.

use serde::Serialize;

use crate::rules::params::ParamValue;
use crate::rules::Severity;

/// The value of [`ComplianceReport::format`].
pub const REPORT_FORMAT: &str = "kms-audit-compliance-report";

/// The version of the report model: raised only when a field changes meaning or is removed
/// (adding fields keeps it).
pub const REPORT_FORMAT_VERSION: u32 = 1;

/// A compliance report of one framework.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    /// [`REPORT_FORMAT_VERSION`].
    pub format_version: u32,
    /// What was assessed, from which inputs, with which settings.
    pub scope: Scope,
    /// Score, status counts, failing sections, finding counts.
    pub summary: Summary,
    /// Every requirement of the catalog, in catalog order (never omitted).
    pub requirements: Vec<RequirementResult>,
    /// The findings of the rules the catalog maps, and those that make evidence
    /// insufficient (coverage gaps, integrity problems): open ones first, then waived ones,
    /// each most severe first, then by rule id, resource and principal. Requirements refer
    /// to them by id.
    pub findings: Vec<ReportFinding>,
    /// Every waiver given, live or expired, in file order.
    pub waivers: Vec<WaiverEntry>,
    /// The keys seen in the logs (and the inventory), by key ARN.
    pub key_inventory: Vec<KeyEntry>,
    /// Which time the logs cover, and the gaps in it.
    pub log_coverage: LogCoverage,
    /// What validating the CloudTrail digest files found.
    pub integrity: IntegrityResult,
    /// Events and key use per day over the window, for trends and charts.
    pub activity: Activity,
    /// The comparison with the previous report of the same framework (absent for the first).
    pub comparison: Option<Comparison>,
}

impl ComplianceReport {
    /// The finding with id `id`.
    pub fn finding(&self, id: &str) -> Option<&ReportFinding> {
        self.findings.iter().find(|f| f.id == id)
    }

    /// The waiver with id `id` (its `file:line`).
    pub fn waiver(&self, id: &str) -> Option<&WaiverEntry> {
        self.waivers.iter().find(|w| w.id == id)
    }
}

// ---------------------------------------------------------------------------------------
// Scope

/// What the report covers and how it was produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scope {
    /// The framework assessed.
    pub framework: FrameworkInfo,
    /// The day the report is for (`YYYY-MM-DD`): its file name, and the day waiver expiry
    /// is judged on.
    pub report_date: String,
    /// When the report was generated (RFC 3339; midnight of `report_date` when the date was
    /// fixed with `KMS_AUDIT_REPORT_DATE`).
    pub generated_at: String,
    /// Accounts (`recipientAccountId`) with events in the window, sorted.
    pub accounts: Vec<String>,
    /// Regions (`awsRegion`) with events in the window, sorted.
    pub regions: Vec<String>,
    /// The time window asked for and the time the logs really cover.
    pub window: Window,
    /// Every CloudTrail log file behind the report, by path.
    pub inputs: Vec<InputFile>,
    /// Every CloudTrail digest file read, by path.
    pub digests: Vec<DigestFile>,
    /// The lake read (`--lake`), as given; absent for a temporary lake.
    pub lake: Option<String>,
    /// The tool that produced the report.
    pub tool: ToolInfo,
    /// The rules evaluated.
    pub rule_pack: RulePackInfo,
    /// Every framework bound on a setting or on log coverage, with the value used.
    pub thresholds: Vec<ThresholdCheck>,
    /// The settings files given (`--config`, `--waivers`, `--inventory`); the catalog's
    /// hash is in `framework`.
    pub settings: Vec<SettingsFile>,
}

/// The framework, as its catalog names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameworkInfo {
    /// Catalog id (`pci-dss-4.0.1`).
    pub id: String,
    /// Framework name (`PCI DSS`).
    pub name: String,
    /// Framework version (`4.0.1`).
    pub version: String,
    /// Title of the source document.
    pub document: String,
    /// Where to get it.
    pub url: String,
    /// Who publishes it.
    pub publisher: Option<String>,
    /// What the catalog covers and leaves out.
    pub catalog_scope: Option<String>,
    /// The catalog file (`rules/frameworks/pci-dss-4.0.1.yml` for a bundled one).
    pub catalog_file: String,
    /// SHA-256 of the catalog file's text, lowercase hex.
    pub catalog_sha256: String,
}

/// The time window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// `--since`, RFC 3339; absent when not given.
    pub since: Option<String>,
    /// `--until`, RFC 3339; absent when not given.
    pub until: Option<String>,
    /// The earliest event in the window.
    pub first_event: Option<String>,
    /// The latest event in the window.
    pub last_event: Option<String>,
    /// Days from the first to the last event, with a fraction (0 without events).
    pub days_covered: f64,
    /// UTC calendar days from the first event's to the last event's, both included (0
    /// without events).
    pub calendar_days: u64,
    /// Events in the window (any service).
    pub events: u64,
    /// Of those, KMS events (`kms.amazonaws.com`).
    pub kms_events: u64,
}

/// One CloudTrail log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputFile {
    /// The path as given when it was read.
    pub path: String,
    /// SHA-256 of the file's bytes as stored (compressed for `.gz`), lowercase hex.
    pub sha256: String,
    /// Records read from it.
    pub records: u64,
    /// Records that could not be read.
    pub skipped: u64,
    /// Problems met while reading it (each is in the scan's warnings).
    pub problems: u64,
}

/// One CloudTrail digest file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DigestFile {
    /// The path as given when it was read.
    pub path: String,
    /// SHA-256 of its uncompressed content, lowercase hex.
    pub content_sha256: String,
}

/// The tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolInfo {
    /// `kms-audit`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// The rules behind the findings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RulePackInfo {
    /// The version of the bundled pack: the tool version it ships with.
    pub version: String,
    /// SHA-256 over the rule files evaluated (path and text of each, in path order) and the
    /// parameter values in effect, lowercase hex: equal hashes mean equal rules.
    pub sha256: String,
    /// Rules evaluated.
    pub rules: u64,
    /// Rules of the pack turned off by the settings (`enabled: false`), by id.
    pub disabled: Vec<String>,
}

/// What a [`ThresholdCheck`] bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdKind {
    /// A rule parameter (`--config`, `--param`, or the rule's default).
    RuleParam,
    /// The days the logs cover.
    LogCoverageDays,
}

/// A bound the framework sets, and the value this run used.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThresholdCheck {
    /// The requirement that sets it.
    pub requirement: String,
    /// What is bounded.
    pub kind: ThresholdKind,
    /// The rule (rule parameters only).
    pub rule: Option<String>,
    /// The parameter (rule parameters only).
    pub param: Option<String>,
    /// The value used: the parameter's value in effect, or the days the logs cover.
    /// Absent when the rule is not loaded or turned off.
    pub value: Option<ParamValue>,
    /// The bound as text: `≤ 365`, `≥ 90`.
    pub required: String,
    /// The smallest value allowed.
    pub min: Option<f64>,
    /// The largest value allowed.
    pub max: Option<f64>,
    /// Where the bound comes from.
    pub basis: Option<String>,
    /// Whether the value is within the bound (false when there is no value).
    pub met: bool,
}

/// A settings file given to the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsFile {
    /// `config`, `waivers` or `inventory`.
    pub role: String,
    /// The path as given.
    pub path: String,
    /// SHA-256 of its bytes, lowercase hex.
    pub sha256: String,
}

// ---------------------------------------------------------------------------------------
// Requirements

/// The status of a requirement in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Evidence shows it is not met: an open finding, a loose setting or short logs.
    NotSatisfied,
    /// The logs cannot show whether it is met.
    InsufficientEvidence,
    /// Procedural: an assessor examines it.
    Manual,
    /// The mapped rules could evaluate and found nothing open.
    Satisfied,
    /// Does not apply, for the reason given.
    NotApplicable,
}

impl Status {
    /// Every status, in the order reports list them (failed first).
    pub const ALL: [Status; 5] = [
        Self::NotSatisfied,
        Self::InsufficientEvidence,
        Self::Manual,
        Self::Satisfied,
        Self::NotApplicable,
    ];

    /// The name used in every format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Satisfied => "satisfied",
            Self::NotSatisfied => "not-satisfied",
            Self::NotApplicable => "not-applicable",
            Self::Manual => "manual",
            Self::InsufficientEvidence => "insufficient-evidence",
        }
    }

    /// Whether the status counts in the score's denominator.
    pub fn is_scored(self) -> bool {
        matches!(
            self,
            Self::Satisfied | Self::NotSatisfied | Self::InsufficientEvidence
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the catalog says a requirement is assessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assessment {
    /// By the findings of its rules, its thresholds and log coverage.
    Automated,
    /// By an assessor.
    Manual,
    /// Not at all: it does not apply.
    NotApplicable,
}

/// One requirement and its status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequirementResult {
    /// The framework's id (`3.7.4`, `164.312(b)`, `ac-2.4`).
    pub id: String,
    /// How the framework displays the id (`AC-2(4)`); equals `id` when it has no label.
    pub label: String,
    /// The section's id (`3`, `164.312`, `ac`).
    pub section: String,
    /// The section's title.
    pub section_title: String,
    /// Short title.
    pub title: String,
    /// How the catalog says it is assessed.
    pub assessment: Assessment,
    /// The status.
    pub status: Status,
    /// Why it has that status, in one or more sentences (for manual and not-applicable,
    /// the catalog's reason).
    pub reason: String,
    /// The catalog's note: what the rules show and what the assessor still examines.
    pub note: Option<String>,
    /// The rules mapped to it, in catalog order.
    pub rules: Vec<RuleUse>,
    /// The open findings that decide it, in the order of [`ComplianceReport::findings`].
    pub findings: Vec<FindingRef>,
    /// Findings of its rules that waivers accept (they do not count against it).
    pub waived_findings: Vec<FindingRef>,
    /// Its framework bounds that this run's values do not meet.
    pub thresholds_violated: Vec<ThresholdCheck>,
    /// Why the logs cannot show it (gaps, integrity problems, no events), when they cannot.
    pub evidence_gaps: Vec<String>,
}

/// A rule mapped to a requirement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleUse {
    /// Rule id.
    pub id: String,
    /// Its title (empty when the rule is not loaded).
    pub title: String,
    /// Its severity (absent when not loaded).
    pub severity: Option<Severity>,
    /// Whether it could evaluate: loaded, enabled and with data to read.
    pub evaluated: bool,
    /// Why it could not.
    pub not_evaluated_reason: Option<String>,
    /// Its open findings.
    pub open_findings: u64,
    /// Its waived findings.
    pub waived_findings: u64,
}

/// A finding as a requirement lists it; [`ComplianceReport::finding`] has the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRef {
    /// The finding's stable id.
    pub id: String,
    /// Its rule.
    pub rule_id: String,
    /// Its severity.
    pub severity: Severity,
    /// The resource (key ARN, silence, file).
    pub resource: Option<String>,
    /// The principal.
    pub principal: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Findings and waivers

/// Whether a finding counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingStatus {
    /// No live waiver accepts it: it counts against its requirements.
    Open,
    /// A live waiver accepts it.
    Waived,
}

/// A finding with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportFinding {
    /// Stable id (the same rule, resource and principal give the same id in every run).
    pub id: String,
    /// Open or waived.
    pub status: FindingStatus,
    /// Rule id.
    pub rule_id: String,
    /// Rule name.
    pub rule_name: String,
    /// Rule title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// The resource (a key ARN, a silence `account/region@start`, a file).
    pub resource: Option<String>,
    /// The principal that acted.
    pub principal: Option<String>,
    /// The earliest matching event.
    pub first_seen: String,
    /// The latest matching event.
    pub last_seen: String,
    /// Matching events (or rows).
    pub count: u64,
    /// What the rule flags.
    pub what: String,
    /// Why it matters.
    pub why: Option<String>,
    /// What to do.
    pub remediation: Option<String>,
    /// Observed against expected values.
    pub detail: Option<String>,
    /// The earliest events behind it, oldest first.
    pub evidence: Vec<EvidenceEvent>,
    /// The requirements it is evidence against, in catalog order (labels).
    pub requirements: Vec<String>,
    /// The waiver accepting it (its id, `file:line`), when waived.
    pub waiver: Option<String>,
}

/// One event behind a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceEvent {
    /// `eventID`.
    pub event_id: Option<String>,
    /// `eventTime`.
    pub event_time: String,
    /// `eventName` (or `(digest)`, `(log file)`, `(keys view)` for evidence that is not an
    /// event).
    pub event_name: String,
    /// The file that holds it, as given.
    pub source_file: String,
    /// Its 0-based record position in that file.
    pub source_record: u32,
}

/// A waiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverEntry {
    /// Its `file:line`.
    pub id: String,
    /// The rule id pattern.
    pub rule: String,
    /// The resource pattern.
    pub resource: String,
    /// The principal pattern.
    pub principal: String,
    /// Who accepted the risk.
    pub owner: String,
    /// Why.
    pub reason: String,
    /// Last day it applies (`YYYY-MM-DD`).
    pub expires: String,
    /// Whether it is past its expiry on the report date (it then waives nothing).
    pub expired: bool,
    /// The findings of this report it accepts (live) or would accept (expired), by id.
    pub findings: Vec<String>,
}

// ---------------------------------------------------------------------------------------
// Summary

/// Requirement counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// Satisfied.
    pub satisfied: u64,
    /// Not satisfied.
    pub not_satisfied: u64,
    /// Insufficient evidence.
    pub insufficient_evidence: u64,
    /// Manual.
    pub manual: u64,
    /// Not applicable.
    pub not_applicable: u64,
    /// All requirements.
    pub total: u64,
}

/// Finding counts per severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeverityCounts {
    /// Critical.
    pub critical: u64,
    /// High.
    pub high: u64,
    /// Medium.
    pub medium: u64,
    /// Low.
    pub low: u64,
    /// Info.
    pub info: u64,
}

impl SeverityCounts {
    /// Adds one finding of `severity`.
    pub fn add(&mut self, severity: Severity) {
        let slot = match severity {
            Severity::Critical => &mut self.critical,
            Severity::High => &mut self.high,
            Severity::Medium => &mut self.medium,
            Severity::Low => &mut self.low,
            Severity::Info => &mut self.info,
        };
        *slot += 1;
    }

    /// The count of `severity`.
    pub fn get(&self, severity: Severity) -> u64 {
        match severity {
            Severity::Critical => self.critical,
            Severity::High => self.high,
            Severity::Medium => self.medium,
            Severity::Low => self.low,
            Severity::Info => self.info,
        }
    }

    /// All findings.
    pub fn total(&self) -> u64 {
        self.critical + self.high + self.medium + self.low + self.info
    }
}

/// The report at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Percent of the scored requirements that are satisfied, one decimal:
    /// `100 × satisfied / (satisfied + not-satisfied + insufficient-evidence)`; manual and
    /// not-applicable requirements do not count. Absent when no requirement is scored.
    pub score: Option<f64>,
    /// Requirements per status.
    pub requirements: StatusCounts,
    /// Every section with a not-satisfied or insufficient-evidence requirement, most
    /// not-satisfied first (then catalog order).
    pub failing_sections: Vec<SectionSummary>,
    /// Every section, in catalog order.
    pub sections: Vec<SectionSummary>,
    /// Open findings (those in [`ComplianceReport::findings`]) per severity.
    pub open_findings: SeverityCounts,
    /// Waived findings per severity.
    pub waived_findings: SeverityCounts,
    /// Open findings per section (control family) and severity, in catalog order.
    pub findings_by_section: Vec<SectionFindings>,
}

/// One section's requirement statuses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionSummary {
    /// Section id.
    pub id: String,
    /// Section title.
    pub title: String,
    /// Its requirements per status.
    pub requirements: StatusCounts,
    /// Its score, as [`Summary::score`].
    pub score: Option<f64>,
}

/// The open findings against one section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionFindings {
    /// Section id.
    pub id: String,
    /// Section title.
    pub title: String,
    /// Distinct open findings against its requirements, per severity.
    pub findings: SeverityCounts,
}

// ---------------------------------------------------------------------------------------
// Keys, coverage, integrity, activity

/// One key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyEntry {
    /// Key ARN.
    pub key_arn: String,
    /// Its account.
    pub account: Option<String>,
    /// Its Region.
    pub region: Option<String>,
    /// `KeySpec` (`SYMMETRIC_DEFAULT`, `RSA_2048`…).
    pub key_spec: Option<String>,
    /// `KeyUsage`.
    pub key_usage: Option<String>,
    /// `Origin` (`AWS_KMS`, `EXTERNAL`, `AWS_CLOUDHSM`, `EXTERNAL_KEY_STORE`).
    pub origin: Option<String>,
    /// `KeyManager` (`CUSTOMER`, `AWS`).
    pub key_manager: Option<String>,
    /// State (`Enabled`, `Disabled`, `PendingDeletion`…).
    pub state: Option<String>,
    /// Creation time.
    pub created: Option<String>,
    /// Whether automatic rotation is on.
    pub rotation_enabled: Option<bool>,
    /// Rotation period in days.
    pub rotation_period_days: Option<i64>,
    /// Last rotation.
    pub last_rotation: Option<String>,
    /// Days since the key material last changed (creation, rotation, import), counted to
    /// the latest event.
    pub rotation_age_days: Option<i64>,
    /// Whether KMS can rotate it automatically.
    pub can_rotate: Option<bool>,
    /// Why it cannot.
    pub can_rotate_reason: Option<String>,
    /// Last successful cryptographic use.
    pub last_used: Option<String>,
    /// Where the row comes from: `events`, `inventory` or `inventory+events`.
    pub source: Option<String>,
}

/// The time the logs cover. The retention evidence is every log read (the lake, up to
/// `--until`), whatever `--since` says: a monthly report over a lake that keeps a year shows
/// a year. Streams, gaps and silences are those of the report window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogCoverage {
    /// The earliest event read.
    pub first_event: Option<String>,
    /// The latest event read (up to `--until`).
    pub last_event: Option<String>,
    /// Days between them, with a fraction.
    pub days_covered: f64,
    /// UTC calendar days from the first event's to the last event's, both included: what
    /// `log_coverage_days` is compared with.
    pub calendar_days: u64,
    /// The most days any requirement of the framework needs (`log_coverage_days`).
    pub required_days: Option<u32>,
    /// Per account and Region, in that order.
    pub streams: Vec<CoverageStream>,
    /// Silences the coverage rules judge to be gaps (open or waived), in time order.
    pub gaps: Vec<CoverageGap>,
    /// Silences of more than an hour in the window, gaps included.
    pub silences: u64,
}

/// The events of one account and Region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageStream {
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// First event.
    pub first_event: String,
    /// Last event.
    pub last_event: String,
    /// Events.
    pub events: u64,
}

/// A gap in the logs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoverageGap {
    /// The silence's id (`account/region@start`), the resource of its finding.
    pub id: String,
    /// Account.
    pub account: String,
    /// Region.
    pub region: String,
    /// The last event before.
    pub start: String,
    /// The first event after, or the end of the logs.
    pub end: String,
    /// Whole hours.
    pub hours: i64,
    /// Events the stream's usual rate predicts for it.
    pub expected_events: i64,
    /// Whether digests show no file was delivered in it (absent without digests).
    pub digest_covered: Option<bool>,
    /// The finding reporting it.
    pub finding: String,
    /// Whether a waiver accepts it (then it is not an evidence gap).
    pub waived: bool,
}

/// What validating the digests found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityResult {
    /// `verified` (digests read, no problem), `problems`, or `no-digests`.
    pub status: String,
    /// Digest files validated.
    pub digests: u64,
    /// Log files the digests list.
    pub log_files_listed: u64,
    /// Of those, present with the listed hash.
    pub log_files_verified: u64,
    /// Every problem found, in the order validation reported them.
    pub problems: Vec<IntegrityIssue>,
}

/// One integrity problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityIssue {
    /// `missing-file`, `hash-mismatch`, `chain-break` or `unlisted-file`.
    pub problem: String,
    /// Account.
    pub account: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// The file at fault (S3 key).
    pub object: String,
    /// What is wrong.
    pub detail: String,
    /// The end of the hour the digest covers.
    pub digest_end: Option<String>,
    /// The local file that shows it, as given.
    pub source_file: String,
}

/// Use over time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Activity {
    /// Per day with events, in date order.
    pub days: Vec<DayActivity>,
    /// Per key and day with calls naming the key, by key ARN then date.
    pub key_days: Vec<KeyDayActivity>,
}

/// One day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayActivity {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Events.
    pub events: u64,
    /// KMS events.
    pub kms_events: u64,
    /// Failed events (with an error code).
    pub errors: u64,
}

/// One key on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyDayActivity {
    /// Key ARN.
    pub key_arn: String,
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Calls naming the key.
    pub calls: u64,
    /// Of those, failed.
    pub errors: u64,
}

// ---------------------------------------------------------------------------------------
// Comparison

/// How the score moved since the previous report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trend {
    /// Higher.
    Improved,
    /// Lower.
    Declined,
    /// The same.
    Unchanged,
    /// One of the two has no score.
    NotComparable,
}

/// The comparison with the previous report in the same folder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The previous report's JSON file, as found.
    pub previous_report: String,
    /// Its report date.
    pub previous_date: String,
    /// Its score.
    pub previous_score: Option<f64>,
    /// This score less the previous one (percentage points, one decimal).
    pub score_change: Option<f64>,
    /// The direction.
    pub trend: Trend,
    /// Open now, not open before.
    pub new_findings: Vec<ComparedFinding>,
    /// Open before, not open now (fixed, out of the window, or waived since).
    pub resolved_findings: Vec<ComparedFinding>,
    /// Open in both.
    pub still_open_findings: Vec<ComparedFinding>,
    /// Requirements whose status changed, in catalog order.
    pub status_changes: Vec<StatusChange>,
}

/// A finding in the comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComparedFinding {
    /// Stable id.
    pub id: String,
    /// Rule.
    pub rule_id: String,
    /// Severity (as `critical`…`info`).
    pub severity: String,
    /// Title.
    pub title: String,
    /// Resource.
    pub resource: Option<String>,
    /// Principal.
    pub principal: Option<String>,
}

/// A requirement whose status changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    /// Requirement id.
    pub requirement: String,
    /// Its label.
    pub label: String,
    /// Status in the previous report (`absent` when it was not there).
    pub from: String,
    /// Status now.
    pub to: Status,
}
