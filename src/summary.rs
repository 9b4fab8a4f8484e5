//! What a set of events contains: the time window, accounts, regions, event sources, names,
//! error codes, principals and keys, computed with Polars over the lake's part files.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::schema::{
    AWS_REGION, ERROR_CODE, EVENT_NAME, EVENT_SOURCE, EVENT_TIME, KEY_ARN, PRINCIPAL,
    RECIPIENT_ACCOUNT_ID,
};

/// Column of the event count in grouped frames.
const EVENTS: &str = "events";

/// A value and how many events have it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    /// The value; `None` where the field is absent.
    pub value: Option<String>,
    /// Events with that value.
    pub events: u64,
}

/// The most frequent values of one column.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    /// Distinct values, absent included.
    pub distinct: u64,
    /// The most frequent values, most frequent first, ties by value.
    pub top: Vec<Count>,
}

/// The summary of the events in a lake.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventSummary {
    /// Events stored.
    pub events: u64,
    /// The earliest `eventTime`, RFC 3339.
    pub first_event: Option<String>,
    /// The latest `eventTime`, RFC 3339.
    pub last_event: Option<String>,
    /// By `recipientAccountId`.
    pub accounts: Breakdown,
    /// By `awsRegion`.
    pub regions: Breakdown,
    /// By `eventSource`.
    pub event_sources: Breakdown,
    /// By `eventName`.
    pub event_names: Breakdown,
    /// By `errorCode`, failed events only.
    pub error_codes: Breakdown,
    /// By principal (role for role sessions, user, service, account).
    pub principals: Breakdown,
    /// By KMS key ARN, events that act on a key only.
    pub keys: Breakdown,
}

/// Summarizes the events in `parts` (Parquet files of the lake at `lake`), keeping the
/// `top` most frequent values of each breakdown.
pub fn summarize(lake: &Path, parts: &[PathBuf], top: usize) -> Result<EventSummary> {
    if parts.is_empty() {
        return Ok(EventSummary::default());
    }
    let analysis = |source: PolarsError| Error::Analysis {
        path: lake.to_path_buf(),
        source,
    };
    let sources: Vec<PlRefPath> = parts
        .iter()
        .map(|p| PlRefPath::new(p.display().to_string()))
        .collect();
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(false),
            ..HiveOptions::default()
        },
        ..ScanArgsParquet::default()
    };
    let events =
        LazyFrame::scan_parquet_sources(ScanSources::Paths(sources.into_iter().collect()), args)
            .map_err(analysis)?;

    let window = events
        .clone()
        .select([
            len().alias(EVENTS),
            col(EVENT_TIME).min().cast(DataType::Int64).alias("first"),
            col(EVENT_TIME).max().cast(DataType::Int64).alias("last"),
        ])
        .collect()
        .map_err(analysis)?;
    let count = window
        .column(EVENTS)
        .and_then(|c| c.cast(&DataType::UInt64))
        .map_err(analysis)?;
    let first = window
        .column("first")
        .and_then(|c| c.i64().cloned())
        .map_err(analysis)?;
    let last = window
        .column("last")
        .and_then(|c| c.i64().cloned())
        .map_err(analysis)?;
    let breakdown = |column: &str, only_present: bool| {
        breakdown(&events, column, only_present, top).map_err(analysis)
    };
    Ok(EventSummary {
        events: count.u64().map_err(analysis)?.get(0).unwrap_or(0),
        first_event: first.get(0).and_then(rfc3339),
        last_event: last.get(0).and_then(rfc3339),
        accounts: breakdown(RECIPIENT_ACCOUNT_ID, false)?,
        regions: breakdown(AWS_REGION, false)?,
        event_sources: breakdown(EVENT_SOURCE, false)?,
        event_names: breakdown(EVENT_NAME, false)?,
        error_codes: breakdown(ERROR_CODE, true)?,
        principals: breakdown(PRINCIPAL, false)?,
        keys: breakdown(KEY_ARN, true)?,
    })
}

fn rfc3339(micros: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn breakdown(
    events: &LazyFrame,
    column: &str,
    only_present: bool,
    top: usize,
) -> PolarsResult<Breakdown> {
    let mut frame = events.clone().select([col(column)]);
    if only_present {
        frame = frame.filter(col(column).is_not_null());
    }
    let grouped = frame
        .group_by([col(column)])
        .agg([len().cast(DataType::UInt64).alias(EVENTS)])
        .collect()?;
    let values = grouped.column(column)?.str()?;
    let counts = grouped.column(EVENTS)?.u64()?;
    let mut all: Vec<Count> = values
        .iter()
        .zip(counts.iter())
        .map(|(value, events)| Count {
            value: value.map(str::to_owned),
            events: events.unwrap_or(0),
        })
        .collect();
    all.sort_by(|a, b| b.events.cmp(&a.events).then_with(|| a.value.cmp(&b.value)));
    let distinct = all.len() as u64;
    all.truncate(top);
    Ok(Breakdown { distinct, top: all })
}
