//! What can be wrong with a framework catalog. Every error names the catalog file, the line
//! and column, the field at fault and, when one is concerned, the requirement, so `rules
//! lint` output can be clicked through in an editor.

use std::fmt;

use crate::frameworks::catalog::CatalogStatus;

/// A catalog file (or one mapping in it) that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{kind}", place(.file, *.line, *.column, .field, .requirement))]
pub struct CatalogError {
    /// The file, as shown to the user (`rules/frameworks/….yml` for the bundled catalogs).
    pub file: String,
    /// 1-based line of the field (or of the file when no field applies).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The path of the field at fault (`sections[0].requirements[3].rules[1]`); empty when
    /// the whole file is at fault.
    pub field: String,
    /// The requirement concerned, when there is one.
    pub requirement: Option<String>,
    /// What is wrong.
    pub kind: CatalogErrorKind,
}

fn place<'a>(
    file: &'a str,
    line: usize,
    column: usize,
    field: &'a str,
    requirement: &'a Option<String>,
) -> Place<'a> {
    Place {
        file,
        line,
        column,
        field,
        requirement: requirement.as_deref(),
    }
}

/// `file:line:column: field: requirement ID: ` — the prefix of every catalog diagnostic.
struct Place<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    field: &'a str,
    requirement: Option<&'a str>,
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        if let Some(requirement) = self.requirement {
            write!(f, "requirement {requirement}: ")?;
        }
        Ok(())
    }
}

impl CatalogError {
    /// The message without the place: what `rules lint` shows after the field.
    pub fn message(&self) -> String {
        match &self.requirement {
            Some(requirement) => format!("requirement {requirement}: {}", self.kind),
            None => self.kind.to_string(),
        }
    }
}

