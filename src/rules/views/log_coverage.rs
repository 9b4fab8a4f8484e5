//! The `log_coverage` view: silences in the trail. Per account (`recipientAccountId`) and
//! Region (`awsRegion`), every event of the lake (any service, not only KMS) in time order;
//! a row for each silence longer than [`MIN_GAP_US`] between two consecutive events, and one
//! for a silence from an account and Region's last event to the end of the logs (the latest
//! event of the lake). Event times are used rather than log file names, so the view works on
//! any input shape (S3 layout, exports, a rule's inline test events).
//!
//! Each row says how many events the account and Region's average rate (its events over its
//! span, first to last event, at least a day) predicts for the silence, so that a rule can
//! tell a quiet account from a missing day, and whether CloudTrail digests show the silence
//! was real: `digest_covered` is true when digests of the account and Region
//! ([`crate::ingest::integrity`]) cover the whole silence without a hole and list no log file
//! holding events inside it (CloudTrail delivers a digest every hour, listing no file for an
//! hour without events); false when digests exist for the account and Region but do not;
//! null without digests.

use std::collections::HashMap;

use polars::prelude::*;

use crate::ingest::integrity::Integrity;
use crate::ingest::schema::{
    AWS_REGION, EVENT_ID, EVENT_NAME, EVENT_TIME, RECIPIENT_ACCOUNT_ID, SOURCE_FILE, SOURCE_RECORD,
};
use crate::rules::error::EvalError;
use crate::rules::finding::{rfc3339, Evidence};
use crate::rules::views::{Cell, ColumnType, Row, View, ViewTable, DAY_US};
use crate::trail::digest::CoverageSegment;

/// The view lists silences longer than this: an hour (CloudTrail delivers about every 5
/// minutes).
pub const MIN_GAP_US: i64 = 3_600_000_000;

/// Microseconds in an hour.
const HOUR_US: i64 = 3_600_000_000;

/// The silence, as a finding's resource: `<account>/<region>@<gap_start>`.
pub const GAP: &str = "gap";
/// `recipientAccountId`.
pub const ACCOUNT: &str = "account";
/// `awsRegion`.
pub const REGION: &str = "region";
/// `between` two events, or `after-last` (the last event to the end of the logs).
pub const POSITION: &str = "position";
/// The last event before the silence.
pub const GAP_START: &str = "gap_start";
/// The first event after it, or the end of the logs.
pub const GAP_END: &str = "gap_end";
/// Whole hours of silence.
pub const HOURS: &str = "hours";
/// Events of the account and Region in the lake.
pub const EVENTS: &str = "events";
/// Their average per day over the account and Region's span.
pub const EVENTS_PER_DAY: &str = "events_per_day";
/// Hours from the account and Region's first event to its last: how much history the average
/// rests on (a burst of minutes predicts nothing about the weeks after it).
pub const HISTORY_HOURS: &str = "history_hours";
/// Events the average rate predicts for the silence.
pub const EXPECTED_EVENTS: &str = "expected_events";
/// `eventID` of the last event before.
pub const EVENT_BEFORE: &str = "event_before";
/// `eventID` of the first event after.
pub const EVENT_AFTER: &str = "event_after";
/// The file holding the last event before.
pub const FILE_BEFORE: &str = "file_before";
/// The file holding the first event after.
pub const FILE_AFTER: &str = "file_after";
/// Whether digests show no log file was delivered during the silence.
pub const DIGEST_COVERED: &str = "digest_covered";

/// `position` of a silence between two events.
pub const BETWEEN: &str = "between";
/// `position` of a silence from the last event to the end of the logs.
pub const AFTER_LAST: &str = "after-last";

/// The columns, in order.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    (GAP, ColumnType::Text),
    (ACCOUNT, ColumnType::Text),
    (REGION, ColumnType::Text),
    (POSITION, ColumnType::Text),
    (GAP_START, ColumnType::Time),
    (GAP_END, ColumnType::Time),
    (HOURS, ColumnType::Int),
    (EVENTS, ColumnType::Int),
    (EVENTS_PER_DAY, ColumnType::Int),
    (HISTORY_HOURS, ColumnType::Int),
    (EXPECTED_EVENTS, ColumnType::Int),
    (EVENT_BEFORE, ColumnType::Text),
    (EVENT_AFTER, ColumnType::Text),
    (FILE_BEFORE, ColumnType::Text),
    (FILE_AFTER, ColumnType::Text),
    (DIGEST_COVERED, ColumnType::Bool),
];

