//! Reports on a schedule: where each report goes (`<out>/<framework>/<YYYY-MM-DD>.<ext>`),
//! finding the previous report of a framework (the JSON one with the latest date before the
//! report date in the same folder) and comparing with it: new, resolved and still-open
//! findings, the score trend and the requirements whose status changed.
//!
//! The previous report is read loosely (only the fields the comparison needs), so reports
//! written by an older kms-audit with the same `format` still compare.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use serde::Deserialize;

use crate::report::compliance::error::ReportError;
use crate::report::compliance::model::{
    ComparedFinding, Comparison, ComplianceReport, FindingStatus, StatusChange, Trend,
    REPORT_FORMAT,
};

/// The extension of the JSON report, the one the next report compares with.
pub const JSON_EXTENSION: &str = "json";

/// The folder of a framework's reports under `out`.
pub fn folder(out: &Path, framework: &str) -> PathBuf {
    out.join(framework)
}

/// The file of the report of `framework` for `date` in format `extension`.
pub fn report_path(out: &Path, framework: &str, date: NaiveDate, extension: &str) -> PathBuf {
    folder(out, framework).join(format!("{}.{extension}", date.format("%Y-%m-%d")))
}

/// The JSON report in `folder` with the latest date before `date`, if any. Files whose name
/// is not `YYYY-MM-DD.json` are ignored; a folder that does not exist holds none.
pub fn find_previous(
    folder: &Path,
    date: NaiveDate,
) -> Result<Option<(PathBuf, NaiveDate)>, ReportError> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ReportError::ListFolder {
                path: folder.to_path_buf(),
                source,
            })
        }
    };
    let mut best: Option<(PathBuf, NaiveDate)> = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(stem) = name
            .to_str()
            .and_then(|n| n.strip_suffix(&format!(".{JSON_EXTENSION}")))
        else {
            continue;
        };
        let Ok(found) = NaiveDate::parse_from_str(stem, "%Y-%m-%d") else {
            continue;
        };
        if found < date && best.as_ref().is_none_or(|(_, d)| found > *d) {
            best = Some((folder.join(&name), found));
        }
    }
    Ok(best)
}

/// What the comparison reads of a previous report.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreviousReport {
    /// Must be [`REPORT_FORMAT`].
    pub format: String,
    /// Its scope (the report date).
    pub scope: PreviousScope,
    /// Its summary (the score).
    pub summary: PreviousSummary,
    /// Its requirements.
    #[serde(default)]
    pub requirements: Vec<PreviousRequirement>,
    /// Its findings.
    #[serde(default)]
    pub findings: Vec<PreviousFinding>,
}

/// The scope of a previous report.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreviousScope {
    /// Its report date.
    pub report_date: String,
}

/// The summary of a previous report.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreviousSummary {
    /// Its score.
    pub score: Option<f64>,
}

/// A requirement of a previous report.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreviousRequirement {
    /// Id.
    pub id: String,
    /// Status.
    pub status: String,
}

/// A finding of a previous report.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PreviousFinding {
    /// Stable id.
    pub id: String,
    /// `open` or `waived`.
    pub status: String,
    /// Rule.
    pub rule_id: String,
    /// Severity.
    pub severity: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Resource.
    #[serde(default)]
    pub resource: Option<String>,
    /// Principal.
    #[serde(default)]
    pub principal: Option<String>,
}

/// Reads the previous report at `path`.
pub fn load_previous(path: &Path) -> Result<PreviousReport, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ReportError::PreviousUnreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let previous: PreviousReport =
        serde_json::from_str(&text).map_err(|err| ReportError::PreviousInvalid {
            path: path.to_path_buf(),
            message: err.to_string(),
        })?;
    if previous.format != REPORT_FORMAT {
        return Err(ReportError::PreviousInvalid {
            path: path.to_path_buf(),
            message: format!(
                "its format is {:?}, expected {REPORT_FORMAT:?}",
                previous.format
            ),
        });
    }
    Ok(previous)
}

