//! Waivers: accepted findings. A waiver file (`--waivers`) lists, for a rule, the resources
//! and principals (glob patterns) whose findings are accepted, with the reason, the owner
//! who accepted them and an expiry date. A finding matched by a live waiver is reported as
//! waived and does not fail a CI run; a waiver past its expiry waives nothing and is itself
//! reported as a finding of [`EXPIRED_RULE_ID`].
//!
//! ```yaml
//! - rule: KMS.LC.1
//!   resource: "arn:aws:kms:us-east-1:111122223333:key/*"   # optional, default *
//!   principal: "arn:aws:iam::111122223333:role/decom-*"     # optional, default *
//!   reason: Keys of the retired billing stack are being deleted (CHG-1234).
//!   owner: platform-security@example.com
//!   expires: 2026-06-30
//! ```

use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;
use serde_yaml_ng::Value;

use crate::kms::policy::wildcard::matches;
use crate::rules::config::ConfigError;
use crate::rules::finding::{finding_id, Finding};
use crate::rules::model::Severity;
use crate::rules::yaml::{type_name, FieldPath, KeyIndex};

/// The rule id of the finding an expired waiver produces.
pub const EXPIRED_RULE_ID: &str = "KMS.WAIVER.EXPIRED";
/// The rule name of that finding.
pub const EXPIRED_RULE_NAME: &str = "waiver-expired";
/// The title of that finding.
pub const EXPIRED_TITLE: &str = "A waiver is past its expiry date";
/// The severity of that finding.
pub const EXPIRED_SEVERITY: Severity = Severity::Low;
/// What that finding flags.
pub const EXPIRED_WHAT: &str =
    "A waiver in the waiver file is past its expiry date, so it no longer waives anything.";
/// Why it matters.
pub const EXPIRED_WHY: &str = "An accepted risk must be reviewed when its waiver expires: \
     the findings it covered count again, and a stale waiver file hides who decided what.";
/// What to do.
pub const EXPIRED_REMEDIATION: &str = "Ask the waiver's owner to review it: fix the \
     findings and delete the waiver, or renew it with a new expiry date and reason.";

/// The fields of a waiver.
const FIELDS: &[&str] = &[
    "rule",
    "resource",
    "principal",
    "reason",
    "owner",
    "expires",
];

/// One waiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    /// The rule id (case-insensitive; `*` and `?` wildcards allowed).
    pub rule: String,
    /// Glob over the finding's resource (`*` any run, `?` one character).
    pub resource: String,
    /// Glob over the finding's principal.
    pub principal: String,
    /// Why the findings are accepted.
    pub reason: String,
    /// Who accepted them.
    pub owner: String,
    /// The last day the waiver applies (inclusive).
    pub expires: NaiveDate,
    /// `file:line` of the waiver.
    pub location: String,
}

impl Waiver {
    /// Whether the waiver covers `finding`.
    pub fn matches(&self, finding: &Finding) -> bool {
        // IAM's wildcard matching (`*` any run, `?` one character) serves waivers too.
        matches(&self.rule, &finding.rule_id, true)
            && matches(
                &self.resource,
                finding.resource.as_deref().unwrap_or(""),
                false,
            )
            && matches(
                &self.principal,
                finding.principal.as_deref().unwrap_or(""),
                false,
            )
    }

    /// Whether the waiver still applies on `today`.
    pub fn is_live(&self, today: NaiveDate) -> bool {
        today <= self.expires
    }
}

/// A finding accepted by a waiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaivedFinding {
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
    /// The waiver that accepts it.
    pub waiver: Waiver,
}

/// Findings after waivers.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Waived {
    /// Findings no live waiver covers, plus one per expired waiver.
    pub open: Vec<Finding>,
    /// Findings a live waiver covers.
    pub waived: Vec<WaivedFinding>,
}