/// The ways a catalog can be invalid, or its mappings wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogErrorKind {
    /// The file cannot be read.
    #[error("cannot be read: {0}")]
    Io(String),
    /// The file is not valid YAML.
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// A field missing, unknown or of the wrong type (serde's message).
    #[error("{0}")]
    Schema(String),
    /// A text that must say something is empty.
    #[error("must not be empty")]
    Empty,
    /// A catalog id that is not lower-case letters, digits, dots and dashes.
    #[error("`{0}` is not a catalog id: use lower-case letters, digits, dots and dashes, like pci-dss-4.0.1")]
    BadCatalogId(String),
    /// A requirement or section id with spaces in it.
    #[error("`{0}` is not an id: it must not contain spaces")]
    BadId(String),
    /// A source URL that is not http(s).
    #[error("`{0}` is not an http:// or https:// URL")]
    BadUrl(String),
    /// Two sections share an id.
    #[error("section `{id}` is already defined at line {first_line}")]
    DuplicateSection {
        /// The id.
        id: String,
        /// Line of the first definition.
        first_line: usize,
    },
    /// A section without requirements.
    #[error("a section lists at least one requirement")]
    EmptySection,
    /// A catalog without sections.
    #[error("a catalog lists at least one section")]
    NoSections,
    /// Two requirements share an id.
    #[error("`{id}` is already defined at line {first_line}")]
    DuplicateRequirement {
        /// The id.
        id: String,
        /// Line of the first definition.
        first_line: usize,
    },
    /// An automated requirement without anything that decides it.
    #[error("an automated requirement needs `rules` (or `log_coverage_days`); otherwise mark it `status: manual` or `status: not-applicable` with a `reason`")]
    NoEvidence,
    /// A manual or not-applicable requirement without its reason.
    #[error("`status: {}` needs a `reason`: {}", .0.as_str(), reason_hint(*.0))]
    MissingReason(CatalogStatus),
    /// Rules, thresholds or log coverage on a requirement that is not automated.
    #[error("`{field}` is not allowed with `status: {}`: only automated requirements map rules, thresholds and log coverage", .status.as_str())]
    NotWithStatus {
        /// The field.
        field: &'static str,
        /// The requirement's status.
        status: CatalogStatus,
    },
    /// A reason on an automated requirement.
    #[error("`reason` is for manual and not-applicable requirements; use `note` to explain an automated one")]
    ReasonOnAutomated,
    /// The same rule listed twice in one requirement.
    #[error("rule `{0}` is listed twice")]
    DuplicateRule(String),
    /// A threshold on a rule the requirement does not map.
    #[error("the threshold is on rule `{0}`, which the requirement does not list in `rules`")]
    ThresholdRuleNotMapped(String),
    /// A threshold with neither bound.
    #[error("a threshold needs `max`, `min` or both")]
    ThresholdWithoutBound,
    /// A threshold whose bounds exclude every value.
    #[error("`min` {min} is greater than `max` {max}")]
    ThresholdBounds {
        /// The lower bound.
        min: f64,
        /// The upper bound.
        max: f64,
    },
    /// Two thresholds on the same parameter in one requirement.
    #[error("a threshold on `{rule}` `{param}` is already defined for this requirement")]
    DuplicateThreshold {
        /// The rule.
        rule: String,
        /// The parameter.
        param: String,
    },
    /// A log coverage of zero days.
    #[error("must be at least 1 day")]
    ZeroCoverage,
    /// Two catalogs share an id.
    #[error("catalog id `{id}` is already used by {first}")]
    DuplicateCatalog {
        /// The id.
        id: String,
        /// Where it was first used (`file:line`).
        first: String,
    },
    /// A mapping names a rule that is not loaded.
    #[error("rule `{0}` does not exist; `kms-audit rules list` shows the rule ids")]
    UnknownRule(String),
    /// A threshold names a parameter the rule does not declare.
    #[error("rule `{rule}` has no parameter `{param}`; {known}")]
    UnknownParam {
        /// The rule.
        rule: String,
        /// The parameter.
        param: String,
        /// The parameters it has, as a phrase.
        known: String,
    },
    /// A threshold on a parameter that is not a number.
    #[error("parameter `{param}` of `{rule}` is a {type_name}: a threshold needs an integer or number parameter")]
    NonNumericParam {
        /// The rule.
        rule: String,
        /// The parameter.
        param: String,
        /// Its type.
        type_name: &'static str,
    },
    /// The rule's current parameter value is looser than the framework allows (a warning
    /// in `rules lint`: reports force the requirement to not-satisfied).
    #[error("`{rule}` `{param}` is {value}, looser than this framework's {bound}: reports mark the requirement not-satisfied until the parameter is set within it")]
    LooserValue {
        /// The rule.
        rule: String,
        /// The parameter.
        param: String,
        /// Its current value.
        value: String,
        /// The framework's bound (`≤ 365`).
        bound: String,
    },
}

fn reason_hint(status: CatalogStatus) -> &'static str {
    match status {
        CatalogStatus::NotApplicable => "why the requirement does not apply",
        _ => "what the assessor must examine",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_column_field_and_requirement() {
        let err = CatalogError {
            file: "rules/frameworks/x.yml".into(),
            line: 12,
            column: 9,
            field: "sections[0].requirements[2].rules[1]".into(),
            requirement: Some("3.7.4".into()),
            kind: CatalogErrorKind::UnknownRule("KMS.ROT.9".into()),
        };
        assert_eq!(
            err.to_string(),
            "rules/frameworks/x.yml:12:9: sections[0].requirements[2].rules[1]: requirement 3.7.4: rule `KMS.ROT.9` does not exist; `kms-audit rules list` shows the rule ids"
        );
        assert!(err
            .message()
            .starts_with("requirement 3.7.4: rule `KMS.ROT.9`"));
        let whole = CatalogError {
            field: String::new(),
            requirement: None,
            kind: CatalogErrorKind::Io("not found".into()),
            ..err
        };
        assert_eq!(
            whole.to_string(),
            "rules/frameworks/x.yml:12:9: cannot be read: not found"
        );
    }
}
