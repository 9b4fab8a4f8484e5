//! The rule model: what the loader builds from a rule file, validated once. Evaluation and
//! the commands work on these types and never look at YAML again.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::rules::fields::FieldSource;
use crate::rules::params::Params;
use crate::rules::sigma::Detection;
use crate::rules::yaml::KeyIndex;

/// How serious a finding is, from least to most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action expected.
    Info,
    /// Hygiene.
    Low,
    /// Weakens a control.
    Medium,
    /// A control is broken or bypassed.
    High,
    /// Data or keys are exposed or lost now.
    Critical,
}

impl Severity {
    /// Every severity, least first.
    pub const ALL: [Severity; 5] = [
        Self::Info,
        Self::Low,
        Self::Medium,
        Self::High,
        Self::Critical,
    ];

    /// The name used in rule files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// The severity called `name` in a kms-audit rule.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The severity of a Sigma `level` (`informational` is `info`).
    pub fn from_sigma_level(level: &str) -> Option<Self> {
        match level {
            "informational" => Some(Self::Info),
            other => Self::from_name(other).filter(|s| *s != Self::Info),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a rule decides: the kinds of the rule format. This version evaluates `match` rules;
/// the loader refuses the others with a message saying so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// One event at a time, with Sigma detection syntax.
    Match,
    /// Counts of matching events per group over a time window.
    Threshold,
    /// Several rules' events in order or together within a window.
    Correlation,
    /// Deviation from a learned per-entity baseline.
    Baseline,
    /// A filter over a derived view (keys, policy statements, grants, usage).
    State,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] = [
        Self::Match,
        Self::Threshold,
        Self::Correlation,
        Self::Baseline,
        Self::State,
    ];

    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Match => "match",
            Self::Threshold => "threshold",
            Self::Correlation => "correlation",
            Self::Baseline => "baseline",
            Self::State => "state",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The maturity of a rule (Sigma's `status` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// New; may produce false positives.
    Experimental,
    /// Tested on real data.
    Test,
    /// Proven.
    Stable,
    /// Replaced by another rule; kept so its id stays reserved.
    Deprecated,
    /// Cannot be used by common tools.
    Unsupported,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 5] = [
        Self::Experimental,
        Self::Test,
        Self::Stable,
        Self::Deprecated,
        Self::Unsupported,
    ];

    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Experimental => "experimental",
            Self::Test => "test",
            Self::Stable => "stable",
            Self::Deprecated => "deprecated",
            Self::Unsupported => "unsupported",
        }
    }

    /// The status called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Which format a rule was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The kms-audit rule format (`id: KMS.ROT.1`, `severity`, `kind`, what/why/remediation,
    /// tests).
    Native,
    /// A Sigma rule file, read unchanged.
    Sigma,
}

/// Where a rule came from, kept to locate errors found after loading (parameter overrides)
/// and to print the rule file.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The file as shown to the user.
    pub file: String,
    /// The directory of the file on disk (for test fixture paths); `None` for the bundled
    /// pack.
    pub dir: Option<PathBuf>,
    /// 0-based YAML document number in the file.
    pub document: usize,
    /// 1-based line where the rule's document starts.
    pub line: usize,
    /// The whole file's text.
    pub text: Arc<str>,
    /// Positions of the file's fields.
    pub index: Arc<KeyIndex>,
}

/// A field read by a rule, as written and as resolved against the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The dotted path as written (`requestParameters.keyId`).
    pub path: String,
    /// Where its values come from.
    pub source: FieldSource,
}

impl Field {
    /// Resolves `path`.
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_owned(),
            source: crate::rules::fields::resolve(path),
        }
    }
}

/// The body of a `match` rule.
#[derive(Debug, Clone)]
pub struct MatchBody {
    /// The compiled detection.
    pub detection: Detection,
    /// The detection as written, to compile again with other parameter values.
    pub raw: serde_yaml_ng::Value,
}

/// What a rule evaluates, by kind.
#[derive(Debug, Clone)]
pub enum Body {
    /// Sigma detection over single events.
    Match(MatchBody),
    /// `threshold`, `baseline` and `correlation` rules ([`crate::rules::window`]).
    Window(crate::rules::window::WindowBody),
    /// A filter over a derived view ([`crate::rules::state`]).
    State(crate::rules::state::StateBody),
}

/// Events for a test case.
#[derive(Debug, Clone, PartialEq)]
pub enum TestEvents {
    /// A CloudTrail record written inline.
    Record(serde_json::Value),
    /// A CloudTrail file in any shape `scan` reads, relative to the rule file.
    File(PathBuf),
}

/// What a test case expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Expectation {
    /// Number of findings.
    pub findings: Option<u64>,
    /// Number of events that match the rule.
    pub matches: Option<u64>,
}

/// One of a rule's own test cases.
#[derive(Debug, Clone)]
pub struct TestCase {
    /// What the case shows.
    pub name: String,
    /// The events the case evaluates, in order.
    pub events: Vec<TestEvents>,
    /// Files written as they are into a directory the case reads as a trail (relative
    /// path, text): log files in the S3 layout with their CloudTrail digests.
    pub files: Vec<(String, String)>,
    /// Parameter values for this case.
    pub params: Vec<(String, crate::rules::params::ParamValue)>,
    /// The expected outcome.
    pub expect: Expectation,
    /// 1-based line of the case.
    pub line: usize,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Stable id, never reused (`KMS.ROT.1`; a UUID for Sigma rules).
    pub id: String,
    /// kebab-case name of the flagged pattern (a Sigma rule's `name`, else its file name).
    pub name: String,
    /// One-line title.
    pub title: String,
    /// Severity of the findings.
    pub severity: Severity,
    /// How the rule decides.
    pub kind: Kind,
    /// Maturity, when stated.
    pub status: Option<Status>,
    /// What the rule flags (a Sigma rule's `description`).
    pub what: String,
    /// The risk; absent from Sigma rules.
    pub why: Option<String>,
    /// What to do; absent from Sigma rules.
    pub remediation: Option<String>,
    /// Links.
    pub references: Vec<String>,
    /// Free tags (ATT&CK ids, framework hints).
    pub tags: Vec<String>,
    /// Known false positives.
    pub falsepositives: Vec<String>,
    /// Parameters with their current values.
    pub params: Params,
    /// The fields that name the resource of a finding, first present wins.
    pub resource: Vec<Field>,
    /// What the rule evaluates.
    pub body: Body,
    /// The rule's own test cases.
    pub tests: Vec<TestCase>,
    /// The format it was written in.
    pub format: Format,
    /// Where it came from.
    pub origin: Origin,
}

impl Rule {
    /// `file:line` of the rule, for messages.
    pub fn location(&self) -> String {
        format!("{}:{}", self.origin.file, self.origin.line)
    }

    /// The detection of a match rule.
    pub fn detection(&self) -> Option<&Detection> {
        match &self.body {
            Body::Match(body) => Some(&body.detection),
            Body::Window(body) => Some(&body.detection),
            Body::State(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_ordered_and_named() {
        assert!(Severity::Critical > Severity::High);
        assert!(Severity::Info < Severity::Low);
        assert_eq!(Severity::from_name("high"), Some(Severity::High));
        assert_eq!(Severity::from_name("High"), None);
        assert_eq!(
            Severity::from_sigma_level("informational"),
            Some(Severity::Info)
        );
        assert_eq!(Severity::from_sigma_level("info"), None);
        assert_eq!(Kind::from_name("threshold"), Some(Kind::Threshold));
        assert_eq!(Status::from_name("stable"), Some(Status::Stable));
    }
}