/// Splits `findings` into open and waived ones on `today`; each expired waiver adds an open
/// finding of [`EXPIRED_RULE_ID`] whose count is the number of findings it would cover.
pub fn apply(findings: Vec<Finding>, waivers: &[Waiver], today: NaiveDate) -> Waived {
    let mut out = Waived::default();
    let mut expired_hits = vec![0u64; waivers.len()];
    for finding in findings {
        for (i, waiver) in waivers.iter().enumerate() {
            if !waiver.is_live(today) && waiver.matches(&finding) {
                expired_hits[i] += 1;
            }
        }
        match waivers
            .iter()
            .find(|w| w.is_live(today) && w.matches(&finding))
        {
            Some(waiver) => out.waived.push(WaivedFinding {
                finding,
                waiver: waiver.clone(),
            }),
            None => out.open.push(finding),
        }
    }
    for (waiver, hits) in waivers.iter().zip(expired_hits) {
        if !waiver.is_live(today) {
            out.open.push(expired_finding(waiver, hits));
        }
    }
    out
}

/// The finding reporting an expired waiver: its resource and principal are the waiver's
/// patterns, prefixed with the rule they waive, so the id is stable while the waiver is.
fn expired_finding(waiver: &Waiver, covered: u64) -> Finding {
    let resource = format!("waiver:{}:{}", waiver.rule, waiver.resource);
    let expired = waiver.expires.format("%Y-%m-%d").to_string();
    Finding {
        id: finding_id(EXPIRED_RULE_ID, Some(&resource), Some(&waiver.principal)),
        rule_id: EXPIRED_RULE_ID.to_owned(),
        rule_name: EXPIRED_RULE_NAME.to_owned(),
        title: format!(
            "Waiver for {} (owner {}) expired on {expired} ({})",
            waiver.rule, waiver.owner, waiver.location
        ),
        severity: EXPIRED_SEVERITY,
        resource: Some(resource),
        principal: Some(waiver.principal.clone()),
        first_seen: format!("{expired}T23:59:59Z"),
        last_seen: format!("{expired}T23:59:59Z"),
        count: covered,
        evidence: Vec::new(),
        what: EXPIRED_WHAT.to_owned(),
        why: Some(format!("{EXPIRED_WHY} Reason given: {}", waiver.reason)),
        remediation: Some(EXPIRED_REMEDIATION.to_owned()),
        detail: None,
    }
}

/// Reads the waiver file at `path`.
pub fn load(path: &Path) -> Result<Vec<Waiver>, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ConfigError::File {
        file: file.clone(),
        line: 1,
        column: 1,
        field: String::new(),
        message: format!("cannot be read: {err}"),
    })?;
    parse(&file, &text)
}

