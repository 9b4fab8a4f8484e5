//! The `scan` summary as tables for a terminal.

use std::io::Write;

use tabled::builder::Builder;
use tabled::settings::object::Columns;
use tabled::settings::{Alignment, Style};

use crate::report::{human_bytes, thousands};
use crate::scan::ScanSummary;
use crate::summary::Breakdown;

/// Shown for a field that the events do not carry.
const ABSENT: &str = "(none)";

/// Writes `summary` as a set of tables.
pub fn render(summary: &ScanSummary, out: &mut impl Write) -> std::io::Result<()> {
    let events = &summary.events;
    let input = &summary.input;
    let window = match (&events.first_event, &events.last_event) {
        (Some(first), Some(last)) => format!("{first} to {last}"),
        _ => "no events".to_owned(),
    };
    writeln!(out, "kms-audit {} scan summary", summary.tool_version)?;
    writeln!(out)?;
    let mut overview = Builder::default();
    overview.push_record(["time window", window.as_str()]);
    overview.push_record(["events", &thousands(events.events)]);
    overview.push_record(["accounts", &list(&events.accounts, 3)]);
    overview.push_record(["regions", &list(&events.regions, 3)]);
    overview.push_record(["lake", summary.lake.as_deref().unwrap_or("(temporary)")]);
    table(out, "Overview", overview, false)?;

    let mut files = Builder::default();
    files.push_record(["files found", &thousands(input.files_found)]);
    files.push_record(["files in lake", &thousands(input.files_in_lake)]);
    files.push_record(["  read by this scan", &thousands(input.files_read_now)]);
    files.push_record(["  with damage", &thousands(input.files_damaged)]);
    files.push_record(["files skipped", &thousands(input.files_skipped)]);
    for (reason, count) in &input.files_ignored {
        let label = match reason {
            crate::trail::discover::IgnoreReason::Digest => "files ignored: digest",
            crate::trail::discover::IgnoreReason::NotLogFile => {
                "files ignored: not a log file name"
            }
            crate::trail::discover::IgnoreReason::Hidden => "files ignored: hidden",
            crate::trail::discover::IgnoreReason::GroundTruth => {
                "files ignored: simulator ground truth"
            }
        };
        files.push_record([label, &thousands(*count)]);
    }
    files.push_record(["records read", &thousands(input.records_read)]);
    files.push_record(["records stored", &thousands(input.records_stored)]);
    files.push_record([
        "records duplicate (same eventID)",
        &thousands(input.records_duplicate),
    ]);
    files.push_record(["records skipped", &thousands(input.records_skipped)]);
    files.push_record(["uncompressed JSON", &human_bytes(input.bytes_uncompressed)]);
    if let Some(integrity) = &input.integrity {
        files.push_record(["digest files validated", &thousands(integrity.digests)]);
        files.push_record([
            "  log files they list, verified",
            &format!(
                "{} of {}",
                thousands(integrity.log_files_verified),
                thousands(integrity.log_files_listed)
            ),
        ]);
        files.push_record([
            "  integrity problems (KMS.LOG.6, KMS.LOG.7)",
            &thousands(integrity.problems),
        ]);
    }
    files.push_record(["problems", &thousands(summary.problems.len() as u64)]);
    table(out, "Input", files, true)?;

    breakdown(out, "Accounts", "account", &events.accounts)?;
    breakdown(out, "Regions", "region", &events.regions)?;
    breakdown(out, "Event sources", "event source", &events.event_sources)?;
    breakdown(out, "Event names", "event name", &events.event_names)?;
    breakdown(out, "Error codes", "error code", &events.error_codes)?;
    breakdown(out, "Top principals", "principal", &events.principals)?;
    breakdown(out, "Top KMS keys", "key ARN", &events.keys)?;
    Ok(())
}

/// The first `limit` values of `b`, and how many more there are.
fn list(b: &Breakdown, limit: usize) -> String {
    let shown: Vec<&str> = b
        .top
        .iter()
        .take(limit)
        .map(|c| c.value.as_deref().unwrap_or(ABSENT))
        .collect();
    let more = b.distinct.saturating_sub(shown.len() as u64);
    if more > 0 {
        format!("{} (+{more} more)", shown.join(", "))
    } else if shown.is_empty() {
        ABSENT.to_owned()
    } else {
        shown.join(", ")
    }
}

fn breakdown(out: &mut impl Write, title: &str, label: &str, b: &Breakdown) -> std::io::Result<()> {
    let title = if b.distinct > b.top.len() as u64 {
        format!("{title} (top {} of {})", b.top.len(), thousands(b.distinct))
    } else {
        title.to_owned()
    };
    if b.top.is_empty() {
        writeln!(out, "{title}: none")?;
        return writeln!(out);
    }
    let mut builder = Builder::default();
    builder.push_record([label, "events"]);
    for count in &b.top {
        builder.push_record([
            count.value.as_deref().unwrap_or(ABSENT),
            &thousands(count.events),
        ]);
    }
    table(out, &title, builder, true)
}

fn table(
    out: &mut impl Write,
    title: &str,
    builder: Builder,
    numbers_right: bool,
) -> std::io::Result<()> {
    let mut table = builder.build();
    table.with(Style::sharp());
    if numbers_right {
        table.modify(Columns::last(), Alignment::right());
    }
    writeln!(out, "{title}")?;
    writeln!(out, "{table}")?;
    writeln!(out)
}
