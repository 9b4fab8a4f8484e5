//! Findings as tables for a terminal: a count line, then one table per severity (critical
//! first), then the waived findings with their waivers.

use std::io::Write;

use tabled::builder::Builder;
use tabled::settings::Style;

use crate::report::thousands;
use crate::rules::Severity;
use crate::scan::FindingsReport;

/// Shown for a finding without a resource or principal.
const ABSENT: &str = "(none)";

/// Writes the findings of `report`.
pub fn render(report: &FindingsReport, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out)?;
    let c = &report.counts;
    writeln!(
        out,
        "Findings: {} open ({} critical, {} high, {} medium, {} low, {} info), {} waived; {} rule(s) over {} event(s)",
        report.findings.len(),
        c.critical,
        c.high,
        c.medium,
        c.low,
        c.info,
        report.waived.len(),
        report.rules.len(),
        thousands(report.events_evaluated)
    )?;
    let f = &report.filter;
    if !f.is_empty() {
        let mut parts = Vec::new();
        if let Some(since) = f.since {
            parts.push(format!("since {}", since.to_rfc3339()));
        }
        if let Some(until) = f.until {
            parts.push(format!("until {}", until.to_rfc3339()));
        }
        if !f.accounts.is_empty() {
            parts.push(format!("accounts {}", f.accounts.join(", ")));
        }
        if !f.regions.is_empty() {
            parts.push(format!("regions {}", f.regions.join(", ")));
        }
        writeln!(out, "Filter: {}", parts.join("; "))?;
    }
    for severity in Severity::ALL.into_iter().rev() {
        let group: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity == severity)
            .collect();
        if group.is_empty() {
            continue;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{} ({})",
            severity.as_str().to_uppercase(),
            group.len()
        )?;
        let mut builder = Builder::default();
        builder.push_record([
            "rule",
            "title",
            "resource",
            "principal",
            "count",
            "first seen",
            "last seen",
        ]);
        for f in group {
            builder.push_record([
                f.rule_id.as_str(),
                f.title.as_str(),
                f.resource.as_deref().unwrap_or(ABSENT),
                f.principal.as_deref().unwrap_or(ABSENT),
                &thousands(f.count),
                f.first_seen.as_str(),
                f.last_seen.as_str(),
            ]);
        }
        let mut table = builder.build();
        table.with(Style::sharp());
        writeln!(out, "{table}")?;
    }
    if !report.waived.is_empty() {
        writeln!(out)?;
        writeln!(out, "WAIVED ({})", report.waived.len())?;
        let mut builder = Builder::default();
        builder.push_record([
            "rule",
            "severity",
            "resource",
            "principal",
            "count",
            "owner",
            "expires",
            "reason",
        ]);
        for w in &report.waived {
            let f = &w.finding;
            builder.push_record([
                f.rule_id.as_str(),
                f.severity.as_str(),
                f.resource.as_deref().unwrap_or(ABSENT),
                f.principal.as_deref().unwrap_or(ABSENT),
                &thousands(f.count),
                w.waiver.owner.as_str(),
                &w.waiver.expires.format("%Y-%m-%d").to_string(),
                w.waiver.reason.as_str(),
            ]);
        }
        let mut table = builder.build();
        table.with(Style::sharp());
        writeln!(out, "{table}")?;
    }
    Ok(())
}
