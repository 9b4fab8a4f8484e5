//! Findings as JSON Lines: one finding per line, open findings first (most severe first),
//! then waived ones, each with its `status` and, when waived, its `waiver`.

use std::io::Write;

use serde::Serialize;

use crate::rules::waiver::Waiver;
use crate::rules::Finding;
use crate::scan::FindingsReport;

/// A finding as one line of JSON Lines (and one row of CSV).
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    /// `open` or `waived`.
    pub status: &'static str,
    /// The finding's fields.
    #[serde(flatten)]
    pub finding: &'a Finding,
    /// The waiver covering it, for waived findings.
    pub waiver: Option<&'a Waiver>,
}

/// Every finding of `report`: open ones, then waived ones.
pub fn rows(report: &FindingsReport) -> impl Iterator<Item = Row<'_>> {
    let open = report.findings.iter().map(|finding| Row {
        status: "open",
        finding,
        waiver: None,
    });
    let waived = report.waived.iter().map(|w| Row {
        status: "waived",
        finding: &w.finding,
        waiver: Some(&w.waiver),
    });
    open.chain(waived)
}

/// Writes one JSON object per finding, each on its own line.
pub fn render(report: &FindingsReport, out: &mut impl Write) -> std::io::Result<()> {
    for row in rows(report) {
        serde_json::to_writer(&mut *out, &row).map_err(std::io::Error::other)?;
        writeln!(out)?;
    }
    Ok(())
}