/// Compares `report` with `previous`, read from `shown` (the path as the user gave it).
pub fn compare(report: &ComplianceReport, previous: &PreviousReport, shown: &str) -> Comparison {
    let open_now: Vec<ComparedFinding> = report
        .findings
        .iter()
        .filter(|f| f.status == FindingStatus::Open)
        .map(|f| ComparedFinding {
            id: f.id.clone(),
            rule_id: f.rule_id.clone(),
            severity: f.severity.as_str().to_owned(),
            title: f.title.clone(),
            resource: f.resource.clone(),
            principal: f.principal.clone(),
        })
        .collect();
    let open_before: Vec<ComparedFinding> = previous
        .findings
        .iter()
        .filter(|f| f.status == "open")
        .map(|f| ComparedFinding {
            id: f.id.clone(),
            rule_id: f.rule_id.clone(),
            severity: f.severity.clone(),
            title: f.title.clone(),
            resource: f.resource.clone(),
            principal: f.principal.clone(),
        })
        .collect();
    let was_open = |id: &str| open_before.iter().any(|f| f.id == id);
    let is_open = |id: &str| open_now.iter().any(|f| f.id == id);
    let new_findings = open_now
        .iter()
        .filter(|f| !was_open(&f.id))
        .cloned()
        .collect();
    let still_open_findings = open_now
        .iter()
        .filter(|f| was_open(&f.id))
        .cloned()
        .collect();
    let resolved_findings = open_before
        .iter()
        .filter(|f| !is_open(&f.id))
        .cloned()
        .collect();
    let score_change = match (report.summary.score, previous.summary.score) {
        (Some(now), Some(before)) => Some(((now - before) * 10.0).round() / 10.0),
        _ => None,
    };
    let trend = match score_change {
        None => Trend::NotComparable,
        Some(change) if change > 0.0 => Trend::Improved,
        Some(change) if change < 0.0 => Trend::Declined,
        Some(_) => Trend::Unchanged,
    };
    let status_changes = report
        .requirements
        .iter()
        .filter_map(|r| {
            let before = previous
                .requirements
                .iter()
                .find(|p| p.id == r.id)
                .map_or("absent", |p| p.status.as_str());
            (before != r.status.as_str()).then(|| StatusChange {
                requirement: r.id.clone(),
                label: r.label.clone(),
                from: before.to_owned(),
                to: r.status,
            })
        })
        .collect();
    Comparison {
        previous_report: shown.to_owned(),
        previous_date: previous.scope.report_date.clone(),
        previous_score: previous.summary.score,
        score_change,
        trend,
        new_findings,
        resolved_findings,
        still_open_findings,
        status_changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn the_previous_report_is_the_latest_json_before_the_date() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [
            "2026-01-01.json",
            "2026-01-03.json",
            "2026-01-03.md",
            "2026-01-05.json",
            "2026-01-04.json.tmp",
            "notes.json",
        ] {
            std::fs::write(dir.path().join(name), "{}").expect("write");
        }
        let found = find_previous(dir.path(), date("2026-01-05")).expect("lists");
        assert_eq!(
            found,
            Some((dir.path().join("2026-01-03.json"), date("2026-01-03")))
        );
        assert_eq!(
            find_previous(dir.path(), date("2026-01-01")).expect("lists"),
            None
        );
        assert_eq!(
            find_previous(&dir.path().join("missing"), date("2026-01-01")).expect("none"),
            None
        );
        assert_eq!(
            report_path(
                Path::new("reports"),
                "pci-dss-4.0.1",
                date("2026-01-05"),
                "md"
            ),
            PathBuf::from("reports/pci-dss-4.0.1/2026-01-05.md")
        );
    }

    #[test]
    fn a_report_of_another_kind_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("2026-01-01.json");
        std::fs::write(&path, "{\"format\": \"x\", \"scope\": {\"report_date\": \"2026-01-01\"}, \"summary\": {\"score\": null}}").expect("write");
        let err = load_previous(&path).expect_err("refused");
        assert!(err.to_string().contains("2026-01-01.json"), "{err}");
        assert!(
            err.to_string()
                .contains("expected \"kms-audit-compliance-report\""),
            "{err}"
        );
        std::fs::write(&path, "not json").expect("write");
        let err = load_previous(&path).expect_err("refused");
        assert!(err.to_string().starts_with("previous report "), "{err}");
    }
}
