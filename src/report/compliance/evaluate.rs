//! Decides every requirement of a framework catalog from the evidence of one run
//! ([`crate::assess::Evidence`]) and builds the [`ComplianceReport`].
//!
//! A requirement's status, exactly:
//!
//! - **manual** and **not-applicable**: as the catalog says, with its reason.
//! - **not-satisfied** (automated), when any of these holds:
//!   1. a mapped rule has an open finding (one no live waiver accepts);
//!   2. a `thresholds` bound is not met: the rule parameter in effect (rule default, then
//!      `--config`, then `--param`) is outside it, or the rule is turned off or not loaded
//!      so the bound is not enforced;
//!   3. `log_coverage_days` is not met: the logs read (every event of the lake up to
//!      `--until`, whatever `--since` says) span fewer UTC calendar days, first and last day
//!      included. Without any event this is insufficient evidence instead.
//! - **insufficient-evidence** (automated, none of the above), when the logs cannot show it:
//!   1. no event in the report window;
//!   2. none of its mapped rules could evaluate: a rule is turned off or not loaded; a
//!      `log_integrity` rule without digest files in the lake; a rule over the key views
//!      (`keys`, `policy_statements`, `grants`, `usage`, `access`) without KMS events in the
//!      window and without `--inventory`; a `baseline` rule whose `min-history-days` is
//!      longer than the logs read span, so it could learn nothing (a requirement with only
//!      `log_coverage_days` has no rule to need);
//!   3. an open finding of a rule over the `log_coverage` view (a gap in the logs) or the
//!      `log_integrity` view (a digest shows a file missing or modified, or its chain
//!      broken) whose time overlaps the window: events the gap or damaged file held are
//!      missing from everything the rules saw. A waived gap (a quiet period someone
//!      vouched for) is not one.
//! - **satisfied** (automated), otherwise: every bound met, and the rules that could
//!   evaluate found nothing open.
//!
//! The score is `100 × satisfied / (satisfied + not-satisfied + insufficient-evidence)`,
//! one decimal; manual and not-applicable requirements do not count, and there is no score
//! when nothing counts.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::assess::{rule_view, Evidence, WindowStats};
use crate::frameworks::catalog::{Catalog, CatalogStatus, Requirement, Section, Threshold};
use crate::report::compliance::model::{
    Assessment, ComplianceReport, CoverageGap, EvidenceEvent, FindingRef, FindingStatus,
    FrameworkInfo, IntegrityResult, LogCoverage, ReportFinding, RequirementResult, RulePackInfo,
    RuleUse, Scope, SectionFindings, SectionSummary, SettingsFile, SeverityCounts, Status,
    StatusCounts, Summary, ThresholdCheck, ThresholdKind, ToolInfo, WaiverEntry, Window,
    REPORT_FORMAT, REPORT_FORMAT_VERSION,
};
use crate::rules::model::Body;
use crate::rules::params::ParamValue;
use crate::rules::views::View;
use crate::rules::waiver::Waiver;
use crate::rules::{Finding, Rule, Severity};
use crate::trail::decode::hex;

/// What the run used, besides the evidence.
#[derive(Debug, Clone)]
pub struct ReportSettings<'a> {
    /// The rules evaluated, settings applied.
    pub rules: &'a [Rule],
    /// Ids of the rules the settings turned off.
    pub disabled_rules: &'a [String],
    /// Waivers given.
    pub waivers: &'a [Waiver],
    /// The report date.
    pub today: NaiveDate,
    /// When the report was generated, RFC 3339.
    pub generated_at: String,
    /// Settings files given.
    pub settings_files: &'a [SettingsFile],
    /// Whether a key inventory snapshot was given.
    pub has_inventory: bool,
}

