//! Window rules (`threshold`, `baseline`, `correlation`) on the simulator's sample trail:
//! every injected incident of the unusual-usage and least-privilege kinds is flagged by a
//! rule of that family, for that principal and key, within the incident's window; findings
//! that match no injected incident are counted and kept few.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions, Silent};
use kms_audit::rules::eval::{evaluate, scan_parts, EvalOptions};
use kms_audit::rules::{load_bundled, Finding, Kind, Rule};
use kms_audit::trail::discover::discover;

/// Incident types these rules must flag.
const TYPES: &[&str] = &[
    "decrypt-spike",
    "new-principal",
    "off-hours",
    "new-network",
    "new-region",
    "cross-account",
    "ransomware",
    "access-denied-probing",
    "root-use",
];

/// Families (folders under `rules/`) checked.
const FAMILIES: &[&str] = &["unusual-usage", "least-privilege"];

/// Window-rule findings that match no incident: at most this many.
const MAX_UNMATCHED: usize = 3;

#[derive(Debug, serde::Deserialize)]
struct Truth {
    incidents: Vec<Incident>,
}

#[derive(Debug, serde::Deserialize)]
struct Incident {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    family: String,
    principal: Option<String>,
    key: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

fn family(rule: &Rule) -> &str {
    rule.origin.file.split('/').nth(1).unwrap_or_default()
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|err| panic!("{text}: {err}"))
}

/// Whether `finding` is about `incident`: same principal and key (when both name one), and
/// overlapping times.
fn concerns(finding: &Finding, incident: &Incident) -> bool {
    let principal_ok = incident.principal.is_none() || finding.principal == incident.principal;
    // A ransomware incident names the victim's key; findings about the attacker's key
    // belong to it too.
    let key_ok = incident.key.is_none()
        || incident.kind == "ransomware"
        || finding.resource.is_none()
        || finding.resource == incident.key;
    principal_ok
        && key_ok
        && time(&finding.first_seen) <= incident.end
        && time(&finding.last_seen) >= incident.start
}

#[test]
fn sample_trail_incidents_are_flagged_by_window_rules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let truth: Truth = serde_json::from_str(
        &std::fs::read_to_string(root.join("ground-truth.json")).expect("ground truth"),
    )
    .expect("ground truth JSON");

    let work = tempfile::tempdir().expect("temporary directory");
    let discovery = discover(&[root.join("AWSLogs")]).expect("discover sample-logs");
    let mut lake = Lake::open(&work.path().join("lake")).expect("lake");
    ingest(&discovery, &mut lake, &IngestOptions::default(), &Silent).expect("ingest");
    let loaded = load_bundled();
    assert!(loaded.is_ok(), "{:#?}", loaded.errors);
    let rules: Vec<&Rule> = loaded
        .rules
        .iter()
        .filter(|r| FAMILIES.contains(&family(r)))
        .collect();
    let families: HashMap<&str, &str> = rules.iter().map(|r| (r.id.as_str(), family(r))).collect();
    let events = scan_parts(&lake.part_paths()).expect("scan");
    let outcome = evaluate(&rules, events, &EvalOptions::default()).expect("evaluate");

    let mut missed = Vec::new();
    for incident in truth
        .incidents
        .iter()
        .filter(|i| TYPES.contains(&i.kind.as_str()))
    {
        let by: Vec<&str> = outcome
            .findings
            .iter()
            .filter(|f| families.get(f.rule_id.as_str()) == Some(&incident.family.as_str()))
            .filter(|f| concerns(f, incident))
            .map(|f| f.rule_id.as_str())
            .collect();
        eprintln!("{} {:<22} flagged by {by:?}", incident.id, incident.kind);
        if by.is_empty() {
            missed.push(format!("{} {}", incident.id, incident.kind));
        }
    }
    // Findings of the window rules (match and state rules of these families are judged by
    // their own tests) that concern no injected incident.
    let windowed: Vec<&str> = rules
        .iter()
        .filter(|r| matches!(r.kind, Kind::Threshold | Kind::Baseline | Kind::Correlation))
        .map(|r| r.id.as_str())
        .collect();
    let window_findings: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| windowed.contains(&f.rule_id.as_str()))
        .collect();
    let unmatched: Vec<&Finding> = window_findings
        .iter()
        .copied()
        .filter(|f| !truth.incidents.iter().any(|i| concerns(f, i)))
        .collect();
    for f in &unmatched {
        eprintln!(
            "unmatched: {} {:?} {:?} {} {}",
            f.rule_id,
            f.principal,
            f.resource,
            f.first_seen,
            f.detail.as_deref().unwrap_or_default()
        );
    }
    eprintln!(
        "{} window-rule findings, {} match no incident",
        window_findings.len(),
        unmatched.len()
    );
    assert!(missed.is_empty(), "incidents not flagged: {missed:#?}");
    assert!(
        unmatched.len() <= MAX_UNMATCHED,
        "{} findings match no incident",
        unmatched.len()
    );
    // Every window finding states what was observed; baseline findings also the baseline.
    for f in &window_findings {
        let detail = f.detail.as_deref().unwrap_or_default();
        assert!(detail.starts_with("observed"), "{}: {detail}", f.rule_id);
        let kind = rules.iter().find(|r| r.id == f.rule_id).map(|r| r.kind);
        if kind == Some(Kind::Baseline) {
            assert!(detail.contains("baseline"), "{}: {detail}", f.rule_id);
        }
    }
}
