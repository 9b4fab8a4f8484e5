//! Findings: what a rule found, grouped by resource and principal, with the evidence an
//! auditor needs to check it (event ids, times, the files that hold the events).

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::rules::model::{Rule, Severity};

/// Evidence events kept per finding unless told otherwise.
pub const DEFAULT_MAX_EVIDENCE: usize = 10;

/// One event behind a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// `eventID`; `None` for records without one.
    pub event_id: Option<String>,
    /// `eventTime`, RFC 3339 UTC.
    pub event_time: String,
    /// `eventName`.
    pub event_name: String,
    /// The file the record came from.
    pub source_file: String,
    /// The record's 0-based position in that file.
    pub source_record: u32,
}

/// What a rule found about one resource and principal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable id: the same rule, resource and principal give the same id in every run.
    pub id: String,
    /// The rule's id.
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
    /// The rule's title.
    pub title: String,
    /// The rule's severity.
    pub severity: Severity,
    /// The resource (a KMS key ARN for KMS events); `None` when the events name none.
    pub resource: Option<String>,
    /// The principal that acted (the role for role sessions).
    pub principal: Option<String>,
    /// The earliest matching event, RFC 3339 UTC.
    pub first_seen: String,
    /// The latest matching event, RFC 3339 UTC.
    pub last_seen: String,
    /// Matching events.
    pub count: u64,
    /// The earliest matching events, at most the evidence limit, oldest first.
    pub evidence: Vec<Evidence>,
    /// What the rule flags.
    pub what: String,
    /// Why it matters, when the rule says.
    pub why: Option<String>,
    /// What to do, when the rule says.
    pub remediation: Option<String>,
    /// What was observed against what was expected (a window rule's threshold or learned
    /// baseline, a state rule's values); `None` for match rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The stable id of a finding of rule `rule_id` about `resource` and `principal`: the first
/// 16 hex digits of a SHA-256 over the three.
pub fn finding_id(rule_id: &str, resource: Option<&str>, principal: Option<&str>) -> String {
    let mut hasher = Sha256::new();
    for part in [Some(rule_id), resource, principal] {
        // A missing part and an empty one must differ.
        match part {
            Some(text) => {
                hasher.update([1u8]);
                hasher.update(text.as_bytes());
            }
            None => hasher.update([0u8]),
        }
        hasher.update([0xffu8]);
    }
    crate::trail::decode::hex(&hasher.finalize()[..8])
}

/// One matching event, as the evaluator hands it over.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The resource the rule names for the event.
    pub resource: Option<String>,
    /// The event's principal.
    pub principal: Option<String>,
    /// `eventTime` in microseconds since the epoch.
    pub time_us: i64,
    /// The event itself.
    pub evidence: Evidence,
}

/// Groups one rule's hits into findings.
#[derive(Debug)]
pub struct FindingBuilder {
    max_evidence: usize,
    groups: HashMap<(Option<String>, Option<String>), Group>,
}

#[derive(Debug)]
struct Group {
    first: i64,
    last: i64,
    count: u64,
    /// Kept sorted by time once trimmed; may hold up to twice the limit between trims.
    evidence: Vec<(i64, Evidence)>,
}

impl FindingBuilder {
    /// A builder keeping at most `max_evidence` events per finding.
    pub fn new(max_evidence: usize) -> Self {
        Self {
            max_evidence,
            groups: HashMap::new(),
        }
    }

    /// Adds one matching event.
    pub fn add(&mut self, hit: Hit) {
        let limit = self.max_evidence;
        let group = self
            .groups
            .entry((hit.resource, hit.principal))
            .or_insert_with(|| Group {
                first: hit.time_us,
                last: hit.time_us,
                count: 0,
                evidence: Vec::new(),
            });
        group.first = group.first.min(hit.time_us);
        group.last = group.last.max(hit.time_us);
        group.count += 1;
        if limit > 0 {
            group.evidence.push((hit.time_us, hit.evidence));
            if group.evidence.len() >= limit.saturating_mul(2) {
                trim(&mut group.evidence, limit);
            }
        }
    }

    /// The findings of `rule`, in resource then principal order.
    pub fn finish(self, rule: &Rule) -> Vec<Finding> {
        let limit = self.max_evidence;
        let mut findings: Vec<Finding> = self
            .groups
            .into_iter()
            .map(|((resource, principal), mut group)| {
                trim(&mut group.evidence, limit);
                Finding {
                    id: finding_id(&rule.id, resource.as_deref(), principal.as_deref()),
                    rule_id: rule.id.clone(),
                    rule_name: rule.name.clone(),
                    title: rule.title.clone(),
                    severity: rule.severity,
                    resource,
                    principal,
                    first_seen: rfc3339(group.first),
                    last_seen: rfc3339(group.last),
                    count: group.count,
                    evidence: group.evidence.into_iter().map(|(_, e)| e).collect(),
                    what: rule.what.clone(),
                    why: rule.why.clone(),
                    remediation: rule.remediation.clone(),
                    detail: None,
                }
            })
            .collect();
        findings.sort_by(|a, b| {
            a.resource
                .cmp(&b.resource)
                .then_with(|| a.principal.cmp(&b.principal))
        });
        findings
    }
}

/// Keeps the `limit` earliest events (ties by event id, then file and record).
fn trim(evidence: &mut Vec<(i64, Evidence)>, limit: usize) {
    evidence.sort_by(|(ta, a), (tb, b)| {
        ta.cmp(tb)
            .then_with(|| a.event_id.cmp(&b.event_id))
            .then_with(|| a.source_file.cmp(&b.source_file))
            .then_with(|| a.source_record.cmp(&b.source_record))
    });
    evidence.truncate(limit);
}

/// `micros` since the epoch as RFC 3339 UTC (fractional seconds only when present).
pub fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

/// Sorts findings most severe first, then by rule id, resource and principal.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule_id.cmp(&b.rule_id))
            .then_with(|| a.resource.cmp(&b.resource))
            .then_with(|| a.principal.cmp(&b.principal))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinguish_parts() {
        let a = finding_id("KMS.LP.1", Some("arn:k"), Some("arn:p"));
        assert_eq!(a, finding_id("KMS.LP.1", Some("arn:k"), Some("arn:p")));
        assert_eq!(a.len(), 16);
        assert_ne!(a, finding_id("KMS.LP.1", Some("arn:karn:p"), None));
        assert_ne!(
            finding_id("R.1", None, Some("x")),
            finding_id("R.1", Some(""), Some("x"))
        );
        assert_ne!(a, finding_id("KMS.LP.2", Some("arn:k"), Some("arn:p")));
    }

    #[test]
    fn evidence_keeps_the_earliest_events() {
        let mut evidence: Vec<(i64, Evidence)> = (0..25)
            .rev()
            .map(|t| {
                (
                    t,
                    Evidence {
                        event_id: Some(format!("e{t:02}")),
                        event_time: rfc3339(t),
                        event_name: "Decrypt".into(),
                        source_file: "f".into(),
                        source_record: 0,
                    },
                )
            })
            .collect();
        trim(&mut evidence, 3);
        let ids: Vec<_> = evidence
            .iter()
            .map(|(_, e)| e.event_id.clone().unwrap_or_default())
            .collect();
        assert_eq!(ids, ["e00", "e01", "e02"]);
        assert_eq!(rfc3339(1_700_000_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(1_700_000_000_500_000), "2023-11-14T22:13:20.500Z");
    }
}
