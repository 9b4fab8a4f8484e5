//! The JSON report: the model ([`ComplianceReport`]) as pretty JSON, field names stable
//! (documented in `docs/report-formats.md`); the next report reads it for the comparison.

use std::io::Write;

use crate::report::compliance::model::ComplianceReport;

/// Writes `report` as pretty JSON followed by a newline.
pub fn write(report: &ComplianceReport, out: &mut impl Write) -> std::io::Result<()> {
    crate::report::write_json(report, out)
}
