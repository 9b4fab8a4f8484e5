//! The CSV report (RFC 4180, CRLF line ends): one row per requirement and finding (open and
//! waived), and one row with empty finding columns for a requirement without findings, so
//! every requirement appears. Columns are [`HEADER`], documented in
//! `docs/report-formats.md`; new columns are only ever appended.

use std::io::Write;

use crate::report::compliance::model::{ComplianceReport, FindingRef, ReportFinding};
use crate::report::findings_csv::quote;

/// The header, in column order.
pub const HEADER: &[&str] = &[
    "framework",
    "framework_version",
    "report_date",
    "section",
    "requirement_id",
    "requirement_label",
    "requirement_title",
    "status",
    "reason",
    "finding_id",
    "finding_status",
    "severity",
    "rule_id",
    "finding_title",
    "resource",
    "principal",
    "first_seen",
    "last_seen",
    "count",
    "evidence_event_ids",
    "evidence_files",
    "remediation",
    "waiver",
    "waiver_owner",
    "waiver_expires",
];

/// Separator of list values inside one field.
const LIST_SEPARATOR: &str = ";";

/// Writes the header and the rows of `report`.
pub fn write(report: &ComplianceReport, out: &mut impl Write) -> std::io::Result<()> {
    record(out, HEADER.iter().map(|h| (*h).to_owned()))?;
    let framework = &report.scope.framework;
    for requirement in &report.requirements {
        let base = [
            framework.id.clone(),
            framework.version.clone(),
            report.scope.report_date.clone(),
            requirement.section.clone(),
            requirement.id.clone(),
            requirement.label.clone(),
            requirement.title.clone(),
            requirement.status.as_str().to_owned(),
            requirement.reason.clone(),
        ];
        let refs: Vec<&FindingRef> = requirement
            .findings
            .iter()
            .chain(&requirement.waived_findings)
            .collect();
        if refs.is_empty() {
            let empty = std::iter::repeat_n(String::new(), HEADER.len() - base.len());
            record(out, base.iter().cloned().chain(empty))?;
            continue;
        }
        for reference in refs {
            let Some(finding) = report.finding(&reference.id) else {
                continue;
            };
            record(
                out,
                base.iter().cloned().chain(finding_fields(report, finding)),
            )?;
        }
    }
    Ok(())
}

fn finding_fields(report: &ComplianceReport, finding: &ReportFinding) -> Vec<String> {
    let ids: Vec<&str> = finding
        .evidence
        .iter()
        .filter_map(|e| e.event_id.as_deref())
        .collect();
    let mut files: Vec<&str> = finding
        .evidence
        .iter()
        .map(|e| e.source_file.as_str())
        .filter(|f| !f.is_empty())
        .collect();
    files.sort_unstable();
    files.dedup();
    let waiver = finding.waiver.as_deref().and_then(|id| report.waiver(id));
    let status = match finding.status {
        crate::report::compliance::model::FindingStatus::Open => "open",
        crate::report::compliance::model::FindingStatus::Waived => "waived",
    };
    vec![
        finding.id.clone(),
        status.to_owned(),
        finding.severity.as_str().to_owned(),
        finding.rule_id.clone(),
        finding.title.clone(),
        finding.resource.clone().unwrap_or_default(),
        finding.principal.clone().unwrap_or_default(),
        finding.first_seen.clone(),
        finding.last_seen.clone(),
        finding.count.to_string(),
        ids.join(LIST_SEPARATOR),
        files.join(LIST_SEPARATOR),
        finding.remediation.clone().unwrap_or_default(),
        finding.waiver.clone().unwrap_or_default(),
        waiver.map(|w| w.owner.clone()).unwrap_or_default(),
        waiver.map(|w| w.expires.clone()).unwrap_or_default(),
    ]
}

fn record(out: &mut impl Write, fields: impl IntoIterator<Item = String>) -> std::io::Result<()> {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(quote(&field).as_bytes())?;
    }
    out.write_all(b"\r\n")
}
