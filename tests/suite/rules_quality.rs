//! The default pack judged against the simulator's ground truth: on the committed
//! `sample-logs/` (what `scenarios/sample.yaml` writes, checked byte for byte in
//! tests/suite/simulate.rs) every injected incident is flagged by a rule of the family the
//! ground truth names, and findings that match no incident are at most 2% of all findings.
//!
//! How a finding matches an incident (documented in rules/README.md, "Quality"):
//! - key: the finding's resource is the incident's key or its `foreign_key`, or one of the
//!   two names no key;
//! - principal: the finding's principal is the incident's, or one of the two names none
//!   (or the finding's is `*`, a policy open to anyone);
//! - time: for rules that judge events (match, threshold, baseline, correlation), the
//!   finding's first..last seen overlaps the incident's window (widened by an hour on each
//!   side for window rounding); state rules describe the state at the end of the logs, which
//!   the incident caused whenever it happened, so they are not held to the window.

use std::collections::BTreeMap;

use crate::common::repo_root;
use chrono::{DateTime, Duration, Utc};
use kms_audit::rules::load_bundled;
use kms_audit::rules::model::Kind;
use serde_json::Value;

/// An injected incident, as ground-truth.json has it.
#[derive(Debug)]
struct Incident {
    id: String,
    kind: String,
    family: String,
    principal: Option<String>,
    keys: Vec<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// A finding of `scan --format json`.
#[derive(Debug)]
struct Finding {
    rule: String,
    resource: Option<String>,
    principal: Option<String>,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn time(value: &Value) -> DateTime<Utc> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a time: {value}"))
}

fn incidents() -> Vec<Incident> {
    let bytes = std::fs::read(repo_root().join("sample-logs/ground-truth.json")).expect("truth");
    let truth: Value = serde_json::from_slice(&bytes).expect("json");
    truth["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| Incident {
            id: text(&i["id"]).expect("id"),
            kind: text(&i["type"]).expect("type"),
            family: text(&i["family"]).expect("family"),
            principal: text(&i["principal"]),
            keys: [text(&i["key"]), text(&i["foreign_key"])]
                .into_iter()
                .flatten()
                .collect(),
            start: time(&i["start"]),
            end: time(&i["end"]),
        })
        .collect()
}

fn findings() -> Vec<Finding> {
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .args(["scan", "sample-logs", "--no-cache", "--format", "json"])
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    report["findings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| Finding {
            rule: text(&f["rule_id"]).expect("rule_id"),
            resource: text(&f["resource"]),
            principal: text(&f["principal"]),
            first: time(&f["first_seen"]),
            last: time(&f["last_seen"]),
        })
        .collect()
}

/// Each bundled rule's family (its `rules/<family>/` folder) and whether it judges state.
fn rules() -> BTreeMap<String, (String, bool)> {
    load_bundled()
        .rules
        .iter()
        .map(|r| {
            let family = r
                .origin
                .file
                .split('/')
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            (r.id.clone(), (family, r.kind == Kind::State))
        })
        .collect()
}

fn matches(finding: &Finding, state: bool, incident: &Incident) -> bool {
    let key = match &finding.resource {
        None => true,
        Some(resource) => incident.keys.is_empty() || incident.keys.contains(resource),
    };
    let principal = match (&finding.principal, &incident.principal) {
        (Some(f), Some(i)) => f == i || f == "*",
        _ => true,
    };
    let slack = Duration::hours(1);
    let time =
        state || (finding.first <= incident.end + slack && incident.start - slack <= finding.last);
    key && principal && time
}

#[test]
fn every_incident_is_flagged_and_findings_are_mostly_incidents() {
    let incidents = incidents();
    let findings = findings();
    let rules = rules();
    assert!(incidents.len() >= 17, "{} incidents", incidents.len());
    assert!(!findings.is_empty());

    let mut missed = Vec::new();
    for incident in &incidents {
        let flagged = findings.iter().any(|f| {
            let (family, state) = rules.get(&f.rule).expect("a bundled rule");
            family == &incident.family && matches(f, *state, incident)
        });
        if !flagged {
            missed.push(format!(
                "{} {} ({})",
                incident.id, incident.kind, incident.family
            ));
        }
    }
    assert!(
        missed.is_empty(),
        "incidents no rule of their family flags: {missed:#?}"
    );

    let unmatched: Vec<String> = findings
        .iter()
        .filter(|f| {
            let (_, state) = &rules[&f.rule];
            !incidents.iter().any(|i| matches(f, *state, i))
        })
        .map(|f| {
            format!(
                "{} {} {} {}..{}",
                f.rule,
                f.resource.as_deref().unwrap_or("-"),
                f.principal.as_deref().unwrap_or("-"),
                f.first,
                f.last
            )
        })
        .collect();
    // At most 2% of all findings may match no incident.
    assert!(
        unmatched.len() * 50 <= findings.len(),
        "{} of {} findings match no incident (at most 2% may): {unmatched:#?}",
        unmatched.len(),
        findings.len()
    );
}

#[test]
fn an_unrelated_finding_does_not_match() {
    let incident = Incident {
        id: "INC-1".into(),
        kind: "decrypt-spike".into(),
        family: "unusual-usage".into(),
        principal: Some("arn:aws:iam::111122223333:role/app".into()),
        keys: vec!["arn:aws:kms:us-east-1:111122223333:key/a".into()],
        start: "2026-01-01T10:00:00Z".parse().expect("t"),
        end: "2026-01-01T11:00:00Z".parse().expect("t"),
    };
    let at = |t: &str| t.parse::<DateTime<Utc>>().expect("t");
    let finding = |key: &str, principal: &str, first: &str| Finding {
        rule: "X".into(),
        resource: Some(key.into()),
        principal: Some(principal.into()),
        first: at(first),
        last: at(first),
    };
    let same = finding(
        "arn:aws:kms:us-east-1:111122223333:key/a",
        "arn:aws:iam::111122223333:role/app",
        "2026-01-01T10:30:00Z",
    );
    assert!(matches(&same, false, &incident));
    let later = finding(
        "arn:aws:kms:us-east-1:111122223333:key/a",
        "arn:aws:iam::111122223333:role/app",
        "2026-03-01T10:30:00Z",
    );
    assert!(!matches(&later, false, &incident), "outside the window");
    assert!(
        matches(&later, true, &incident),
        "state is not held to the window"
    );
    let other_key = finding(
        "arn:aws:kms:us-east-1:111122223333:key/b",
        "arn:aws:iam::111122223333:role/app",
        "2026-01-01T10:30:00Z",
    );
    assert!(!matches(&other_key, true, &incident));
    let other_principal = finding(
        "arn:aws:kms:us-east-1:111122223333:key/a",
        "arn:aws:iam::111122223333:role/other",
        "2026-01-01T10:30:00Z",
    );
    assert!(!matches(&other_principal, false, &incident));
}
