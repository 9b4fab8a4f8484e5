//! The HTML report: one self-contained file for people and for print. Styles are inline, the
//! charts are inline SVG ([`super::charts`]), there is no script, and a Content Security
//! Policy (`default-src 'none'`) makes sure the page loads nothing when opened, even offline.
//!
//! The order follows what an auditor reads first: the summary (score, trend, status and
//! severity counts, failing sections, charts), the coverage matrix (every requirement,
//! failed first), the findings with their evidence and remediation, waivers, the key
//! inventory with rotation ages, log coverage with its gaps, integrity, the comparison with
//! the previous report, and the scope with the SHA-256 of every input. Every string that
//! comes from logs, catalogs or settings is escaped; URLs are shown as text, never linked or
//! loaded.

use std::fmt::Write as _;
use std::io::Write;

use chrono::NaiveDate;

use crate::report::compliance::charts::{self, escape, DailyUsage, FamilyFindings, KeyAge};
use crate::report::compliance::model::{
    Assessment, ComplianceReport, FindingStatus, ReportFinding, RequirementResult, SeverityCounts,
    Status, ThresholdKind, Trend,
};
use crate::report::thousands;
use crate::rules::params::ParamValue;
use crate::rules::Severity;

/// The rule parameter read as the cryptoperiod for the rotation chart's reference line,
/// when a framework bound names it (`KMS.ROT.1`'s `max_age_days`).
const CRYPTOPERIOD_PARAM: &str = "max_age_days";

/// Writes `s` (format arguments) to the page; writing to a `String` cannot fail.
macro_rules! put {
    ($page:expr, $($arg:tt)*) => {
        let _ = write!($page, $($arg)*);
    };
}

/// Writes `report` as one HTML document.
pub fn write(report: &ComplianceReport, out: &mut impl Write) -> std::io::Result<()> {
    let mut page = String::with_capacity(64 * 1024);
    head(report, &mut page);
    summary(report, &mut page);
    requirements(report, &mut page);
    findings(report, &mut page);
    waivers(report, &mut page);
    keys(report, &mut page);
    coverage(report, &mut page);
    integrity(report, &mut page);
    comparison(report, &mut page);
    scope(report, &mut page);
    foot(report, &mut page);
    out.write_all(page.as_bytes())
}