/// One event as the view reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// `recipientAccountId`.
    pub account: String,
    /// `awsRegion`.
    pub region: String,
    /// `eventTime` (µs).
    pub time: i64,
    /// The event as evidence.
    pub evidence: Evidence,
}

impl Point {
    /// The key of the event in [`crate::rules::views::Views::evidence`].
    pub fn evidence_key(&self) -> String {
        match &self.evidence.event_id {
            Some(id) => id.clone(),
            None => format!(
                "{}#{}",
                self.evidence.source_file, self.evidence.source_record
            ),
        }
    }
}

const W_ACCOUNT: &str = "__account";
const W_REGION: &str = "__region";

/// Builds the view from the lake's `events`, with the digests of `integrity` when there are
/// some; returns the table and the evidence of its rows.
pub fn build(
    events: LazyFrame,
    integrity: Option<&Integrity>,
) -> Result<(ViewTable, Vec<(String, Evidence)>), EvalError> {
    let text = |name: &str| col(name).cast(DataType::String);
    let mut frame = events
        .select([
            text(RECIPIENT_ACCOUNT_ID).alias(W_ACCOUNT),
            text(AWS_REGION).alias(W_REGION),
            col(EVENT_TIME).cast(DataType::Int64),
            text(EVENT_ID),
            text(EVENT_NAME),
            text(SOURCE_FILE),
            col(SOURCE_RECORD).cast(DataType::UInt32),
        ])
        .collect()?;
    // One chunk per column, for reading rows out of order.
    frame.rechunk_mut_par();
    let accounts = frame.column(W_ACCOUNT)?.str()?;
    let regions = frame.column(W_REGION)?.str()?;
    let times = frame.column(EVENT_TIME)?.i64()?;
    let order = walk_order(accounts, regions, times);
    let ids = frame.column(EVENT_ID)?.str()?;
    let names = frame.column(EVENT_NAME)?.str()?;
    let files = frame.column(SOURCE_FILE)?.str()?;
    let records = frame.column(SOURCE_RECORD)?.u32()?;
    let end_of_logs = times.max().unwrap_or_default();
    // Only the events that bound a silence become points: the rest are counted.
    let mut groups: Vec<Group> = Vec::new();
    let mut previous: Option<(Option<&str>, Option<&str>, i64, usize)> = None;
    let point = |row: usize| Point {
        account: accounts.get(row).unwrap_or_default().to_owned(),
        region: regions.get(row).unwrap_or_default().to_owned(),
        time: times.get(row).unwrap_or_default(),
        evidence: Evidence {
            event_id: ids.get(row).map(str::to_owned),
            event_time: rfc3339(times.get(row).unwrap_or_default()),
            event_name: names.get(row).unwrap_or_default().to_owned(),
            source_file: files.get(row).unwrap_or_default().to_owned(),
            source_record: records.get(row).unwrap_or_default(),
        },
    };
    for row in order {
        let (account, region, Some(time)) = (accounts.get(row), regions.get(row), times.get(row))
        else {
            continue;
        };
        if account.is_none() || region.is_none() {
            continue;
        }
        match previous {
            Some((a, r, t, last_row)) if a == account && r == region => {
                if let Some(group) = groups.last_mut() {
                    group.events += 1;
                    group.last = time;
                    if time - t > MIN_GAP_US {
                        group.silences.push((point(last_row), point(row)));
                    }
                }
            }
            _ => {
                if let (Some(group), Some((_, _, _, last_row))) = (groups.last_mut(), previous) {
                    group.last_point = Some(point(last_row));
                }
                groups.push(Group {
                    events: 1,
                    first: time,
                    last: time,
                    silences: Vec::new(),
                    last_point: None,
                });
            }
        }
        previous = Some((account, region, time, row));
    }
    if let (Some(group), Some((_, _, _, last_row))) = (groups.last_mut(), previous) {
        group.last_point = Some(point(last_row));
    }
    Ok(rows(groups, end_of_logs, integrity))
}