/// Builds the report of `catalog`.
pub fn build(
    catalog: &Catalog,
    evidence: &Evidence,
    settings: &ReportSettings<'_>,
) -> ComplianceReport {
    let rules: HashMap<String, &Rule> = settings
        .rules
        .iter()
        .map(|r| (r.id.to_ascii_uppercase(), r))
        .collect();
    let disabled: BTreeSet<String> = settings
        .disabled_rules
        .iter()
        .map(|r| r.to_ascii_uppercase())
        .collect();
    let window = window_of(evidence);
    let thresholds = threshold_checks(catalog, &rules, evidence);

    // Every finding of the run, open then waived, with its waiver.
    let all: Vec<(&Finding, Option<&Waiver>)> = evidence
        .findings
        .findings
        .iter()
        .map(|f| (f, None))
        .chain(
            evidence
                .findings
                .waived
                .iter()
                .map(|w| (&w.finding, Some(&w.waiver))),
        )
        .collect();
    let gap_findings: Vec<&Finding> = evidence
        .findings
        .findings
        .iter()
        .filter(|f| {
            rules
                .get(&f.rule_id.to_ascii_uppercase())
                .and_then(|r| rule_view(r))
                .is_some_and(|v| matches!(v, View::LogCoverage | View::LogIntegrity))
        })
        .filter(|f| overlaps(f, evidence))
        .collect();
    let evidence_gaps = evidence_gaps(evidence, &gap_findings, &rules);

    // Requirements, in catalog order.
    let mut mapped: HashMap<String, Vec<String>> = HashMap::new();
    for (_, requirement) in catalog.requirements() {
        for rule in &requirement.rules {
            mapped
                .entry(rule.to_ascii_uppercase())
                .or_default()
                .push(requirement.display_id().to_owned());
        }
    }
    let mut findings: Vec<ReportFinding> = all
        .iter()
        .filter(|(f, _)| {
            mapped.contains_key(&f.rule_id.to_ascii_uppercase())
                || gap_findings.iter().any(|g| g.id == f.id)
        })
        .map(|(f, w)| report_finding(f, *w, &mapped))
        .collect();
    findings.dedup_by(|a, b| a.id == b.id && a.status == b.status);

    let context = Context {
        evidence,
        settings,
        rules: &rules,
        disabled: &disabled,
        thresholds: &thresholds,
        evidence_gaps: &evidence_gaps,
        findings: &findings,
    };
    let requirements: Vec<RequirementResult> = catalog
        .requirements()
        .map(|(section, requirement)| context.requirement(section, requirement))
        .collect();

    let summary = summary(catalog, &requirements, &findings);
    let waivers = waiver_entries(settings.waivers, settings.today, &findings, &all);
    let log_coverage = log_coverage(catalog, evidence, &findings);
    let integrity = integrity(evidence);
    ComplianceReport {
        format: REPORT_FORMAT.to_owned(),
        format_version: REPORT_FORMAT_VERSION,
        scope: Scope {
            framework: FrameworkInfo {
                id: catalog.id.clone(),
                name: catalog.name.clone(),
                version: catalog.version.clone(),
                document: catalog.source.document.trim().to_owned(),
                url: catalog.source.url.clone(),
                publisher: catalog.source.publisher.clone(),
                catalog_scope: catalog.scope.as_deref().map(|s| s.trim().to_owned()),
                catalog_file: catalog.file.clone(),
                catalog_sha256: catalog_sha256(catalog),
            },
            report_date: settings.today.format("%Y-%m-%d").to_string(),
            generated_at: settings.generated_at.clone(),
            accounts: evidence.accounts.clone(),
            regions: evidence.regions.clone(),
            window,
            inputs: evidence.inputs.clone(),
            digests: evidence.digests.clone(),
            lake: evidence.lake.clone(),
            tool: ToolInfo {
                name: env!("CARGO_PKG_NAME").to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            rule_pack: rule_pack(settings.rules, settings.disabled_rules),
            thresholds,
            settings: settings.settings_files.to_vec(),
        },
        summary,
        requirements,
        findings,
        waivers,
        key_inventory: evidence.keys.clone(),
        log_coverage,
        integrity,
        activity: evidence.activity.clone(),
        comparison: None,
    }
}

/// What every requirement is decided against.
struct Context<'a> {
    evidence: &'a Evidence,
    settings: &'a ReportSettings<'a>,
    rules: &'a HashMap<String, &'a Rule>,
    disabled: &'a BTreeSet<String>,
    thresholds: &'a [ThresholdCheck],
    evidence_gaps: &'a [String],
    findings: &'a [ReportFinding],
}

