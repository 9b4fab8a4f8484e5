//! Findings as SARIF 2.1.0 (OASIS), the format code-scanning dashboards read: one run whose
//! `tool.driver.rules` carry each rule's title, what / why / remediation and default level,
//! and one result per finding, located by a logical location (the key ARN), fingerprinted by
//! the stable finding id, with the evidence in its properties. Waived findings are results
//! with an accepted external suppression.

use std::io::Write;

use serde_json::{json, Map, Value};

use crate::rules::waiver::Waiver;
use crate::rules::{Finding, Severity};
use crate::scan::{FindingsReport, RuleInfo};

/// The schema URI written in `$schema`.
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// The `partialFingerprints` key holding the stable finding id.
pub const FINGERPRINT_KEY: &str = "kmsAuditFindingId/v1";

/// The SARIF level of a severity: high and critical are errors, medium a warning, the rest
/// notes.
pub fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// GitHub's `security-severity` score (0.0–10.0) of a severity.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// Writes `report` as a SARIF 2.1.0 log; `version` is kms-audit's.
pub fn render(report: &FindingsReport, version: &str, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &log(report, version))
        .map_err(std::io::Error::other)?;
    writeln!(out)
}

/// The SARIF log as a JSON value.
pub fn log(report: &FindingsReport, version: &str) -> Value {
    let rules: Vec<Value> = report.rules.iter().map(rule).collect();
    let index = |id: &str| report.rules.iter().position(|r| r.id == id);
    let mut results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(f, index(&f.rule_id), None))
        .collect();
    results.extend(
        report
            .waived
            .iter()
            .map(|w| result(&w.finding, index(&w.finding.rule_id), Some(&w.waiver))),
    );
    json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "kms-audit",
                    "version": version,
                    "semanticVersion": version,
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

fn rule(rule: &RuleInfo) -> Value {
    let mut text = format!("What it flags: {}", rule.what.trim());
    let mut markdown = format!("**What it flags**\n\n{}", rule.what.trim());
    for (title, body) in [
        ("Why it matters", &rule.why),
        ("Remediation", &rule.remediation),
    ] {
        if let Some(body) = body {
            text.push_str(&format!("\n\n{title}: {}", body.trim()));
            markdown.push_str(&format!("\n\n**{title}**\n\n{}", body.trim()));
        }
    }
    let mut value = json!({
        "id": rule.id,
        "name": rule.name,
        "shortDescription": { "text": rule.title },
        "fullDescription": { "text": rule.what.trim() },
        "help": { "text": text, "markdown": markdown },
        "defaultConfiguration": { "level": level(rule.severity) },
        "properties": {
            "severity": rule.severity.as_str(),
            "security-severity": security_severity(rule.severity),
            "tags": ["security", "kms"],
        },
    });
    if let Some(uri) = rule.references.iter().find(|r| r.starts_with("https://")) {
        value["helpUri"] = json!(uri);
    }
    value
}

fn result(finding: &Finding, rule_index: Option<usize>, waiver: Option<&Waiver>) -> Value {
    let resource = finding.resource.as_deref().unwrap_or("(no resource)");
    let principal = finding.principal.as_deref().unwrap_or("(no principal)");
    let message = format!(
        "{}: {resource} by {principal}, {} event(s) from {} to {}.",
        finding.title, finding.count, finding.first_seen, finding.last_seen
    );
    let mut value = json!({
        "ruleId": finding.rule_id,
        "level": level(finding.severity),
        "kind": "fail",
        "message": { "text": message },
        "partialFingerprints": { FINGERPRINT_KEY: finding.id },
        "properties": {
            "findingId": finding.id,
            "severity": finding.severity.as_str(),
            "resource": finding.resource,
            "principal": finding.principal,
            "firstSeen": finding.first_seen,
            "lastSeen": finding.last_seen,
            "count": finding.count,
            "evidence": finding.evidence,
            "detail": finding.detail,
        },
    });
    let Some(object) = value.as_object_mut() else {
        return value;
    };
    if let Some(index) = rule_index {
        object.insert("ruleIndex".to_owned(), json!(index));
    }
    if let Some(resource) = &finding.resource {
        object.insert(
            "locations".to_owned(),
            json!([{
                "logicalLocations": [{
                    "fullyQualifiedName": resource,
                    "kind": "resource",
                }]
            }]),
        );
    }
    if let Some(waiver) = waiver {
        let mut properties = Map::new();
        properties.insert("owner".to_owned(), json!(waiver.owner));
        properties.insert(
            "expires".to_owned(),
            json!(waiver.expires.format("%Y-%m-%d").to_string()),
        );
        properties.insert("waiver".to_owned(), json!(waiver.location));
        object.insert(
            "suppressions".to_owned(),
            json!([{
                "kind": "external",
                "status": "accepted",
                "justification": waiver.reason,
                "properties": properties,
            }]),
        );
    }
    value
}