/// The rows in the order the view walks them: by account, Region (a missing one first) and
/// time, equal ones in lake order. The rows are ordered by small integer keys (an account and
/// Region pair's rank among the few distinct pairs, then the time) rather than by sorting the
/// frame on its text columns, which moved every column of every event.
fn walk_order(
    accounts: &StringChunked,
    regions: &StringChunked,
    times: &Int64Chunked,
) -> Vec<usize> {
    let mut pairs: HashMap<(Option<&str>, Option<&str>), u32> = HashMap::new();
    let pair_of: Vec<u32> = accounts
        .iter()
        .zip(regions.iter())
        .map(|pair| {
            let next = pairs.len() as u32;
            *pairs.entry(pair).or_insert(next)
        })
        .collect();
    let mut ranked: Vec<((Option<&str>, Option<&str>), u32)> = pairs.into_iter().collect();
    ranked.sort_unstable();
    let mut rank = vec![0u32; ranked.len()];
    for (position, (_, pair)) in ranked.iter().enumerate() {
        rank[*pair as usize] = position as u32;
    }
    // A missing time sorts first (and is skipped by the walk).
    let mut keys: Vec<(u32, i64, u32)> = pair_of
        .iter()
        .zip(times.iter())
        .enumerate()
        .map(|(row, (pair, time))| (rank[*pair as usize], time.unwrap_or(i64::MIN), row as u32))
        .collect();
    keys.sort_unstable();
    keys.into_iter().map(|(_, _, row)| row as usize).collect()
}

/// One account and Region while the events are walked.
#[derive(Debug, Default)]
pub struct Group {
    /// Its events.
    pub events: i64,
    /// The first event (µs).
    pub first: i64,
    /// The last event (µs).
    pub last: i64,
    /// Consecutive events more than [`MIN_GAP_US`] apart.
    pub silences: Vec<(Point, Point)>,
    /// The last event.
    pub last_point: Option<Point>,
}

/// What digests say about one account and Region.
#[derive(Debug, Default)]
struct DigestView {
    segments: Vec<(i64, i64)>,
    /// `[oldestEventTime, newestEventTime]` of each listed log file.
    listed: Vec<(i64, i64)>,
}

impl DigestView {
    /// Whether the digests cover `start..end` and list no file with events inside it.
    fn covers(&self, start: i64, end: i64) -> bool {
        self.segments.iter().any(|(s, e)| *s <= start && end <= *e)
            && !self
                .listed
                .iter()
                .any(|(oldest, newest)| *oldest < end && *newest > start)
    }
}

fn digest_views(integrity: Option<&Integrity>) -> HashMap<(String, String), DigestView> {
    let mut out: HashMap<(String, String), DigestView> = HashMap::new();
    let Some(integrity) = integrity else {
        return out;
    };
    for CoverageSegment {
        account,
        region,
        start,
        end,
    } in integrity.coverage()
    {
        out.entry((account, region))
            .or_default()
            .segments
            .push((start, end));
    }
    for record in &integrity.digests {
        let Some(name) = record.name() else { continue };
        let view = out.entry((name.account, name.region)).or_default();
        for file in &record.digest.log_files {
            if let (Some(oldest), Some(newest)) = (file.oldest_event, file.newest_event) {
                view.listed.push((oldest, newest));
            }
        }
    }
    out
}