impl Context<'_> {
    fn requirement(&self, section: &Section, requirement: &Requirement) -> RequirementResult {
        let label = requirement.display_id().to_owned();
        let mut result = RequirementResult {
            id: requirement.id.clone(),
            label: label.clone(),
            section: section.id.clone(),
            section_title: section.title.clone(),
            title: requirement.title.clone(),
            assessment: match requirement.status {
                CatalogStatus::Automated => Assessment::Automated,
                CatalogStatus::Manual => Assessment::Manual,
                CatalogStatus::NotApplicable => Assessment::NotApplicable,
            },
            status: Status::Manual,
            reason: String::new(),
            note: requirement.note.clone(),
            rules: Vec::new(),
            findings: Vec::new(),
            waived_findings: Vec::new(),
            thresholds_violated: Vec::new(),
            evidence_gaps: Vec::new(),
        };
        match requirement.status {
            CatalogStatus::Manual | CatalogStatus::NotApplicable => {
                result.status = if requirement.status == CatalogStatus::Manual {
                    Status::Manual
                } else {
                    Status::NotApplicable
                };
                result.reason = requirement.reason.clone().unwrap_or_default();
                return result;
            }
            CatalogStatus::Automated => {}
        }

        let uppercase: Vec<String> = requirement
            .rules
            .iter()
            .map(|r| r.to_ascii_uppercase())
            .collect();
        for finding in self.findings {
            if !uppercase.contains(&finding.rule_id.to_ascii_uppercase()) {
                continue;
            }
            let reference = FindingRef {
                id: finding.id.clone(),
                rule_id: finding.rule_id.clone(),
                severity: finding.severity,
                resource: finding.resource.clone(),
                principal: finding.principal.clone(),
            };
            match finding.status {
                FindingStatus::Open => result.findings.push(reference),
                FindingStatus::Waived => result.waived_findings.push(reference),
            }
        }
        result.rules = requirement
            .rules
            .iter()
            .map(|id| self.rule_use(id, &result))
            .collect();
        result.thresholds_violated = self
            .thresholds
            .iter()
            .filter(|t| t.requirement == label && !t.met)
            .filter(|t| t.kind == ThresholdKind::RuleParam || self.evidence.all_logs.events > 0)
            .cloned()
            .collect();

        let mut gaps: Vec<String> = self.evidence_gaps.to_vec();
        let evaluated: Vec<&RuleUse> = result.rules.iter().filter(|r| r.evaluated).collect();
        if !result.rules.is_empty() && evaluated.is_empty() {
            let why: Vec<String> = result
                .rules
                .iter()
                .map(|r| {
                    format!(
                        "{} ({})",
                        r.id,
                        r.not_evaluated_reason.as_deref().unwrap_or("not evaluated")
                    )
                })
                .collect();
            gaps.push(format!(
                "none of its rules could evaluate: {}",
                why.join("; ")
            ));
        }
        if requirement.log_coverage_days.is_some() && self.evidence.all_logs.events == 0 {
            gaps.push("no logs were read, so their retention cannot be measured".to_owned());
        }
        gaps.dedup();
        result.evidence_gaps = gaps;

        let mut reasons: Vec<String> = Vec::new();
        if !result.findings.is_empty() {
            let mut severities = SeverityCounts::default();
            let mut rule_ids: Vec<&str> = Vec::new();
            for f in &result.findings {
                severities.add(f.severity);
                if !rule_ids.contains(&f.rule_id.as_str()) {
                    rule_ids.push(&f.rule_id);
                }
            }
            reasons.push(format!(
                "{} open finding{} ({}) of {}.",
                result.findings.len(),
                plural(result.findings.len()),
                severity_text(&severities),
                rule_ids.join(", ")
            ));
        }
        for t in &result.thresholds_violated {
            reasons.push(threshold_reason(t, &self.evidence.all_logs));
        }
        if !reasons.is_empty() {
            result.status = Status::NotSatisfied;
        } else if !result.evidence_gaps.is_empty() {
            result.status = Status::InsufficientEvidence;
            reasons.push(format!(
                "The logs cannot show it: {}.",
                result.evidence_gaps.join("; ")
            ));
        } else {
            result.status = Status::Satisfied;
            reasons.push(self.satisfied_reason(&result));
        }
        if result.status != Status::Satisfied && !result.waived_findings.is_empty() {
            reasons.push(waived_text(result.waived_findings.len()));
        }
        result.reason = reasons.join(" ");
        result
    }

    fn rule_use(&self, id: &str, result: &RequirementResult) -> RuleUse {
        let key = id.to_ascii_uppercase();
        let count = |list: &[FindingRef]| {
            list.iter()
                .filter(|f| f.rule_id.eq_ignore_ascii_case(id))
                .count() as u64
        };
        let Some(rule) = self.rules.get(&key) else {
            let reason = if self.disabled.contains(&key) {
                "turned off in the rule settings"
            } else {
                "not among the rules loaded"
            };
            return RuleUse {
                id: id.to_owned(),
                title: String::new(),
                severity: None,
                evaluated: false,
                not_evaluated_reason: Some(reason.to_owned()),
                open_findings: 0,
                waived_findings: 0,
            };
        };
        let window = &self.evidence.window;
        let history = baseline_history_shortfall(rule, &self.evidence.all_logs);
        let not_evaluated = match rule_view(rule) {
            Some(View::LogIntegrity) if !self.evidence.has_digests => {
                Some("no CloudTrail digest files were read")
            }
            Some(View::LogIntegrity) => None,
            _ if window.events == 0 => Some("no events in the window"),
            Some(View::LogCoverage) | None => None,
            Some(_) if window.kms_events == 0 && !self.settings.has_inventory => {
                Some("no KMS events in the window and no key inventory")
            }
            Some(_) => None,
        }
        .map(str::to_owned)
        .or(history);
        RuleUse {
            id: rule.id.clone(),
            title: rule.title.clone(),
            severity: Some(rule.severity),
            evaluated: not_evaluated.is_none(),
            not_evaluated_reason: not_evaluated,
            open_findings: count(&result.findings),
            waived_findings: count(&result.waived_findings),
        }
    }

    fn satisfied_reason(&self, result: &RequirementResult) -> String {
        let window = &self.evidence.window;
        let evaluated: Vec<&str> = result
            .rules
            .iter()
            .filter(|r| r.evaluated)
            .map(|r| r.id.as_str())
            .collect();
        let mut text = if evaluated.is_empty() {
            String::new()
        } else {
            format!(
                "{} evaluated over {} event{} ({} to {}) with no open finding.",
                evaluated.join(", "),
                window.events,
                plural(usize::try_from(window.events).unwrap_or(usize::MAX)),
                day_of(window.first),
                day_of(window.last),
            )
        };
        let met: Vec<String> = self
            .thresholds
            .iter()
            .filter(|t| t.requirement == result.label && t.met)
            .map(|t| match t.kind {
                ThresholdKind::RuleParam => format!(
                    "{} `{}` is {} ({} required)",
                    t.rule.as_deref().unwrap_or_default(),
                    t.param.as_deref().unwrap_or_default(),
                    t.value
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    t.required
                ),
                ThresholdKind::LogCoverageDays => format!(
                    "the logs cover {} days ({} required)",
                    t.value
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    t.required
                ),
            })
            .collect();
        if !met.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&format!(
                "Within the framework's bounds: {}.",
                met.join("; ")
            ));
        }
        let skipped: Vec<String> = result
            .rules
            .iter()
            .filter(|r| !r.evaluated)
            .map(|r| {
                format!(
                    "{} ({})",
                    r.id,
                    r.not_evaluated_reason.as_deref().unwrap_or("not evaluated")
                )
            })
            .collect();
        if !skipped.is_empty() {
            text.push_str(&format!(" Not evaluated: {}.", skipped.join("; ")));
        }
        if !result.waived_findings.is_empty() {
            text.push(' ');
            text.push_str(&waived_text(result.waived_findings.len()));
        }
        text
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn waived_text(n: usize) -> String {
    format!(
        "{n} finding{} accepted by waivers (see Waivers).",
        plural(n)
    )
}

