//! `rules lint`: everything the loader refuses, plus the conventions of the rule pack —
//! names that describe the flagged pattern (not the fix), and test cases that show the rule
//! firing and not firing — and the loader's warnings; and the framework catalogs, whose
//! mappings must name rules and parameters that exist ([`catalogs`]).

use std::fmt;

use serde::Serialize;

use crate::frameworks::{check_rules, CatalogError, LoadedCatalogs};
use crate::rules::error::{RuleError, RuleWarning};
use crate::rules::loader::Loaded;
use crate::rules::model::{Format, Rule};
use crate::rules::yaml::FieldPath;

/// Name prefixes that describe a fix or a policy instead of the flagged pattern (the rule
/// reads "allow <name>"; ruff's `disallowed_rule_names.txt` has the same idea).
pub const DISALLOWED_NAME_PREFIXES: &[&str] = &[
    "avoid-",
    "check-",
    "disallow-",
    "do-not-",
    "dont-",
    "enforce-",
    "ensure-",
    "no-",
    "prefer-",
    "prevent-",
    "require-",
    "use-",
];

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The rule cannot be used, or breaks a pack convention.
    Error,
    /// Worth a look.
    Warning,
}

/// One lint result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Error or warning.
    pub level: Level,
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The field; may be empty.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(f, "{}:{}:{}: {level}: ", self.file, self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl From<&RuleError> for Diagnostic {
    fn from(err: &RuleError) -> Self {
        Self {
            level: Level::Error,
            file: err.file.clone(),
            line: err.line,
            column: err.column,
            field: err.field.clone(),
            message: err.kind.to_string(),
        }
    }
}

impl From<&RuleWarning> for Diagnostic {
    fn from(warning: &RuleWarning) -> Self {
        Self {
            level: Level::Warning,
            file: warning.file.clone(),
            line: warning.line,
            column: warning.column,
            field: warning.field.clone(),
            message: warning.message.clone(),
        }
    }
}

/// Lints what was loaded: load errors and warnings, and the pack conventions of every
/// kms-audit rule. Sorted by file and line.
pub fn lint(loaded: &Loaded) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = loaded.errors.iter().map(Diagnostic::from).collect();
    out.extend(loaded.warnings.iter().map(Diagnostic::from));
    for rule in &loaded.rules {
        if rule.format == Format::Native {
            conventions(rule, &mut out);
        }
    }
    out.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column, a.level).cmp(&(
            b.file.as_str(),
            b.line,
            b.column,
            b.level,
        ))
    });
    out.dedup();
    out
}

fn conventions(rule: &Rule, out: &mut Vec<Diagnostic>) {
    let at = |field: &str, message: String| {
        let path = FieldPath::root().key(field);
        let (line, column) = rule.origin.index.locate(rule.origin.document, &path);
        Diagnostic {
            level: Level::Error,
            file: rule.origin.file.clone(),
            line,
            column,
            field: field.to_owned(),
            message,
        }
    };
    if let Some(prefix) = DISALLOWED_NAME_PREFIXES
        .iter()
        .find(|p| rule.name.starts_with(*p))
    {
        out.push(at(
            "name",
            format!(
                "`{}` starts with `{prefix}`: name the flagged pattern, not the fix (e.g. `key-rotation-disabled`)",
                rule.name
            ),
        ));
    }
    if rule.tests.is_empty() {
        out.push(at(
            "tests",
            "every rule carries its own tests: add a case where it fires and one where it does not"
                .to_owned(),
        ));
        return;
    }
    let fires = rule.tests.iter().any(|t| {
        t.expect.findings.is_some_and(|n| n > 0) || t.expect.matches.is_some_and(|n| n > 0)
    });
    let quiet = rule
        .tests
        .iter()
        .any(|t| t.expect.findings == Some(0) || t.expect.matches == Some(0));
    if !fires {
        out.push(at(
            "tests",
            "no test case where the rule fires (expect findings ≥ 1)".to_owned(),
        ));
    }
    if !quiet {
        out.push(at(
            "tests",
            "no test case where the rule stays quiet (expect findings: 0)".to_owned(),
        ));
    }
}

impl Diagnostic {
    fn from_catalog(err: &CatalogError, level: Level) -> Self {
        Self {
            level,
            file: err.file.clone(),
            line: err.line,
            column: err.column,
            field: err.field.clone(),
            message: err.message(),
        }
    }
}

/// Lints framework catalogs: their load errors, mappings to rules or parameters that `rules`
/// does not have (errors), and thresholds the rules' current values do not meet (warnings).
/// Each diagnostic names the catalog file, line and requirement. Sorted by file and line.
pub fn catalogs(catalogs: &LoadedCatalogs, rules: &[&Rule]) -> Vec<Diagnostic> {
    let mut out: Vec<Diagnostic> = catalogs
        .errors
        .iter()
        .map(|e| Diagnostic::from_catalog(e, Level::Error))
        .collect();
    for catalog in &catalogs.catalogs {
        let check = check_rules(catalog, rules);
        out.extend(
            check
                .errors
                .iter()
                .map(|e| Diagnostic::from_catalog(e, Level::Error)),
        );
        out.extend(
            check
                .warnings
                .iter()
                .map(|e| Diagnostic::from_catalog(e, Level::Warning)),
        );
    }
    out.sort_by(|a, b| {
        (a.file.as_str(), a.line, a.column).cmp(&(b.file.as_str(), b.line, b.column))
    });
    out
}

/// Whether any diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(|d| d.level == Level::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::loader::{finish, load_text};

    const RULE: &str = "\
id: KMS.TEST.1
name: ensure-keys-enabled
title: A key was disabled
severity: high
kind: match
what: Flags DisableKey.
why: Data under the key cannot be decrypted.
remediation: Re-enable it.
detection:
  selection:
    eventName: DisableKey
    tlsDetails.tlsVersion: x
  condition: selection
tests:
  - name: fires
    events:
      - {eventName: DisableKey}
    expect: { findings: 1 }
";

    #[test]
    fn conventions_and_warnings() {
        let mut loaded = Loaded::default();
        load_text("r.yml", None, RULE, &mut loaded);
        load_text("bad.yml", None, "id: [", &mut loaded);
        finish(&mut loaded);
        let diagnostics = lint(&loaded);
        let text: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
        assert!(has_errors(&diagnostics));
        assert!(text[0].starts_with("bad.yml:"), "{text:?}");
        assert!(
            text.iter().any(|t| t.starts_with(
                "r.yml:2:1: error: name: `ensure-keys-enabled` starts with `ensure-`"
            )),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t
                .starts_with("r.yml:12:5: warning: detection.selection.tlsDetails.tlsVersion:")),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.contains("stays quiet")), "{text:?}");
        assert!(
            !text
                .iter()
                .any(|t| t.contains("no test case where the rule fires")),
            "{text:?}"
        );
    }
}