/// The view's rows from the groups (in account and Region order) and the end of the logs.
pub fn rows(
    groups: Vec<Group>,
    end_of_logs: i64,
    integrity: Option<&Integrity>,
) -> (ViewTable, Vec<(String, Evidence)>) {
    let digests = digest_views(integrity);
    let mut table = ViewTable {
        view: View::LogCoverage,
        rows: Vec::new(),
    };
    let mut evidence = Vec::new();
    for group in groups {
        let Some(last) = group.last_point else {
            continue;
        };
        let span = (group.last - group.first).max(DAY_US);
        let per = |micros: i64| -> i64 {
            i64::try_from(i128::from(group.events) * i128::from(micros) / i128::from(span))
                .unwrap_or(i64::MAX)
        };
        let digest = digests.get(&(last.account.clone(), last.region.clone()));
        let mut silences: Vec<(Point, Option<Point>)> = group
            .silences
            .into_iter()
            .map(|(a, b)| (a, Some(b)))
            .collect();
        if end_of_logs - last.time > MIN_GAP_US {
            silences.push((last, None));
        }
        for (before, after) in silences {
            let start = before.time;
            let end = after.as_ref().map_or(end_of_logs, |a| a.time);
            let mut keys = vec![before.evidence_key()];
            evidence.push((before.evidence_key(), before.evidence.clone()));
            if let Some(after) = &after {
                keys.push(after.evidence_key());
                evidence.push((after.evidence_key(), after.evidence.clone()));
            }
            table.rows.push(Row {
                cells: vec![
                    Cell::Text(format!(
                        "{}/{}@{}",
                        before.account,
                        before.region,
                        rfc3339(start)
                    )),
                    Cell::Text(before.account.clone()),
                    Cell::Text(before.region.clone()),
                    Cell::Text(if after.is_some() { BETWEEN } else { AFTER_LAST }.to_owned()),
                    Cell::Time(start),
                    Cell::Time(end),
                    Cell::Int((end - start) / HOUR_US),
                    Cell::Int(group.events),
                    Cell::Int(per(DAY_US)),
                    Cell::Int((group.last - group.first) / HOUR_US),
                    Cell::Int(per(end - start)),
                    Cell::text(before.evidence.event_id.as_deref()),
                    Cell::text(after.as_ref().and_then(|a| a.evidence.event_id.as_deref())),
                    Cell::Text(before.evidence.source_file.clone()),
                    Cell::text(after.as_ref().map(|a| a.evidence.source_file.as_str())),
                    Cell::bool(digest.map(|d| d.covers(start, end))),
                ],
                evidence: keys,
            });
        }
    }
    (table, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::dates::parse_event_time;
    use crate::trail::digest::{Digest, DigestRecord, ListedLogFile};

    fn at(text: &str) -> i64 {
        parse_event_time(text).expect("time").timestamp_micros()
    }

    fn point(time: &str, id: &str) -> Point {
        Point {
            account: "111122223333".into(),
            region: "us-east-1".into(),
            time: at(time),
            evidence: Evidence {
                event_id: Some(id.into()),
                event_time: time.into(),
                event_name: "Decrypt".into(),
                source_file: format!("/logs/{id}.json"),
                source_record: 0,
            },
        }
    }

    /// Hourly events for two days, then silence for 30 hours, then one more day.
    fn group() -> Group {
        let mut times: Vec<String> = Vec::new();
        for day in 1..=2 {
            for hour in 0..24 {
                times.push(format!("2026-01-0{day}T{hour:02}:10:00Z"));
            }
        }
        for hour in 6..24 {
            times.push(format!("2026-01-04T{hour:02}:10:00Z"));
        }
        let points: Vec<Point> = times
            .iter()
            .enumerate()
            .map(|(i, t)| point(t, &format!("e{i}")))
            .collect();
        let mut group = Group {
            events: points.len() as i64,
            first: points[0].time,
            last: points[points.len() - 1].time,
            ..Group::default()
        };
        for pair in points.windows(2) {
            if pair[1].time - pair[0].time > MIN_GAP_US {
                group.silences.push((pair[0].clone(), pair[1].clone()));
            }
        }
        group.last_point = points.last().cloned();
        group
    }

    fn value<'t>(table: &'t ViewTable, row: usize, column: &str) -> &'t Cell {
        table.get(row, column)
    }

    #[test]
    fn silences_are_rows_with_their_expected_events() {
        let (table, evidence) = rows(vec![group()], at("2026-01-04T23:10:00Z"), None);
        // Hourly events are exactly an hour apart: only the 31-hour silence is a row.
        assert_eq!(table.rows.len(), 1, "{:#?}", table.rows);
        let r = 0;
        assert_eq!(value(&table, r, HOURS), &Cell::Int(31));
        assert_eq!(value(&table, r, POSITION), &Cell::Text(BETWEEN.into()));
        assert_eq!(
            value(&table, r, GAP),
            &Cell::Text("111122223333/us-east-1@2026-01-02T23:10:00Z".into())
        );
        assert_eq!(value(&table, r, EVENT_BEFORE), &Cell::Text("e47".into()));
        assert_eq!(value(&table, r, EVENT_AFTER), &Cell::Text("e48".into()));
        // 66 events over 3 days 23 hours: 16 a day, 21 expected in 31 hours.
        assert_eq!(value(&table, r, EVENTS_PER_DAY), &Cell::Int(16));
        assert_eq!(value(&table, r, EXPECTED_EVENTS), &Cell::Int(21));
        assert_eq!(value(&table, r, DIGEST_COVERED), &Cell::Null);
        assert_eq!(table.rows[r].evidence, ["e47", "e48"]);
        assert!(evidence
            .iter()
            .any(|(k, e)| k == "e48" && e.source_file == "/logs/e48.json"));
    }

    #[test]
    fn a_silence_until_the_end_of_the_logs() {
        let (table, _) = rows(vec![group()], at("2026-01-06T23:10:00Z"), None);
        let last = table.rows.len() - 1;
        assert_eq!(
            value(&table, last, POSITION),
            &Cell::Text(AFTER_LAST.into())
        );
        assert_eq!(value(&table, last, HOURS), &Cell::Int(48));
        assert_eq!(value(&table, last, EVENT_AFTER), &Cell::Null);
        assert_eq!(table.rows[last].evidence.len(), 1);
    }

    fn digest(start: &str, end: &str, listed: Option<(&str, &str)>) -> DigestRecord {
        let stamp = end.replace(['-', ':'], "");
        let object = format!("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_{stamp}.json.gz");
        DigestRecord {
            digest: Digest {
                account: "111122223333".into(),
                start: at(start),
                end: at(end),
                object: object.clone(),
                previous_object: None,
                previous_hash: None,
                previous_hash_algorithm: None,
                log_files: listed
                    .map(|(oldest, newest)| ListedLogFile {
                        object: "AWSLogs/x.json.gz".into(),
                        hash: "00".into(),
                        algorithm: "SHA-256".into(),
                        oldest_event: Some(at(oldest)),
                        newest_event: Some(at(newest)),
                    })
                    .into_iter()
                    .collect(),
            },
            source: format!("/logs/{object}"),
            content_sha256: "00".into(),
        }
    }

    #[test]
    fn digests_tell_a_quiet_day_from_missing_logs() {
        let covered = |digests: Vec<DigestRecord>| {
            let integrity = Integrity {
                digests,
                problems: Vec::new(),
            };
            let (table, _) = rows(vec![group()], at("2026-01-04T23:10:00Z"), Some(&integrity));
            let r = (0..table.rows.len())
                .find(|r| matches!(value(&table, *r, HOURS), Cell::Int(31)))
                .expect("the long silence");
            value(&table, r, DIGEST_COVERED).clone()
        };
        // One digest per day, contiguous, listing only files of the events at hand.
        let quiet = vec![
            digest(
                "2026-01-02T00:00:00Z",
                "2026-01-03T00:00:00Z",
                Some(("2026-01-02T00:10:00Z", "2026-01-02T23:10:00Z")),
            ),
            digest("2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", None),
            digest(
                "2026-01-04T00:00:00Z",
                "2026-01-05T00:00:00Z",
                Some(("2026-01-04T06:10:00Z", "2026-01-04T23:10:00Z")),
            ),
        ];
        assert_eq!(covered(quiet.clone()), Cell::Bool(true));
        // A listed file holds events inside the silence: they are missing.
        let mut missing = quiet.clone();
        missing[1] = digest(
            "2026-01-03T00:00:00Z",
            "2026-01-04T00:00:00Z",
            Some(("2026-01-03T12:00:00Z", "2026-01-03T12:05:00Z")),
        );
        assert_eq!(covered(missing), Cell::Bool(false));
        // No digest for the middle day.
        let mut hole = quiet;
        hole.remove(1);
        assert_eq!(covered(hole), Cell::Bool(false));
    }
}
