//! Findings as JUnit XML, the report format every CI system shows: one test suite, a test
//! case per rule evaluated, and a failure per open finding of that rule. Waived findings are
//! listed in the test case's `system-out`. Text is escaped for XML, and characters XML 1.0
//! cannot carry are replaced.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use crate::rules::Finding;
use crate::scan::FindingsReport;

/// Writes `report` as a JUnit XML document.
pub fn render(report: &FindingsReport, out: &mut impl Write) -> std::io::Result<()> {
    let tests = report.rules.len();
    let failing = report
        .rules
        .iter()
        .filter(|r| report.findings.iter().any(|f| f.rule_id == r.id))
        .count();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="kms-audit" tests="{tests}" failures="{failing}" errors="0">"#
    )?;
    writeln!(
        out,
        r#"  <testsuite name="kms-audit.rules" tests="{tests}" failures="{failing}" errors="0" skipped="0">"#
    )?;
    for rule in &report.rules {
        writeln!(
            out,
            r#"    <testcase classname="kms-audit.{}" name="{}">"#,
            escape(rule.severity.as_str()),
            escape(&format!("{} {}: {}", rule.id, rule.name, rule.title))
        )?;
        for finding in report.findings.iter().filter(|f| f.rule_id == rule.id) {
            writeln!(
                out,
                r#"      <failure type="{}" message="{}">{}</failure>"#,
                escape(finding.severity.as_str()),
                escape(&summary(finding)),
                escape(&details(finding))
            )?;
        }
        let waived: Vec<String> = report
            .waived
            .iter()
            .filter(|w| w.finding.rule_id == rule.id)
            .map(|w| {
                format!(
                    "waived: {} (reason: {}; owner: {}; expires: {}; {})",
                    summary(&w.finding),
                    w.waiver.reason,
                    w.waiver.owner,
                    w.waiver.expires.format("%Y-%m-%d"),
                    w.waiver.location
                )
            })
            .collect();
        if !waived.is_empty() {
            writeln!(
                out,
                "      <system-out>{}</system-out>",
                escape(&waived.join("\n"))
            )?;
        }
        writeln!(out, "    </testcase>")?;
    }
    writeln!(out, "  </testsuite>")?;
    writeln!(out, "</testsuites>")
}

/// One line naming a finding.
fn summary(finding: &Finding) -> String {
    format!(
        "[{}] {}: {} by {} ({} event(s))",
        finding.id,
        finding.title,
        finding.resource.as_deref().unwrap_or("(no resource)"),
        finding.principal.as_deref().unwrap_or("(no principal)"),
        finding.count
    )
}

/// The body of a failure: the facts, the evidence and the remediation.
fn details(finding: &Finding) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "finding: {}", finding.id);
    let _ = writeln!(text, "severity: {}", finding.severity);
    let _ = writeln!(
        text,
        "resource: {}",
        finding.resource.as_deref().unwrap_or("")
    );
    let _ = writeln!(
        text,
        "principal: {}",
        finding.principal.as_deref().unwrap_or("")
    );
    let _ = writeln!(
        text,
        "seen: {} to {} ({} event(s))",
        finding.first_seen, finding.last_seen, finding.count
    );
    if let Some(detail) = &finding.detail {
        let _ = writeln!(text, "detail: {detail}");
    }
    for e in &finding.evidence {
        let _ = writeln!(
            text,
            "evidence: {} {} {} {}#{}",
            e.event_time,
            e.event_name,
            e.event_id.as_deref().unwrap_or("(no eventID)"),
            e.source_file,
            e.source_record
        );
    }
    let _ = writeln!(text, "what: {}", finding.what.trim());
    if let Some(why) = &finding.why {
        let _ = writeln!(text, "why: {}", why.trim());
    }
    if let Some(remediation) = &finding.remediation {
        let _ = writeln!(text, "remediation: {}", remediation.trim());
    }
    text
}

/// `text` escaped for XML text and attribute values: the five special characters become
/// entities, and characters XML 1.0 forbids (control characters other than tab, line feed
/// and carriage return) become U+FFFD.
pub fn escape(text: &str) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || !allowed(c);
    if !text.contains(special) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Line breaks inside attributes would be normalized to spaces by parsers.
            '\n' | '\r' | '\t' => out.push(c),
            c if !allowed(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether XML 1.0 allows `c` in a document.
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_forbidden_characters() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("bell\u{7}\u{FFFE}"), "bell\u{FFFD}\u{FFFD}");
        assert_eq!(escape("tab\tline\n"), "tab\tline\n");
        assert_eq!(escape("]]>"), "]]&gt;");
    }
}
