//! Findings as CSV (RFC 4180): one row per finding, open then waived, under a stable header.
//! Evidence is reduced to its event ids, `;`-separated.

use std::io::Write;

use crate::report::findings_jsonl::rows;
use crate::scan::FindingsReport;

/// The header, in column order. New columns are only ever appended.
pub const HEADER: &[&str] = &[
    "id",
    "status",
    "severity",
    "rule_id",
    "rule_name",
    "title",
    "resource",
    "principal",
    "first_seen",
    "last_seen",
    "count",
    "evidence_event_ids",
    "waiver_reason",
    "waiver_owner",
    "waiver_expires",
    "detail",
];

/// Writes the header and one row per finding.
pub fn render(report: &FindingsReport, out: &mut impl Write) -> std::io::Result<()> {
    write_record(out, HEADER.iter().copied())?;
    for row in rows(report) {
        let f = row.finding;
        let evidence: Vec<&str> = f
            .evidence
            .iter()
            .filter_map(|e| e.event_id.as_deref())
            .collect();
        let evidence = evidence.join(";");
        let count = f.count.to_string();
        let expires = row
            .waiver
            .map(|w| w.expires.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        write_record(
            out,
            [
                f.id.as_str(),
                row.status,
                f.severity.as_str(),
                &f.rule_id,
                &f.rule_name,
                &f.title,
                f.resource.as_deref().unwrap_or(""),
                f.principal.as_deref().unwrap_or(""),
                &f.first_seen,
                &f.last_seen,
                &count,
                &evidence,
                row.waiver.map_or("", |w| w.reason.as_str()),
                row.waiver.map_or("", |w| w.owner.as_str()),
                &expires,
                f.detail.as_deref().unwrap_or(""),
            ],
        )?;
    }
    Ok(())
}

/// Writes one record, quoting fields as RFC 4180 requires, ended by CRLF.
fn write_record<'a>(
    out: &mut impl Write,
    fields: impl IntoIterator<Item = &'a str>,
) -> std::io::Result<()> {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(quote(field).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

/// `field` as a CSV field: quoted (with `"` doubled) when it holds a comma, quote, line
/// break or leading/trailing space.
pub fn quote(field: &str) -> std::borrow::Cow<'_, str> {
    let needs =
        field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ');
    if needs {
        std::borrow::Cow::Owned(format!("\"{}\"", field.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
        assert_eq!(quote(" padded"), "\" padded\"");
        let mut out = Vec::new();
        write_record(&mut out, ["a", "b,c", ""]).unwrap();
        assert_eq!(out, b"a,\"b,c\",\r\n");
    }
}