/// Reads waivers from `text`, the content of `file`.
pub fn parse(file: &str, text: &str) -> Result<Vec<Waiver>, ConfigError> {
    let index = KeyIndex::new(text);
    let error = |path: &FieldPath, message: String| {
        let (line, column) = index.locate(0, path);
        ConfigError::File {
            file: file.to_owned(),
            line,
            column,
            field: path.to_string(),
            message,
        }
    };
    let value: Value = serde_yaml_ng::from_str(text).map_err(|err| {
        let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
        ConfigError::File {
            file: file.to_owned(),
            line,
            column,
            field: String::new(),
            message: format!("invalid YAML: {err}"),
        }
    })?;
    let items = match &value {
        Value::Null => return Ok(Vec::new()),
        Value::Sequence(items) => items,
        other => {
            return Err(error(
                &FieldPath::root(),
                format!(
                    "a waiver file must be a list of waivers, found {}",
                    type_name(other)
                ),
            ))
        }
    };
    let mut waivers = Vec::with_capacity(items.len());
    // 1-based lines of the top-level `- ` items, to name each waiver by its line.
    let item_lines: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with('-') && !l.starts_with("---"))
        .map(|(n, _)| n + 1)
        .collect();
    for (i, item) in items.iter().enumerate() {
        let path = FieldPath::root().index(i);
        let Value::Mapping(map) = item else {
            return Err(error(
                &path,
                format!("a waiver must be a mapping, found {}", type_name(item)),
            ));
        };
        for key in map.keys() {
            let name = key.as_str().unwrap_or_default();
            if !FIELDS.contains(&name) {
                return Err(error(
                    &path.key(name),
                    format!(
                        "is not a field of a waiver; expected one of: {}",
                        FIELDS.join(", ")
                    ),
                ));
            }
        }
        let text = |name: &str, required: bool| -> Result<Option<String>, ConfigError> {
            match map.get(name) {
                None | Some(Value::Null) if required => {
                    Err(error(&path.key(name), "is required".to_owned()))
                }
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if required && s.trim().is_empty() => {
                    Err(error(&path.key(name), "must not be empty".to_owned()))
                }
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(error(
                    &path.key(name),
                    format!("must be a text, found {}", type_name(other)),
                )),
            }
        };
        let rule = text("rule", true)?.unwrap_or_default();
        let reason = text("reason", true)?.unwrap_or_default();
        let owner = text("owner", true)?.unwrap_or_default();
        let expires_text = text("expires", true)?.unwrap_or_default();
        let expires = NaiveDate::parse_from_str(expires_text.trim(), "%Y-%m-%d").map_err(|_| {
            error(
                &path.key("expires"),
                format!("`{expires_text}` is not a date: use YYYY-MM-DD"),
            )
        })?;
        let line = item_lines
            .get(i)
            .copied()
            .unwrap_or_else(|| index.locate(0, &path).0);
        waivers.push(Waiver {
            rule,
            resource: text("resource", false)?.unwrap_or_else(|| "*".to_owned()),
            principal: text("principal", false)?.unwrap_or_else(|| "*".to_owned()),
            reason,
            owner,
            expires,
            location: format!("{file}:{line}"),
        });
    }
    Ok(waivers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_file_line_and_field() {
        let text = "- rule: KMS.LC.1\n  reason: r\n  owner: o\n  expires: 2025-13-01\n";
        let err = parse("w.yml", text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "w.yml:4:3: [0].expires: `2025-13-01` is not a date: use YYYY-MM-DD"
        );
        let text = "- rule: KMS.LC.1\n  reason: r\n  expires: 2025-01-01\n";
        let err = parse("w.yml", text).unwrap_err();
        assert!(err.to_string().contains("[0].owner: is required"), "{err}");
        let text =
            "- rule: KMS.LC.1\n  reason: r\n  owner: o\n  expires: 2025-01-01\n  resorce: x\n";
        let err = parse("w.yml", text).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("w.yml:5:3: [0].resorce: is not a field"),
            "{err}"
        );
    }

    fn finding(rule: &str, resource: &str) -> Finding {
        Finding {
            id: finding_id(rule, Some(resource), None),
            rule_id: rule.into(),
            rule_name: "n".into(),
            title: "t".into(),
            severity: Severity::High,
            resource: Some(resource.into()),
            principal: None,
            first_seen: String::new(),
            last_seen: String::new(),
            count: 1,
            evidence: Vec::new(),
            what: String::new(),
            why: None,
            remediation: None,
            detail: None,
        }
    }

    #[test]
    fn live_waivers_waive_and_expired_ones_are_reported() {
        let text =
            "- { rule: KMS.LC.1, resource: 'k/1', reason: r, owner: o, expires: '2030-01-01' }\n\
                    - { rule: kms.lp.*, reason: r, owner: o, expires: '2020-01-01' }\n";
        let waivers = parse("w.yml", text).unwrap();
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let out = apply(
            vec![
                finding("KMS.LC.1", "k/1"),
                finding("KMS.LC.1", "k/2"),
                finding("KMS.LP.1", "k/1"),
            ],
            &waivers,
            today,
        );
        assert_eq!(out.waived.len(), 1);
        assert_eq!(out.waived[0].finding.resource.as_deref(), Some("k/1"));
        let rules: Vec<&str> = out.open.iter().map(|f| f.rule_id.as_str()).collect();
        assert_eq!(rules, ["KMS.LC.1", "KMS.LP.1", EXPIRED_RULE_ID]);
        assert_eq!(out.open[2].count, 1);
        assert_eq!(out.open[2].severity, Severity::Low);
    }
}