/// `2 high, 1 medium`.
fn severity_text(counts: &SeverityCounts) -> String {
    Severity::ALL
        .iter()
        .rev()
        .filter(|s| counts.get(**s) > 0)
        .map(|s| format!("{} {}", counts.get(*s), s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn day_of(micros: Option<i64>) -> String {
    micros
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "-".to_owned())
}

fn rfc3339(micros: Option<i64>) -> Option<String> {
    micros.map(crate::rules::finding::rfc3339)
}

fn window_of(evidence: &Evidence) -> Window {
    let filter = &evidence.findings.filter;
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    };
    Window {
        since: time(filter.since),
        until: time(filter.until),
        first_event: rfc3339(evidence.window.first),
        last_event: rfc3339(evidence.window.last),
        days_covered: round1(evidence.window.days()),
        calendar_days: evidence.window.calendar_days(),
        events: evidence.window.events,
        kms_events: evidence.window.kms_events,
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Whether a finding's time overlaps the report window.
fn overlaps(finding: &Finding, evidence: &Evidence) -> bool {
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let filter = &evidence.findings.filter;
    let after_since = match (filter.since, parse(&finding.last_seen)) {
        (Some(since), Some(last)) => last >= since,
        _ => true,
    };
    let before_until = match (filter.until, parse(&finding.first_seen)) {
        (Some(until), Some(first)) => first <= until,
        _ => true,
    };
    after_since && before_until
}

/// The reasons the logs cannot show anything, the same for every automated requirement.
fn evidence_gaps(
    evidence: &Evidence,
    gap_findings: &[&Finding],
    rules: &HashMap<String, &Rule>,
) -> Vec<String> {
    let mut out = Vec::new();
    if evidence.window.events == 0 {
        out.push("no events in the window".to_owned());
    }
    for finding in gap_findings {
        let view = rules
            .get(&finding.rule_id.to_ascii_uppercase())
            .and_then(|r| rule_view(r));
        let what = if view == Some(View::LogCoverage) {
            "a gap in the logs"
        } else {
            "an integrity problem"
        };
        out.push(format!(
            "{what}, {} ({} finding {})",
            finding.resource.as_deref().unwrap_or("-"),
            finding.rule_id,
            finding.id
        ));
    }
    out
}

fn threshold_reason(t: &ThresholdCheck, all_logs: &crate::assess::WindowStats) -> String {
    let basis = t
        .basis
        .as_deref()
        .map(|b| format!(" ({b})"))
        .unwrap_or_default();
    match t.kind {
        ThresholdKind::RuleParam => {
            let rule = t.rule.as_deref().unwrap_or_default();
            let param = t.param.as_deref().unwrap_or_default();
            match &t.value {
                Some(value) => format!(
                    "{rule} `{param}` is set to {value}, looser than the framework's {}{basis}.",
                    t.required
                ),
                None => format!(
                    "{rule} is not evaluated, so the framework's bound on `{param}` ({}) is not enforced{basis}.",
                    t.required
                ),
            }
        }
        ThresholdKind::LogCoverageDays => format!(
            "The logs read cover {} day{} ({} to {}); the framework needs {}{basis}.",
            all_logs.calendar_days(),
            plural(usize::try_from(all_logs.calendar_days()).unwrap_or(usize::MAX)),
            day_of(all_logs.first),
            day_of(all_logs.last),
            t.required
        ),
    }
}

/// Every bound of the catalog with the value this run used, in catalog order.
fn threshold_checks(
    catalog: &Catalog,
    rules: &HashMap<String, &Rule>,
    evidence: &Evidence,
) -> Vec<ThresholdCheck> {
    let mut out = Vec::new();
    for (_, requirement) in catalog.requirements() {
        if requirement.status != CatalogStatus::Automated {
            continue;
        }
        let label = requirement.display_id().to_owned();
        for threshold in &requirement.thresholds {
            let value = rules
                .get(&threshold.rule.to_ascii_uppercase())
                .and_then(|r| r.params.get(&threshold.param))
                .cloned();
            let met = value
                .as_ref()
                .and_then(|v| threshold.allows(v))
                .unwrap_or(false);
            out.push(param_check(&label, threshold, value, met));
        }
        if let Some(days) = requirement.log_coverage_days {
            let covered = evidence.all_logs.calendar_days();
            let value = (evidence.all_logs.events > 0)
                .then(|| ParamValue::Int(i64::try_from(covered).unwrap_or(i64::MAX)));
            out.push(ThresholdCheck {
                requirement: label.clone(),
                kind: ThresholdKind::LogCoverageDays,
                rule: None,
                param: None,
                met: value.is_some() && covered >= u64::from(days),
                value,
                required: format!("≥ {days} days"),
                min: Some(f64::from(days)),
                max: None,
                basis: None,
            });
        }
    }
    out
}

fn param_check(
    label: &str,
    threshold: &Threshold,
    value: Option<ParamValue>,
    met: bool,
) -> ThresholdCheck {
    ThresholdCheck {
        requirement: label.to_owned(),
        kind: ThresholdKind::RuleParam,
        rule: Some(threshold.rule.clone()),
        param: Some(threshold.param.clone()),
        value,
        required: threshold.bound(),
        min: threshold.min,
        max: threshold.max,
        basis: threshold.basis.clone(),
        met,
    }
}

fn report_finding(
    finding: &Finding,
    waiver: Option<&Waiver>,
    mapped: &HashMap<String, Vec<String>>,
) -> ReportFinding {
    ReportFinding {
        id: finding.id.clone(),
        status: if waiver.is_some() {
            FindingStatus::Waived
        } else {
            FindingStatus::Open
        },
        rule_id: finding.rule_id.clone(),
        rule_name: finding.rule_name.clone(),
        title: finding.title.clone(),
        severity: finding.severity,
        resource: finding.resource.clone(),
        principal: finding.principal.clone(),
        first_seen: finding.first_seen.clone(),
        last_seen: finding.last_seen.clone(),
        count: finding.count,
        what: finding.what.trim().to_owned(),
        why: finding.why.as_deref().map(|t| t.trim().to_owned()),
        remediation: finding.remediation.as_deref().map(|t| t.trim().to_owned()),
        detail: finding.detail.clone(),
        evidence: finding
            .evidence
            .iter()
            .map(|e| EvidenceEvent {
                event_id: e.event_id.clone(),
                event_time: e.event_time.clone(),
                event_name: e.event_name.clone(),
                source_file: e.source_file.clone(),
                source_record: e.source_record,
            })
            .collect(),
        requirements: mapped
            .get(&finding.rule_id.to_ascii_uppercase())
            .cloned()
            .unwrap_or_default(),
        waiver: waiver.map(|w| w.location.clone()),
    }
}

fn score(counts: &StatusCounts) -> Option<f64> {
    let scored = counts.satisfied + counts.not_satisfied + counts.insufficient_evidence;
    #[allow(clippy::cast_precision_loss)]
    (scored > 0).then(|| round1(100.0 * counts.satisfied as f64 / scored as f64))
}

fn count(counts: &mut StatusCounts, status: Status) {
    let slot = match status {
        Status::Satisfied => &mut counts.satisfied,
        Status::NotSatisfied => &mut counts.not_satisfied,
        Status::InsufficientEvidence => &mut counts.insufficient_evidence,
        Status::Manual => &mut counts.manual,
        Status::NotApplicable => &mut counts.not_applicable,
    };
    *slot += 1;
    counts.total += 1;
}

fn summary(
    catalog: &Catalog,
    requirements: &[RequirementResult],
    findings: &[ReportFinding],
) -> Summary {
    let mut totals = StatusCounts::default();
    let mut sections = Vec::new();
    let mut by_section = Vec::new();
    for section in &catalog.sections {
        let mut counts = StatusCounts::default();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut severities = SeverityCounts::default();
        for result in requirements.iter().filter(|r| r.section == section.id) {
            count(&mut counts, result.status);
            count(&mut totals, result.status);
            for f in &result.findings {
                if seen.insert(f.id.as_str()) {
                    severities.add(f.severity);
                }
            }
        }
        sections.push(SectionSummary {
            id: section.id.clone(),
            title: section.title.clone(),
            requirements: counts,
            score: score(&counts),
        });
        by_section.push(SectionFindings {
            id: section.id.clone(),
            title: section.title.clone(),
            findings: severities,
        });
    }
    let mut failing: Vec<SectionSummary> = sections
        .iter()
        .filter(|s| s.requirements.not_satisfied + s.requirements.insufficient_evidence > 0)
        .cloned()
        .collect();
    // Stable sort: catalog order among equals.
    failing.sort_by(|a, b| {
        b.requirements
            .not_satisfied
            .cmp(&a.requirements.not_satisfied)
            .then_with(|| {
                b.requirements
                    .insufficient_evidence
                    .cmp(&a.requirements.insufficient_evidence)
            })
    });
    let mut open = SeverityCounts::default();
    let mut waived = SeverityCounts::default();
    for finding in findings {
        match finding.status {
            FindingStatus::Open => open.add(finding.severity),
            FindingStatus::Waived => waived.add(finding.severity),
        }
    }
    Summary {
        score: score(&totals),
        requirements: totals,
        failing_sections: failing,
        sections,
        open_findings: open,
        waived_findings: waived,
        findings_by_section: by_section,
    }
}

fn waiver_entries(
    waivers: &[Waiver],
    today: NaiveDate,
    findings: &[ReportFinding],
    all: &[(&Finding, Option<&Waiver>)],
) -> Vec<WaiverEntry> {
    let in_report: BTreeSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    waivers
        .iter()
        .map(|waiver| {
            let expired = !waiver.is_live(today);
            let covered: Vec<String> = all
                .iter()
                .filter(|(f, w)| {
                    in_report.contains(f.id.as_str())
                        && if expired {
                            waiver.matches(f)
                        } else {
                            w.is_some_and(|w| w.location == waiver.location)
                        }
                })
                .map(|(f, _)| f.id.clone())
                .collect();
            WaiverEntry {
                id: waiver.location.clone(),
                rule: waiver.rule.clone(),
                resource: waiver.resource.clone(),
                principal: waiver.principal.clone(),
                owner: waiver.owner.clone(),
                reason: waiver.reason.trim().to_owned(),
                expires: waiver.expires.format("%Y-%m-%d").to_string(),
                expired,
                findings: covered,
            }
        })
        .collect()
}

fn log_coverage(catalog: &Catalog, evidence: &Evidence, findings: &[ReportFinding]) -> LogCoverage {
    let all = &evidence.all_logs;
    let gaps = evidence
        .silences
        .iter()
        .filter_map(|silence| {
            let finding = findings
                .iter()
                .find(|f| f.resource.as_deref() == Some(silence.id.as_str()))?;
            Some(CoverageGap {
                id: silence.id.clone(),
                account: silence.account.clone(),
                region: silence.region.clone(),
                start: silence.start.clone(),
                end: silence.end.clone(),
                hours: silence.hours,
                expected_events: silence.expected_events,
                digest_covered: silence.digest_covered,
                finding: finding.id.clone(),
                waived: finding.status == FindingStatus::Waived,
            })
        })
        .collect();
    LogCoverage {
        first_event: rfc3339(all.first),
        last_event: rfc3339(all.last),
        days_covered: round1(all.days()),
        calendar_days: all.calendar_days(),
        required_days: catalog
            .requirements()
            .filter_map(|(_, r)| r.log_coverage_days)
            .max(),
        streams: evidence.streams.clone(),
        gaps,
        silences: evidence.silences.len() as u64,
    }
}

fn integrity(evidence: &Evidence) -> IntegrityResult {
    let summary = evidence.integrity.clone().unwrap_or_default();
    let status = if !evidence.has_digests {
        "no-digests"
    } else if evidence.integrity_problems.is_empty() {
        "verified"
    } else {
        "problems"
    };
    IntegrityResult {
        status: status.to_owned(),
        digests: summary.digests,
        log_files_listed: summary.log_files_listed,
        log_files_verified: summary.log_files_verified,
        problems: evidence.integrity_problems.clone(),
    }
}

/// SHA-256 of the catalog's text (the bundled copy for a bundled catalog), lowercase hex;
/// empty when the file cannot be read any more.
pub fn catalog_sha256(catalog: &Catalog) -> String {
    let bundled = crate::frameworks::bundled::FILES
        .iter()
        .find(|(path, _)| *path == catalog.file)
        .map(|(_, text)| (*text).to_owned());
    bundled
        .or_else(|| std::fs::read_to_string(&catalog.file).ok())
        .map(|text| hex(&Sha256::digest(text.as_bytes())))
        .unwrap_or_default()
}

/// The rule pack's identity: the version, and a hash over the rule files (path and text,
/// in path order) and the parameter values in effect (rule id order).
pub fn rule_pack(rules: &[Rule], disabled: &[String]) -> RulePackInfo {
    let mut files: Vec<(&str, &str)> = rules
        .iter()
        .map(|r| (r.origin.file.as_str(), &*r.origin.text))
        .collect();
    files.sort_unstable();
    files.dedup();
    let mut hasher = Sha256::new();
    for (path, text) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let mut sorted: Vec<&Rule> = rules.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for rule in sorted {
        for (name, value) in rule.params.iter() {
            hasher.update(format!("{}.{name}={value}\n", rule.id).as_bytes());
        }
    }
    let mut disabled = disabled.to_vec();
    disabled.sort();
    RulePackInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        sha256: hex(&hasher.finalize()),
        rules: rules.len() as u64,
        disabled,
    }
}

/// A settings file given to the run, with the SHA-256 of its bytes.
pub fn settings_file(role: &str, path: &std::path::Path) -> std::io::Result<SettingsFile> {
    let bytes = std::fs::read(path)?;
    Ok(SettingsFile {
        role: role.to_owned(),
        path: path.display().to_string(),
        sha256: hex(&Sha256::digest(&bytes)),
    })
}

/// Why a `baseline` rule could not have fired: its entities need more history than the
/// logs read span (first to last event), so it learned nothing and its silence is no
/// evidence. `None` for other rules and for logs long enough.
fn baseline_history_shortfall(rule: &Rule, logs: &WindowStats) -> Option<String> {
    let Body::Window(body) = &rule.body else {
        return None;
    };
    let crate::rules::window::Spec::Baseline(spec) = &body.spec else {
        return None;
    };
    let needed = spec.min_history.max(1);
    let span = match (logs.first, logs.last) {
        (Some(first), Some(last)) => last - first,
        _ => 0,
    };
    (span < needed).then(|| {
        format!(
            "a baseline needs {} of history before it can flag anything; the logs span {}",
            days_text(needed),
            days_text(span)
        )
    })
}

/// Microseconds as days, one decimal where needed: `14 days`, `2.5 days`.
fn days_text(us: i64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let days = us as f64 / 86_400_000_000.0;
    if (days - days.round()).abs() < 0.05 {
        let n = days.round() as i64;
        format!("{n} day{}", if n == 1 { "" } else { "s" })
    } else {
        format!("{days:.1} days")
    }
}