const STYLE: &str = r#"
:root { --ink: #1f2937; --muted: #6b7280; --line: #d1d5db; --soft: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, nav, main, footer { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 24px; padding-bottom: 12px; border-bottom: 3px solid var(--ink); }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 6px; }
p { margin: 6px 0; }
a { color: #1d4ed8; }
nav ul { list-style: none; display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 0; margin: 10px 0; }
table { border-collapse: collapse; width: 100%; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid var(--line); padding: 4px 6px; text-align: left; vertical-align: top; }
th { background: var(--soft); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.nowrap { white-space: nowrap; overflow-wrap: normal; }
code.arn { display: inline-block; min-width: 18em; overflow-wrap: anywhere; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 8px; border: 1px solid; border-radius: 10px; font-size: 12px;
  font-weight: 600; white-space: nowrap; }
.st-not-satisfied { background: #fee2e2; color: #7f1d1d; border-color: #b91c1c; }
.st-insufficient-evidence { background: #fef3c7; color: #78350f; border-color: #b45309; }
.st-manual { background: #e0e7ff; color: #1e3a8a; border-color: #4338ca; }
.st-satisfied { background: #dcfce7; color: #14532d; border-color: #15803d; }
.st-not-applicable { background: #f3f4f6; color: #374151; border-color: #9ca3af; }
.sev-critical { background: #7f1d1d; color: #fff; border-color: #7f1d1d; }
.sev-high { background: #b91c1c; color: #fff; border-color: #b91c1c; }
.sev-medium { background: #c2410c; color: #fff; border-color: #c2410c; }
.sev-low { background: #fef9c3; color: #713f12; border-color: #a16207; }
.sev-info { background: #f1f5f9; color: #334155; border-color: #475569; }
.waived { background: #fff; color: var(--muted); border-color: var(--muted); border-style: dashed; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .badge { text-transform: none; letter-spacing: 0; white-space: normal; }
.card .big { font-size: 28px; font-weight: 700; line-height: 1.2; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 16px; }
figure { margin: 8px 0; }
figure.wide { grid-column: 1 / -1; }
figcaption { color: var(--muted); font-size: 12px; }
svg.chart { display: block; max-width: 100%; height: auto; }
article.finding { border: 1px solid var(--line); border-left-width: 5px; border-radius: 4px; padding: 4px 14px 8px; margin: 14px 0; }
article.finding h3 { margin-top: 8px; }
article.f-critical { border-left-color: #7f1d1d; } article.f-high { border-left-color: #b91c1c; }
article.f-medium { border-left-color: #c2410c; } article.f-low { border-left-color: #a16207; }
article.f-info { border-left-color: #475569; }
dl.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0; }
dl.kv dt { color: var(--muted); }
dl.kv dd { margin: 0; min-width: 0; }
ul.reasons { margin: 4px 0 0; padding-left: 18px; }
footer { margin-top: 40px; padding-top: 10px; padding-bottom: 24px; border-top: 1px solid var(--line); color: var(--muted); font-size: 12px; }
@media print {
  @page { margin: 12mm; }
  body { font-size: 9.5pt; }
  table { font-size: 8pt; }
  code { font-size: 7.5pt; }
  td { overflow-wrap: break-word; }
  code { overflow-wrap: anywhere; }
  .badge { white-space: normal; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  nav { display: none; }
  header, main, footer { max-width: none; padding-left: 0; padding-right: 0; }
  a { color: inherit; text-decoration: none; }
  h2, h3 { break-after: avoid; }
  tr, figure, .card, dl.kv { break-inside: avoid; }
  article.finding { break-inside: avoid-page; }
  thead { display: table-header-group; }
  .charts { grid-template-columns: 1fr 1fr; }
  #requirements, #findings, #keys, #scope { break-before: page; }
}
"#;

/// The sections, in page order, for the table of contents.
const SECTIONS: [(&str, &str); 10] = [
    ("summary", "Summary"),
    ("requirements", "Requirements"),
    ("findings", "Findings"),
    ("waivers", "Waivers"),
    ("keys", "Key inventory"),
    ("coverage", "Log coverage"),
    ("integrity", "Integrity"),
    ("comparison", "Since last report"),
    ("scope", "Scope"),
    ("statuses", "Statuses"),
];

fn head(report: &ComplianceReport, page: &mut String) {
    let scope = &report.scope;
    let f = &scope.framework;
    put!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"generator\" content=\"{} {}\">\n\
         <title>{} {} compliance report, {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&scope.tool.name),
        escape(&scope.tool.version),
        escape(&f.name),
        escape(&f.version),
        escape(&scope.report_date),
    );
    put!(
        page,
        "<header>\n<h1>{} {} compliance report</h1>\n<p class=\"muted\">Report date <strong>{}</strong> · \
         generated {} by {} {} · catalog <code>{}</code> · {} log file{}</p>\n</header>\n",
        escape(&f.name),
        escape(&f.version),
        escape(&scope.report_date),
        escape(&scope.generated_at),
        escape(&scope.tool.name),
        escape(&scope.tool.version),
        escape(&f.id),
        thousands(scope.inputs.len() as u64),
        plural(scope.inputs.len() as u64),
    );
    page.push_str("<nav aria-label=\"Contents\"><ul>");
    for (id, title) in SECTIONS {
        put!(page, "<li><a href=\"#{id}\">{title}</a></li>");
    }
    page.push_str("</ul></nav>\n<main>\n");
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn score_text(score: Option<f64>) -> String {
    score.map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1} %"))
}

fn status_badge(status: Status) -> String {
    format!("<span class=\"badge st-{0}\">{0}</span>", status.as_str())
}

fn severity_badge(severity: Severity) -> String {
    format!(
        "<span class=\"badge sev-{0}\">{0}</span>",
        severity.as_str()
    )
}

/// `text` escaped, or a muted dash when absent.
fn opt(text: Option<&str>) -> String {
    text.map_or_else(|| "<span class=\"muted\">-</span>".to_owned(), escape)
}

/// `text` escaped as code, or a muted dash when absent.
fn opt_code(text: Option<&str>) -> String {
    text.map_or_else(
        || "<span class=\"muted\">-</span>".to_owned(),
        |t| format!("<code>{}</code>", escape(t)),
    )
}

fn yes_no(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    }
}

/// An id usable as a fragment: ASCII letters, digits and `-`, prefixed with `prefix`.
fn anchor(prefix: &str, id: &str) -> String {
    let slug: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{prefix}-{slug}")
}

fn finding_link(id: &str, waived: bool) -> String {
    format!(
        "<a href=\"#{}\"><code class=\"nowrap\">{}</code></a>{}",
        anchor("finding", id),
        escape(id),
        if waived { " (waived)" } else { "" }
    )
}

fn severity_text(counts: &SeverityCounts) -> String {
    if counts.total() == 0 {
        return "none".to_owned();
    }
    Severity::ALL
        .iter()
        .rev()
        .filter(|s| counts.get(**s) > 0)
        .map(|s| format!("{} {}", counts.get(*s), s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn summary(report: &ComplianceReport, page: &mut String) {
    let s = &report.summary;
    let c = &s.requirements;
    page.push_str("<section id=\"summary\">\n<h2>Summary</h2>\n<div class=\"cards\">\n");
    let trend = match &report.comparison {
        None => "first report of this framework: no trend yet".to_owned(),
        Some(cmp) => {
            let arrow = match cmp.trend {
                Trend::Improved => "▲ improved",
                Trend::Declined => "▼ declined",
                Trend::Unchanged => "= unchanged",
                Trend::NotComparable => "not comparable",
            };
            let change = cmp
                .score_change
                .map(|d| format!(" ({d:+.1} points)"))
                .unwrap_or_default();
            format!(
                "{arrow}{change} since {} (was {})",
                escape(&cmp.previous_date),
                score_text(cmp.previous_score)
            )
        }
    };
    put!(
        page,
        "<div class=\"card\"><div class=\"label\">Score</div><div class=\"big\">{}</div>\
         <div class=\"muted\">{trend}</div></div>\n",
        score_text(s.score)
    );
    for (status, count) in [
        (Status::NotSatisfied, c.not_satisfied),
        (Status::InsufficientEvidence, c.insufficient_evidence),
        (Status::Manual, c.manual),
        (Status::Satisfied, c.satisfied),
        (Status::NotApplicable, c.not_applicable),
    ] {
        put!(
            page,
            "<div class=\"card\"><div class=\"label\">{}</div><div class=\"big\">{count}</div>\
             <div class=\"muted\">of {} requirements</div></div>\n",
            status_badge(status),
            c.total
        );
    }
    put!(
        page,
        "<div class=\"card\"><div class=\"label\">Open findings</div><div class=\"big\">{}</div>\
         <div class=\"muted\">{}</div></div>\n",
        s.open_findings.total(),
        escape(&severity_text(&s.open_findings))
    );
    put!(
        page,
        "<div class=\"card\"><div class=\"label\">Waived findings</div><div class=\"big\">{}</div>\
         <div class=\"muted\">{}</div></div>\n",
        s.waived_findings.total(),
        escape(&severity_text(&s.waived_findings))
    );
    page.push_str("</div>\n");
    page.push_str(
        "<p class=\"muted\">Score = satisfied / (satisfied + not satisfied + insufficient \
         evidence); manual and not-applicable requirements do not count.</p>\n",
    );
    let window = &report.scope.window;
    put!(
        page,
        "<p>Logs in the window: {} to {} ({} events, {} from KMS).</p>\n",
        opt(window.first_event.as_deref()),
        opt(window.last_event.as_deref()),
        thousands(window.events),
        thousands(window.kms_events)
    );

    page.push_str("<h3>Failing sections</h3>\n");
    if s.failing_sections.is_empty() {
        page.push_str(
            "<p>None: no section has a not-satisfied or insufficient-evidence requirement.</p>\n",
        );
    } else {
        page.push_str(
            "<table><thead><tr><th>Section</th><th>Title</th><th class=\"num\">Not satisfied</th>\
             <th class=\"num\">Insufficient evidence</th><th class=\"num\">Section score</th></tr></thead><tbody>\n",
        );
        for section in &s.failing_sections {
            put!(
                page,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                escape(&section.id),
                escape(&section.title),
                section.requirements.not_satisfied,
                section.requirements.insufficient_evidence,
                score_text(section.score)
            );
        }
        page.push_str("</tbody></table>\n");
    }

    let severities: Vec<(Severity, u64)> = Severity::ALL
        .iter()
        .rev()
        .map(|sev| (*sev, s.open_findings.get(*sev)))
        .collect();
    let families: Vec<FamilyFindings> = s
        .findings_by_section
        .iter()
        .map(|section| FamilyFindings {
            label: format!("{} {}", section.id, section.title),
            counts: Severity::ALL
                .iter()
                .rev()
                .map(|sev| (*sev, section.findings.get(*sev)))
                .collect(),
        })
        .collect();
    page.push_str("<div class=\"charts\">\n");
    figure(
        page,
        &charts::findings_by_severity("chart-severity", &severities),
        "Open findings by severity (waived findings are not counted).",
    );
    wide_figure(
        page,
        &charts::findings_by_family("chart-family", &families),
        "Distinct open findings against each section's requirements, split by severity.",
    );
    page.push_str("</div>\n</section>\n");
}

fn figure(page: &mut String, svg: &str, caption: &str) {
    put!(
        page,
        "<figure>\n{svg}<figcaption>{}</figcaption>\n</figure>\n",
        escape(caption)
    );
}

/// A figure spanning every column of the chart grid.
fn wide_figure(page: &mut String, svg: &str, caption: &str) {
    put!(
        page,
        "<figure class=\"wide\">\n{svg}<figcaption>{}</figcaption>\n</figure>\n",
        escape(caption)
    );
}

/// Requirements in the order reports list them: failed first, then catalog order.
fn ordered(report: &ComplianceReport) -> Vec<&RequirementResult> {
    let mut list: Vec<&RequirementResult> = report.requirements.iter().collect();
    list.sort_by_key(|r| Status::ALL.iter().position(|s| *s == r.status));
    list
}

fn assessment_text(assessment: Assessment) -> &'static str {
    match assessment {
        Assessment::Automated => "automated",
        Assessment::Manual => "manual",
        Assessment::NotApplicable => "not applicable",
    }
}

fn requirements(report: &ComplianceReport, page: &mut String) {
    page.push_str("<section id=\"requirements\">\n<h2>Requirements</h2>\n");
    put!(
        page,
        "<p>Every requirement of the catalog, failed first ({} in all). \
         <a href=\"#statuses\">Statuses</a> says what each status means.</p>\n",
        report.requirements.len()
    );
    page.push_str(
        "<table><thead><tr><th>Requirement</th><th>Title</th><th>Status</th><th>Assessed</th>\
         <th>Rules</th><th>Findings</th><th>Reason</th></tr></thead><tbody>\n",
    );
    for r in ordered(report) {
        let rules: Vec<String> = r
            .rules
            .iter()
            .map(|u| {
                if u.evaluated {
                    format!("<code>{}</code>", escape(&u.id))
                } else {
                    format!(
                        "<code>{}</code> <span class=\"muted\">(not evaluated{})</span>",
                        escape(&u.id),
                        u.not_evaluated_reason
                            .as_deref()
                            .map(|why| format!(": {}", escape(why)))
                            .unwrap_or_default()
                    )
                }
            })
            .collect();
        let findings: Vec<String> = r
            .findings
            .iter()
            .map(|f| finding_link(&f.id, false))
            .chain(r.waived_findings.iter().map(|f| finding_link(&f.id, true)))
            .collect();
        let mut reason = escape(&r.reason);
        let mut details: Vec<String> = Vec::new();
        for t in &r.thresholds_violated {
            details.push(format!(
                "Bound not met: {} {} (value {}, required {})",
                escape(t.rule.as_deref().unwrap_or("log coverage")),
                escape(t.param.as_deref().unwrap_or("days")),
                t.value
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |v| escape(&v.to_string())),
                escape(&t.required)
            ));
        }
        for gap in &r.evidence_gaps {
            details.push(format!("Evidence gap: {}", escape(gap)));
        }
        if let Some(note) = &r.note {
            details.push(format!(
                "<span class=\"muted\">Note: {}</span>",
                escape(note)
            ));
        }
        if !details.is_empty() {
            reason.push_str("<ul class=\"reasons\">");
            for d in details {
                put!(reason, "<li>{d}</li>");
            }
            reason.push_str("</ul>");
        }
        put!(
            page,
            "<tr id=\"{}\"><td><strong>{}</strong><br><span class=\"muted\">{}</span></td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{reason}</td></tr>\n",
            anchor("req", &r.id),
            escape(&r.label),
            escape(&r.section),
            escape(&r.title),
            status_badge(r.status),
            assessment_text(r.assessment),
            if rules.is_empty() { "<span class=\"muted\">-</span>".to_owned() } else { rules.join("<br>") },
            if findings.is_empty() { "<span class=\"muted\">-</span>".to_owned() } else { findings.join("<br>") },
        );
    }
    page.push_str("</tbody></table>\n</section>\n");
}

fn findings(report: &ComplianceReport, page: &mut String) {
    page.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    if report.findings.is_empty() {
        page.push_str("<p>No finding of the rules this framework maps.</p>\n</section>\n");
        return;
    }
    let open = report
        .findings
        .iter()
        .filter(|f| f.status == FindingStatus::Open)
        .count();
    put!(
        page,
        "<p>{} finding{} of the mapped rules, most severe first: {open} open, {} waived.</p>\n",
        report.findings.len(),
        plural(report.findings.len() as u64),
        report.findings.len() - open
    );
    for finding in &report.findings {
        finding_article(report, finding, page);
    }
    page.push_str("</section>\n");
}

fn finding_article(report: &ComplianceReport, f: &ReportFinding, page: &mut String) {
    let waived = f.status == FindingStatus::Waived;
    put!(
        page,
        "<article class=\"finding f-{}\" id=\"{}\">\n<h3>{} {}<code>{}</code> {}</h3>\n<dl class=\"kv\">\n",
        f.severity.as_str(),
        anchor("finding", &f.id),
        severity_badge(f.severity),
        if waived { "<span class=\"badge waived\">waived</span> " } else { "" },
        escape(&f.rule_id),
        escape(&f.title),
    );
    let requirements = if f.requirements.is_empty() {
        "none (it makes evidence insufficient)".to_owned()
    } else {
        f.requirements
            .iter()
            .map(|label| {
                let target = report
                    .requirements
                    .iter()
                    .find(|r| &r.label == label)
                    .map_or_else(|| label.clone(), |r| r.id.clone());
                format!(
                    "<a href=\"#{}\">{}</a>",
                    anchor("req", &target),
                    escape(label)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    put!(
        page,
        "<dt>Finding</dt><dd><code>{}</code></dd>\n",
        escape(&f.id)
    );
    put!(page, "<dt>Requirements</dt><dd>{requirements}</dd>\n");
    put!(
        page,
        "<dt>Resource</dt><dd>{}</dd>\n",
        opt_code(f.resource.as_deref())
    );
    put!(
        page,
        "<dt>Principal</dt><dd>{}</dd>\n",
        opt_code(f.principal.as_deref())
    );
    put!(
        page,
        "<dt>Seen</dt><dd>{} to {} ({} event{})</dd>\n",
        escape(&f.first_seen),
        escape(&f.last_seen),
        thousands(f.count),
        plural(f.count)
    );
    if let Some(detail) = &f.detail {
        put!(page, "<dt>Detail</dt><dd>{}</dd>\n", escape(detail));
    }
    if let Some(waiver_id) = &f.waiver {
        match report.waiver(waiver_id) {
            Some(w) => {
                put!(
                    page,
                    "<dt>Waived by</dt><dd><code>{}</code>, owner {}, expires {}: {}</dd>\n",
                    escape(&w.id),
                    escape(&w.owner),
                    escape(&w.expires),
                    escape(&w.reason)
                );
            }
            None => {
                put!(
                    page,
                    "<dt>Waived by</dt><dd><code>{}</code></dd>\n",
                    escape(waiver_id)
                );
            }
        }
    }
    put!(page, "<dt>What</dt><dd>{}</dd>\n", escape(&f.what));
    if let Some(why) = &f.why {
        put!(page, "<dt>Why</dt><dd>{}</dd>\n", escape(why));
    }
    if let Some(remediation) = &f.remediation {
        put!(
            page,
            "<dt>Remediation</dt><dd>{}</dd>\n",
            escape(remediation)
        );
    }
    page.push_str("</dl>\n");
    if !f.evidence.is_empty() {
        page.push_str(
            "<table><thead><tr><th>Event time</th><th>Event</th><th>Event ID</th><th>File</th>\
             <th class=\"num\">Record</th></tr></thead><tbody>\n",
        );
        for e in &f.evidence {
            put!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td></tr>\n",
                escape(&e.event_time),
                escape(&e.event_name),
                opt_code(e.event_id.as_deref()),
                escape(&e.source_file),
                e.source_record
            );
        }
        page.push_str("</tbody></table>\n");
        if (f.evidence.len() as u64) < f.count {
            put!(
                page,
                "<p class=\"muted\">The {} earliest of {} events are shown.</p>\n",
                f.evidence.len(),
                thousands(f.count)
            );
        }
    }
    page.push_str("</article>\n");
}

fn waivers(report: &ComplianceReport, page: &mut String) {
    page.push_str("<section id=\"waivers\">\n<h2>Waivers</h2>\n");
    if report.waivers.is_empty() {
        page.push_str("<p>No waiver was given.</p>\n</section>\n");
        return;
    }
    page.push_str(
        "<table><thead><tr><th>Waiver</th><th>Rule</th><th>Resource</th><th>Principal</th><th>Owner</th>\
         <th>Expires</th><th>Findings</th><th>Reason</th></tr></thead><tbody>\n",
    );
    for w in &report.waivers {
        let expires = if w.expired {
            format!("{} <strong>(expired)</strong>", escape(&w.expires))
        } else {
            escape(&w.expires)
        };
        let findings: Vec<String> = w
            .findings
            .iter()
            .map(|id| finding_link(id, false))
            .collect();
        put!(
            page,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td>\
             <td>{}</td><td>{expires}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&w.id),
            escape(&w.rule),
            escape(&w.resource),
            escape(&w.principal),
            escape(&w.owner),
            if findings.is_empty() { "<span class=\"muted\">none</span>".to_owned() } else { findings.join("<br>") },
            escape(&w.reason)
        );
    }
    page.push_str(
        "</tbody></table>\n<p class=\"muted\">An expired waiver waives nothing: the findings it \
         covered count again.</p>\n</section>\n",
    );
}

/// The cryptoperiod in days: the value in effect of the first framework bound on
/// [`CRYPTOPERIOD_PARAM`], when the framework sets one.
fn cryptoperiod(report: &ComplianceReport) -> Option<i64> {
    report
        .scope
        .thresholds
        .iter()
        .filter(|t| t.kind == ThresholdKind::RuleParam)
        .filter(|t| t.param.as_deref() == Some(CRYPTOPERIOD_PARAM))
        .find_map(|t| match t.value {
            Some(ParamValue::Int(days)) => Some(days),
            #[allow(clippy::cast_possible_truncation)]
            Some(ParamValue::Float(days)) if days.is_finite() => Some(days.round() as i64),
            _ => None,
        })
}

/// The last part of a key ARN (`key/1234…` → `1234…`), or the ARN.
fn key_label(arn: &str) -> &str {
    arn.rsplit_once('/').map_or(arn, |(_, id)| id)
}

fn keys(report: &ComplianceReport, page: &mut String) {
    page.push_str("<section id=\"keys\">\n<h2>Key inventory</h2>\n");
    if report.key_inventory.is_empty() {
        page.push_str("<p>No KMS key appears in the window.</p>\n</section>\n");
        return;
    }
    let period = cryptoperiod(report);
    let ages: Vec<KeyAge> = report
        .key_inventory
        .iter()
        .map(|k| KeyAge {
            label: key_label(&k.key_arn).to_owned(),
            tooltip: k.key_arn.clone(),
            age_days: k.rotation_age_days,
        })
        .collect();
    figure(
        page,
        &charts::rotation_ages("chart-rotation", &ages, period),
        &period.map_or_else(
            || "Days since each key's material last changed; this framework sets no cryptoperiod.".to_owned(),
            |p| format!("Days since each key's material last changed; the dashed line is the cryptoperiod in effect ({p} days)."),
        ),
    );
    page.push_str(
        "<table class=\"keys\"><thead><tr><th>Key</th><th>Spec</th><th>Origin</th><th>Manager</th><th>State</th>\
         <th>Rotation</th><th class=\"num\">Period (days)</th><th class=\"num\">Rotation age (days)</th>\
         <th>Can rotate</th><th>Last used</th></tr></thead><tbody>\n",
    );
    for k in &report.key_inventory {
        let can_rotate = match (k.can_rotate, k.can_rotate_reason.as_deref()) {
            (Some(false), Some(reason)) => format!("no: {}", escape(reason)),
            (value, _) => yes_no(value).to_owned(),
        };
        let past = matches!((k.rotation_age_days, period), (Some(age), Some(p)) if age > p);
        put!(
            page,
            "<tr><td><code class=\"arn\">{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{can_rotate}</td><td>{}</td></tr>\n",
            escape(&k.key_arn),
            opt(k.key_spec.as_deref()),
            opt(k.origin.as_deref()),
            opt(k.key_manager.as_deref()),
            opt(k.state.as_deref()),
            yes_no(k.rotation_enabled),
            k.rotation_period_days.map_or_else(|| "-".to_owned(), |d| d.to_string()),
            k.rotation_age_days.map_or_else(
                || "-".to_owned(),
                |d| if past { format!("<strong>{d}</strong>") } else { d.to_string() }
            ),
            opt(k.last_used.as_deref())
        );
    }
    page.push_str(
        "</tbody></table>\n<p class=\"muted\">Rotation age: days since the key material last \
         changed (creation, rotation or import), counted to the latest event.</p>\n</section>\n",
    );
}

/// Calls naming a key per day, summed over keys, in date order.
fn daily_usage(report: &ComplianceReport) -> Vec<DailyUsage> {
    let mut days: Vec<DailyUsage> = Vec::new();
    for kd in &report.activity.key_days {
        let Ok(date) = NaiveDate::parse_from_str(&kd.date, "%Y-%m-%d") else {
            continue;
        };
        match days.binary_search_by(|d| d.date.cmp(&date)) {
            Ok(i) => {
                days[i].calls = days[i].calls.saturating_add(kd.calls);
                days[i].errors = days[i].errors.saturating_add(kd.errors);
            }
            Err(i) => days.insert(
                i,
                DailyUsage {
                    date,
                    calls: kd.calls,
                    errors: kd.errors,
                },
            ),
        }
    }
    days
}

fn coverage(report: &ComplianceReport, page: &mut String) {
    let c = &report.log_coverage;
    page.push_str("<section id=\"coverage\">\n<h2>Log coverage</h2>\n");
    let required = c
        .required_days
        .map(|d| {
            let met = if c.calendar_days >= u64::from(d) {
                "met"
            } else {
                "<strong>not met</strong>"
            };
            format!("; the framework requires at least {d} ({met})")
        })
        .unwrap_or_default();
    put!(
        page,
        "<p>The logs read run from {} to {}: {} calendar day{}{required}.</p>\n",
        opt(c.first_event.as_deref()),
        opt(c.last_event.as_deref()),
        c.calendar_days,
        plural(c.calendar_days)
    );
    figure(
        page,
        &charts::usage_over_time("chart-usage", &daily_usage(report)),
        "Calls naming a KMS key over the report window; failed calls in red. Days without calls are drawn as zero, so silences show.",
    );
    if !c.streams.is_empty() {
        page.push_str(
            "<table><thead><tr><th>Account</th><th>Region</th><th>First event</th><th>Last event</th>\
             <th class=\"num\">Events</th></tr></thead><tbody>\n",
        );
        for s in &c.streams {
            put!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n",
                escape(&s.account),
                escape(&s.region),
                escape(&s.first_event),
                escape(&s.last_event),
                thousands(s.events)
            );
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("<h3>Gaps</h3>\n");
    if c.gaps.is_empty() {
        put!(
            page,
            "<p>No gap: {} silence{} of more than an hour in the window, none judged a gap by the \
             coverage rules.</p>\n",
            c.silences,
            plural(c.silences)
        );
    } else {
        page.push_str(
            "<table><thead><tr><th>Gap</th><th>Start</th><th>End</th><th class=\"num\">Hours</th>\
             <th class=\"num\">Expected events</th><th>Digests show it quiet</th><th>Finding</th></tr></thead><tbody>\n",
        );
        for g in &c.gaps {
            put!(
                page,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&g.id),
                escape(&g.start),
                escape(&g.end),
                g.hours,
                g.expected_events,
                yes_no(g.digest_covered),
                finding_link(&g.finding, g.waived)
            );
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("</section>\n");
}

fn integrity(report: &ComplianceReport, page: &mut String) {
    let i = &report.integrity;
    page.push_str("<section id=\"integrity\">\n<h2>Log integrity</h2>\n");
    if i.status == "no-digests" {
        page.push_str(
            "<p>No CloudTrail digest file was read, so the log files' integrity is not verified.</p>\n",
        );
    } else {
        put!(
            page,
            "<p>{} digest file{} validated; {} of {} listed log files present with the listed hash; \
             {} problem{}.</p>\n",
            thousands(i.digests),
            plural(i.digests),
            thousands(i.log_files_verified),
            thousands(i.log_files_listed),
            i.problems.len(),
            plural(i.problems.len() as u64)
        );
    }
    if !i.problems.is_empty() {
        page.push_str(
            "<table><thead><tr><th>Problem</th><th>Account</th><th>Region</th><th>File</th>\
             <th>Detail</th></tr></thead><tbody>\n",
        );
        for p in &i.problems {
            put!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>\n",
                escape(&p.problem),
                opt(p.account.as_deref()),
                opt(p.region.as_deref()),
                escape(&p.object),
                escape(&p.detail)
            );
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("</section>\n");
}

fn comparison(report: &ComplianceReport, page: &mut String) {
    page.push_str("<section id=\"comparison\">\n<h2>Since the previous report</h2>\n");
    let Some(cmp) = &report.comparison else {
        page.push_str(
            "<p>This is the first report of this framework in its folder: nothing to compare with.</p>\n</section>\n",
        );
        return;
    };
    put!(
        page,
        "<p>Compared with {} (<code>{}</code>): score {} then, {} now.</p>\n",
        escape(&cmp.previous_date),
        escape(&cmp.previous_report),
        score_text(cmp.previous_score),
        score_text(report.summary.score)
    );
    for (title, list) in [
        ("New findings", &cmp.new_findings),
        ("Resolved findings", &cmp.resolved_findings),
        ("Still open", &cmp.still_open_findings),
    ] {
        put!(page, "<h3>{title} ({})</h3>\n", list.len());
        if list.is_empty() {
            page.push_str("<p>None.</p>\n");
            continue;
        }
        page.push_str(
            "<table><thead><tr><th>Finding</th><th>Rule</th><th>Severity</th><th>Title</th>\
             <th>Resource</th><th>Principal</th></tr></thead><tbody>\n",
        );
        for f in list {
            put!(
                page,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&f.id),
                escape(&f.rule_id),
                escape(&f.severity),
                escape(&f.title),
                opt_code(f.resource.as_deref()),
                opt_code(f.principal.as_deref())
            );
        }
        page.push_str("</tbody></table>\n");
    }
    if !cmp.status_changes.is_empty() {
        page.push_str(
            "<h3>Status changes</h3>\n<table><thead><tr><th>Requirement</th><th>Before</th>\
             <th>Now</th></tr></thead><tbody>\n",
        );
        for change in &cmp.status_changes {
            put!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&change.label),
                escape(&change.from),
                status_badge(change.to)
            );
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("</section>\n");
}

fn scope(report: &ComplianceReport, page: &mut String) {
    let s = &report.scope;
    let f = &s.framework;
    page.push_str("<section id=\"scope\">\n<h2>Scope</h2>\n<dl class=\"kv\">\n");
    put!(
        page,
        "<dt>Framework</dt><dd>{} {}: {}{}</dd>\n",
        escape(&f.name),
        escape(&f.version),
        escape(&f.document),
        f.publisher
            .as_deref()
            .map(|p| format!(" ({})", escape(p)))
            .unwrap_or_default()
    );
    // Shown as text, not a link: the report points nowhere by itself.
    put!(
        page,
        "<dt>Source</dt><dd><code>{}</code></dd>\n",
        escape(&f.url)
    );
    if let Some(catalog_scope) = &f.catalog_scope {
        put!(
            page,
            "<dt>Catalog scope</dt><dd>{}</dd>\n",
            escape(catalog_scope)
        );
    }
    put!(
        page,
        "<dt>Catalog</dt><dd><code>{}</code> (<code>{}</code>), SHA-256 <code>{}</code></dd>\n",
        escape(&f.id),
        escape(&f.catalog_file),
        escape(&f.catalog_sha256)
    );
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_owned()
        } else {
            items
                .iter()
                .map(|i| escape(i))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    put!(page, "<dt>Accounts</dt><dd>{}</dd>\n", list(&s.accounts));
    put!(page, "<dt>Regions</dt><dd>{}</dd>\n", list(&s.regions));
    put!(
        page,
        "<dt>Window asked</dt><dd>since {}, until {}</dd>\n",
        escape(s.window.since.as_deref().unwrap_or("the first event")),
        escape(s.window.until.as_deref().unwrap_or("the last event"))
    );
    put!(
        page,
        "<dt>Window covered</dt><dd>{} to {} ({} calendar day{}, {} events, {} from KMS)</dd>\n",
        opt(s.window.first_event.as_deref()),
        opt(s.window.last_event.as_deref()),
        s.window.calendar_days,
        plural(s.window.calendar_days),
        thousands(s.window.events),
        thousands(s.window.kms_events)
    );
    if let Some(lake) = &s.lake {
        put!(
            page,
            "<dt>Lake</dt><dd><code>{}</code></dd>\n",
            escape(lake)
        );
    }
    put!(
        page,
        "<dt>Tool</dt><dd>{} {}</dd>\n",
        escape(&s.tool.name),
        escape(&s.tool.version)
    );
    put!(
        page,
        "<dt>Rule pack</dt><dd>version {}, {} rules, SHA-256 <code>{}</code>{}</dd>\n",
        escape(&s.rule_pack.version),
        s.rule_pack.rules,
        escape(&s.rule_pack.sha256),
        if s.rule_pack.disabled.is_empty() {
            String::new()
        } else {
            format!("; turned off: {}", list(&s.rule_pack.disabled))
        }
    );
    for settings in &s.settings {
        put!(
            page,
            "<dt>{}</dt><dd><code>{}</code>, SHA-256 <code>{}</code></dd>\n",
            escape(&settings.role),
            escape(&settings.path),
            escape(&settings.sha256)
        );
    }
    page.push_str("</dl>\n");
    if !s.thresholds.is_empty() {
        page.push_str(
            "<h3>Thresholds</h3>\n<table><thead><tr><th>Requirement</th><th>Bound on</th>\
             <th>Value used</th><th>Required</th><th>Met</th><th>Basis</th></tr></thead><tbody>\n",
        );
        for t in &s.thresholds {
            let on = match t.kind {
                ThresholdKind::RuleParam => format!(
                    "<code>{}</code> <code>{}</code>",
                    escape(t.rule.as_deref().unwrap_or_default()),
                    escape(t.param.as_deref().unwrap_or_default())
                ),
                ThresholdKind::LogCoverageDays => "days the logs cover".to_owned(),
            };
            put!(
                page,
                "<tr><td>{}</td><td>{on}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&t.requirement),
                t.value
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |v| escape(&v.to_string())),
                escape(&t.required),
                if t.met { "yes" } else { "<strong>no</strong>" },
                opt(t.basis.as_deref())
            );
        }
        page.push_str("</tbody></table>\n");
    }
    put!(
        page,
        "<h3>Inputs</h3>\n<p>{} log file{} and {} digest file{}, with their SHA-256.</p>\n",
        thousands(s.inputs.len() as u64),
        plural(s.inputs.len() as u64),
        thousands(s.digests.len() as u64),
        plural(s.digests.len() as u64)
    );
    if !s.inputs.is_empty() {
        page.push_str(
            "<table><thead><tr><th>File</th><th>SHA-256</th><th class=\"num\">Records</th>\
             <th class=\"num\">Skipped</th></tr></thead><tbody>\n",
        );
        for i in &s.inputs {
            put!(
                page,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
                escape(&i.path),
                escape(&i.sha256),
                i.records,
                i.skipped
            );
        }
        page.push_str("</tbody></table>\n");
    }
    if !s.digests.is_empty() {
        page.push_str(
            "<table><thead><tr><th>Digest file</th><th>SHA-256 of its content</th></tr></thead><tbody>\n",
        );
        for d in &s.digests {
            put!(
                page,
                "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>\n",
                escape(&d.path),
                escape(&d.content_sha256)
            );
        }
        page.push_str("</tbody></table>\n");
    }
    page.push_str("</section>\n");
}

fn foot(report: &ComplianceReport, page: &mut String) {
    page.push_str("<section id=\"statuses\">\n<h2>Statuses</h2>\n<dl class=\"kv\">\n");
    for (status, meaning) in [
        (Status::NotSatisfied, "an open (unwaived) finding of a mapped rule, a rule setting looser than the framework's bound (or the rule enforcing it turned off), or logs covering fewer days than the framework requires."),
        (Status::InsufficientEvidence, "the logs cannot show it: no events in the window, an open gap or integrity finding in the window, or none of the mapped rules could evaluate."),
        (Status::Manual, "procedural: the reason says what the assessor examines."),
        (Status::Satisfied, "every bound met, and the mapped rules evaluated over the window found nothing open."),
        (Status::NotApplicable, "does not apply to KMS keys and their audit logs, for the reason given."),
    ] {
        put!(page, "<dt>{}</dt><dd>{}</dd>\n", status_badge(status), escape(meaning));
    }
    page.push_str("</dl>\n</section>\n</main>\n");
    put!(
        page,
        "<footer>Generated by {} {} on {}. This file is self-contained: it loads nothing and \
         runs no script.</footer>\n</body>\n</html>\n",
        escape(&report.scope.tool.name),
        escape(&report.scope.tool.version),
        escape(&report.scope.generated_at)
    );
}
