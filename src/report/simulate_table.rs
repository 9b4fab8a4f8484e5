//! The `simulate` summary as a table for a terminal.

use std::io::Write;
use std::path::Path;

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use crate::kms::simulate::Summary;
use crate::report::thousands;

/// Writes what a simulation wrote into `out_dir`.
pub fn render(summary: &Summary, out_dir: &Path, out: &mut impl Write) -> std::io::Result<()> {
    let mut builder = Builder::default();
    let failed: u64 = summary.failures.values().sum();
    let mut rows: Vec<(String, String)> = vec![
        ("seed".into(), summary.seed.to_string()),
        ("API calls".into(), thousands(summary.calls)),
        ("  failed".into(), thousands(failed)),
    ];
    for (code, count) in &summary.failures {
        rows.push((format!("    {code}"), thousands(*count)));
    }
    rows.extend([
        (
            "service events (rotation, deletion, expiry)".into(),
            thousands(summary.service_events),
        ),
        ("records written".into(), thousands(summary.events_written)),
        (
            "log files written".into(),
            thousands(summary.files_written as u64),
        ),
        (
            "digest files written (unsigned)".into(),
            thousands(summary.digests_written as u64),
        ),
        (
            "incidents injected".into(),
            thousands(summary.incidents as u64),
        ),
    ]);
    for (label, value) in &rows {
        builder.push_record([label.as_str(), value.as_str()]);
    }
    let mut table = builder.build();
    table.with(Style::sharp());
    table.modify(Columns::last(), Alignment::right());
    writeln!(out, "Simulated trail in {}", out_dir.display())?;
    writeln!(out, "{table}")?;
    writeln!(out, "Ground truth: {}", summary.ground_truth.display())
}
