//! Text output of the `rules` commands: the rule list, a rule's documentation, lint
//! diagnostics and test results, each written to any `impl Write`.

use std::io::Write;

use serde::Serialize;
use tabled::builder::Builder;
use tabled::settings::Style;

use crate::rules::lint::Diagnostic;
use crate::rules::model::{Format, Rule, Severity};
use crate::rules::testing::{CaseResult, CaseStatus};

/// A rule as `rules list --format json` shows it.
#[derive(Debug, Serialize)]
pub struct RuleSummary<'a> {
    /// Stable id.
    pub id: &'a str,
    /// Name of the flagged pattern.
    pub name: &'a str,
    /// Title.
    pub title: &'a str,
    /// Severity.
    pub severity: Severity,
    /// Kind.
    pub kind: &'a str,
    /// Format (native or sigma).
    pub format: Format,
    /// Number of test cases.
    pub tests: usize,
    /// Parameters and their values.
    pub params: &'a crate::rules::params::Params,
    /// `file:line`.
    pub location: String,
}

/// The JSON view of `rules`.
pub fn summaries(rules: &[Rule]) -> Vec<RuleSummary<'_>> {
    rules
        .iter()
        .map(|r| RuleSummary {
            id: &r.id,
            name: &r.name,
            title: &r.title,
            severity: r.severity,
            kind: r.kind.as_str(),
            format: r.format,
            tests: r.tests.len(),
            params: &r.params,
            location: r.location(),
        })
        .collect()
}

/// Writes the rules as a table, in id order.
pub fn list(rules: &[Rule], out: &mut impl Write) -> std::io::Result<()> {
    let mut sorted: Vec<&Rule> = rules.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut builder = Builder::default();
    builder.push_record(["id", "severity", "kind", "name", "title", "tests"]);
    for rule in sorted {
        builder.push_record([
            rule.id.as_str(),
            rule.severity.as_str(),
            rule.kind.as_str(),
            rule.name.as_str(),
            rule.title.as_str(),
            &rule.tests.len().to_string(),
        ]);
    }
    let mut table = builder.build();
    table.with(Style::sharp());
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "{} rule{}; `kms-audit rules explain ID` shows one.",
        rules.len(),
        if rules.len() == 1 { "" } else { "s" }
    )
}

/// Writes a rule's documentation: its facts, what / why / remediation, parameters, tests,
/// then the rule file itself.
pub fn explain(rule: &Rule, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{} {} — {}", rule.id, rule.name, rule.title)?;
    writeln!(out)?;
    let mut facts = format!("severity: {}   kind: {}", rule.severity, rule.kind);
    if let Some(status) = rule.status {
        facts.push_str(&format!("   status: {}", status.as_str()));
    }
    if rule.format == Format::Sigma {
        facts.push_str("   format: Sigma");
    }
    writeln!(out, "{facts}")?;
    writeln!(out, "file: {}", rule.location())?;
    section(out, "What it flags", Some(&rule.what))?;
    section(out, "Why it matters", rule.why.as_deref())?;
    section(out, "Remediation", rule.remediation.as_deref())?;
    if !rule.falsepositives.is_empty() {
        writeln!(out)?;
        writeln!(out, "Known false positives")?;
        for item in &rule.falsepositives {
            writeln!(out, "  - {item}")?;
        }
    }
    if !rule.params.is_empty() {
        writeln!(out)?;
        writeln!(out, "Parameters")?;
        for (name, value) in rule.params.iter() {
            writeln!(out, "  {name} = {value}  ({})", value.type_name())?;
        }
    }
    if !rule.references.is_empty() {
        writeln!(out)?;
        writeln!(out, "References")?;
        for item in &rule.references {
            writeln!(out, "  {item}")?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Resource: first of {}",
        rule.resource
            .iter()
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(out, "Tests: {}", rule.tests.len())?;
    for case in &rule.tests {
        writeln!(out, "  - {} (line {})", case.name, case.line)?;
    }
    writeln!(out)?;
    writeln!(out, "Rule file {}:", rule.origin.file)?;
    writeln!(out, "{}", "-".repeat(72))?;
    let text = rule.origin.text.as_ref();
    write!(out, "{text}")?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}

fn section(out: &mut impl Write, title: &str, body: Option<&str>) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "{title}")?;
    match body {
        Some(body) => {
            for paragraph in body.trim_end().lines() {
                for line in wrap(paragraph, WIDTH) {
                    writeln!(out, "  {line}")?;
                }
            }
        }
        None => writeln!(out, "  (not stated: a Sigma rule has no such field)")?,
    }
    Ok(())
}

/// Width of wrapped prose in `explain`.
const WIDTH: usize = 90;

/// Splits `text` into lines of at most `width` characters at spaces (longer words stay
/// whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Writes lint diagnostics and a count line.
pub fn diagnostics(
    list: &[Diagnostic],
    files: usize,
    rules: usize,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for diagnostic in list {
        writeln!(out, "{diagnostic}")?;
    }
    let errors = list
        .iter()
        .filter(|d| d.level == crate::rules::lint::Level::Error)
        .count();
    let warnings = list.len() - errors;
    writeln!(
        out,
        "{files} file(s), {rules} rule(s) valid: {errors} error(s), {warnings} warning(s)"
    )
}

/// Writes test results, failures in full, and a count line.
pub fn test_results(results: &[CaseResult], out: &mut impl Write) -> std::io::Result<()> {
    for result in results {
        let (mark, detail) = match &result.status {
            CaseStatus::Passed => ("ok  ", String::new()),
            CaseStatus::Failed { message } => {
                ("FAIL", format!("\n      {}: {message}", result.location))
            }
            CaseStatus::Error { message } => {
                ("ERR ", format!("\n      {}: {message}", result.location))
            }
        };
        writeln!(
            out,
            "{mark} {} {} ({} finding(s), {} event(s)){detail}",
            result.rule_id, result.case, result.findings, result.matches
        )?;
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    writeln!(
        out,
        "{} case(s): {passed} passed, {} failed",
        results.len(),
        results.len() - passed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_wraps_at_spaces() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("averyveryvery long", 5), ["averyveryvery", "long"]);
        assert_eq!(wrap("", 5), [""]);
    }
}
