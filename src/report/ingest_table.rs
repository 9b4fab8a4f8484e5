//! The `ingest` report as a table for a terminal.

use std::io::Write;

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use crate::ingest::IngestReport;
use crate::report::{human_bytes, thousands};

/// Writes what an ingest run did into the lake at `lake`.
pub fn render(report: &IngestReport, lake: &str, out: &mut impl Write) -> std::io::Result<()> {
    let mut builder = Builder::default();
    let ignored: u64 = report.files_ignored.values().sum();
    let rows: [(&str, String); 13] = [
        ("files found", thousands(report.files_found)),
        ("files ingested", thousands(report.files_ingested)),
        ("  with damage", thousands(report.files_damaged)),
        ("files already in lake", thousands(report.files_unchanged)),
        ("files skipped", thousands(report.files_skipped)),
        ("files ignored (digests, other names)", thousands(ignored)),
        ("records read", thousands(report.records_read)),
        ("records stored", thousands(report.records_stored)),
        (
            "records duplicate (same eventID)",
            thousands(report.records_duplicate),
        ),
        ("records skipped", thousands(report.records_skipped)),
        (
            "uncompressed JSON read",
            human_bytes(report.bytes_uncompressed),
        ),
        ("part files written", thousands(report.parts_written)),
        ("problems", thousands(report.problems.len() as u64)),
    ];
    for (label, value) in rows {
        builder.push_record([label, value.as_str()]);
    }
    if report.digests_read > 0 {
        builder.push_record([
            "digest files read (integrity)",
            thousands(report.digests_read).as_str(),
        ]);
    }
    let mut table = builder.build();
    table.with(Style::sharp());
    table.modify(Columns::last(), Alignment::right());
    writeln!(out, "Ingested into {lake}")?;
    writeln!(out, "{table}")
}
