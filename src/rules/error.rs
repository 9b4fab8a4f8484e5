//! What can be wrong with a rule file, and with evaluating rules. Every rule error names the
//! file, the line and column, and the field at fault, so `rules lint` output can be clicked
//! through in an editor.

use std::fmt;

/// A rule file (or one rule in it) that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{kind}", place(.file, *.line, *.column, .field))]
pub struct RuleError {
    /// The file, as shown to the user (`rules/rotation/….yml` for the bundled pack).
    pub file: String,
    /// 1-based line of the field (or of the document when no field applies).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The dotted path of the field at fault (`detection.selection.eventName|contains`,
    /// `tests[1].expect`); empty when the whole file is at fault.
    pub field: String,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// A rule that loads but may not do what its author meant (a field the lake does not keep,
/// a rule without tests).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleWarning {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field concerned; may be empty.
    pub field: String,
    /// What to look at.
    pub message: String,
}

impl fmt::Display for RuleWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let place = place(&self.file, self.line, self.column, &self.field);
        write!(f, "{place}{}", self.message)
    }
}

fn place<'a>(file: &'a str, line: usize, column: usize, field: &'a str) -> Place<'a> {
    Place {
        file,
        line,
        column,
        field,
    }
}

/// `file:line:column: field: ` — the prefix of every diagnostic.
struct Place<'a> {
    file: &'a str,
    line: usize,
    column: usize,
    field: &'a str,
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        Ok(())
    }
}

/// The ways a rule can be invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file cannot be read.
    #[error("cannot be read: {0}")]
    Io(String),
    /// The file is not valid YAML.
    #[error("invalid YAML: {0}")]
    Syntax(String),
    /// A required field is absent.
    #[error("is required")]
    Missing,
    /// A field the format does not define (often a typo).
    #[error("is not a field of {context}; expected one of: {expected}")]
    UnknownField {
        /// Where the field was found (`a rule`, `a test case`).
        context: &'static str,
        /// The fields allowed there.
        expected: String,
    },
    /// A value of the wrong YAML type.
    #[error("must be {expected}, found {found}")]
    WrongType {
        /// What the field must hold.
        expected: &'static str,
        /// What it holds.
        found: String,
    },
    /// A rule id that is not of the form `KMS.ROT.1` (or a UUID, for Sigma rules).
    #[error("`{0}` is not a rule id: use upper-case dot-separated segments ending in a number, like KMS.ROT.1")]
    BadId(String),
    /// A rule name that is not kebab-case or that names a fix instead of the flagged pattern.
    #[error("`{name}` {problem}")]
    BadName {
        /// The name.
        name: String,
        /// Why it is not accepted.
        problem: String,
    },
    /// Two rules share an id.
    #[error("id `{id}` is already used by {first}")]
    DuplicateId {
        /// The id.
        id: String,
        /// Where it was first used (`file:line`).
        first: String,
    },
    /// Two rules share a name.
    #[error("name `{name}` is already used by {first}")]
    DuplicateName {
        /// The name.
        name: String,
        /// Where it was first used (`file:line`).
        first: String,
    },
    /// A value outside the allowed set.
    #[error("`{value}` is not allowed; expected one of: {expected}")]
    NotOneOf {
        /// The value found.
        value: String,
        /// The allowed values.
        expected: String,
    },
    /// A rule kind this version cannot evaluate yet.
    #[error("kind `{0}` is not supported by this version of kms-audit (only `match` rules are)")]
    UnsupportedKind(String),
    /// A Sigma rule for another log source.
    #[error("log source `{0}` is not AWS CloudTrail (expected product: aws, service: cloudtrail)")]
    UnsupportedLogsource(String),
    /// A Sigma construct this engine does not implement.
    #[error("{0}")]
    Unsupported(String),
    /// The condition cannot be parsed or names a selection that does not exist.
    #[error("{0}")]
    Condition(String),
    /// A selection or field value that cannot be used.
    #[error("{0}")]
    Detection(String),
    /// A value modifier that is unknown or cannot be combined with the others.
    #[error("{0}")]
    Modifier(String),
    /// A `re` value that is not a valid regular expression.
    #[error("invalid regular expression: {0}")]
    Regex(String),
    /// A parameter declaration, override or placeholder that cannot be used.
    #[error("{0}")]
    Param(String),
    /// Any other invalid value, explained.
    #[error("{0}")]
    Invalid(String),
}

/// A failure while evaluating rules or running their tests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A Polars query failed.
    #[error("rule evaluation failed: {0}")]
    Polars(#[from] polars::error::PolarsError),
    /// Building the lake for a rule's test case failed.
    #[error("{0}")]
    Lake(#[from] crate::error::Error),
    /// A temporary file or directory could not be written.
    #[error("{what}: {source}")]
    Io {
        /// What was being written.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_column_and_field() {
        let err = RuleError {
            file: "rules/rotation/x.yml".into(),
            line: 4,
            column: 11,
            field: "severity".into(),
            kind: ErrorKind::NotOneOf {
                value: "hgih".into(),
                expected: "info, low, medium, high, critical".into(),
            },
        };
        assert_eq!(
            err.to_string(),
            "rules/rotation/x.yml:4:11: severity: `hgih` is not allowed; expected one of: info, low, medium, high, critical"
        );
        let whole = RuleError {
            field: String::new(),
            kind: ErrorKind::Io("not found".into()),
            ..err
        };
        assert_eq!(
            whole.to_string(),
            "rules/rotation/x.yml:4:11: cannot be read: not found"
        );
    }
}
