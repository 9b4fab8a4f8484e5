//! The `log_integrity` view: one row per problem that validating the CloudTrail digest files
//! against the log files found (`missing-file`, `hash-mismatch`, `chain-break`,
//! `unlisted-file`: [`crate::trail::digest::IntegrityProblem`]), as the lake's
//! `integrity/log_integrity.parquet` side table holds them ([`crate::ingest::integrity`]).
//! Without digests in the lake the view is empty.
//!
//! A row's evidence is the local file that shows the problem (the digest, or the log file
//! for a modified or unlisted one), cited as event name `(digest)` or `(log file)` at the
//! digest's end time.

use crate::ingest::integrity::{
    Integrity, ACCOUNT, ACTUAL_HASH, DETAIL, DIGEST_END, DIGEST_FILE, DIGEST_START, EXPECTED_HASH,
    LOG_FILE, OBJECT, PROBLEM, REGION, SOURCE_FILE, TRAIL,
};
use crate::rules::finding::{rfc3339, Evidence};
use crate::rules::views::{Cell, ColumnType, Row, View, ViewTable};
use crate::trail::digest::IntegrityProblem;

/// The columns, in order (the side table's).
pub const COLUMNS: &[(&str, ColumnType)] = &[
    (PROBLEM, ColumnType::Text),
    (ACCOUNT, ColumnType::Text),
    (REGION, ColumnType::Text),
    (TRAIL, ColumnType::Text),
    (OBJECT, ColumnType::Text),
    (LOG_FILE, ColumnType::Text),
    (DIGEST_FILE, ColumnType::Text),
    (EXPECTED_HASH, ColumnType::Text),
    (ACTUAL_HASH, ColumnType::Text),
    (DIGEST_START, ColumnType::Time),
    (DIGEST_END, ColumnType::Time),
    (DETAIL, ColumnType::Text),
    (SOURCE_FILE, ColumnType::Text),
];

/// The column naming a finding's resource: the file at fault.
pub const RESOURCE: &str = OBJECT;

/// Builds the view from the lake's integrity side tables; `as_of` dates evidence that has
/// no digest time. Returns the table and the evidence of its rows.
pub fn build(integrity: Option<&Integrity>, as_of: i64) -> (ViewTable, Vec<(String, Evidence)>) {
    let mut table = ViewTable {
        view: View::LogIntegrity,
        rows: Vec::new(),
    };
    let mut evidence = Vec::new();
    let Some(integrity) = integrity else {
        return (table, evidence);
    };
    for (index, p) in integrity.problems.iter().enumerate() {
        let key = format!("(log_integrity)#{index}");
        let shown = match p.problem {
            IntegrityProblem::HashMismatch | IntegrityProblem::UnlistedFile => "(log file)",
            IntegrityProblem::MissingFile | IntegrityProblem::ChainBreak => "(digest)",
        };
        evidence.push((
            key.clone(),
            Evidence {
                event_id: None,
                event_time: rfc3339(p.digest_end.unwrap_or(as_of)),
                event_name: shown.to_owned(),
                source_file: p.source_file.clone(),
                source_record: 0,
            },
        ));
        table.rows.push(Row {
            cells: vec![
                Cell::Text(p.problem.as_str().to_owned()),
                Cell::text(p.account.as_deref()),
                Cell::text(p.region.as_deref()),
                Cell::text(p.trail.as_deref()),
                Cell::Text(p.object.clone()),
                Cell::text(p.log_file.as_deref()),
                Cell::text(p.digest_file.as_deref()),
                Cell::text(p.expected_hash.as_deref()),
                Cell::text(p.actual_hash.as_deref()),
                Cell::time(p.digest_start),
                Cell::time(p.digest_end),
                Cell::Text(p.detail.clone()),
                Cell::Text(p.source_file.clone()),
            ],
            evidence: vec![key],
        });
    }
    (table, evidence)
}
