//! Evaluates match rules over the event table (the lake's Parquet parts, scanned lazily)
//! and turns the matching events into findings.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use polars::prelude::*;

use crate::ingest::schema::{
    EVENT_ID, EVENT_NAME, EVENT_TIME, PRINCIPAL, SOURCE_FILE, SOURCE_RECORD,
};
use crate::rules::error::EvalError;
use crate::rules::fields::{json_values, FieldSource};
use crate::rules::finding::{
    rfc3339, sort_findings, Evidence, Finding, FindingBuilder, Hit, DEFAULT_MAX_EVIDENCE,
};
use crate::rules::model::{Field, Kind, Rule};
use crate::rules::plan::{rule_column, MatchPlan};
use crate::rules::views::inventory::Inventory;
use crate::rules::window::SharedRead;

/// How to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Evidence events kept per finding.
    pub max_evidence: usize,
    /// A key inventory snapshot for the `state` rules' views (`scan --inventory`).
    pub inventory: Option<Arc<Inventory>>,
    /// The lake's integrity side tables (CloudTrail digests and what validating them found),
    /// for the `log_integrity` and `log_coverage` views.
    pub integrity: Option<Arc<crate::ingest::integrity::Integrity>>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            max_evidence: DEFAULT_MAX_EVIDENCE,
            inventory: None,
            integrity: None,
        }
    }
}

/// What evaluating a set of rules found.
#[derive(Debug, Clone, Default)]
pub struct MatchOutcome {
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
    /// Per rule evaluated (in the order given): its id and how many events matched.
    pub matched: Vec<(String, u64)>,
}

/// The columns the match evaluation keeps for a finding (besides the rules' resources).
const MATCH_COLUMNS: [&str; 6] = [
    EVENT_TIME,
    SOURCE_RECORD,
    EVENT_ID,
    EVENT_NAME,
    SOURCE_FILE,
    PRINCIPAL,
];

/// A lazy scan of the lake's part files (`Lake::part_paths`).
pub fn scan_parts(parts: &[PathBuf]) -> PolarsResult<LazyFrame> {
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
    LazyFrame::scan_parquet_sources(ScanSources::Paths(sources.into_iter().collect()), args)
}

/// Evaluates the match rules among `rules` over `events` in one pass, and the window rules
/// (`threshold`, `baseline`, `correlation`: [`crate::rules::window`]) each as its own
/// group-by.
pub fn evaluate(
    rules: &[&Rule],
    events: LazyFrame,
    options: &EvalOptions,
) -> Result<MatchOutcome, EvalError> {
    // The state rules' views read the lake on a thread of their own, beside the window and
    // match rules, which share one read of it.
    let (windowed, state) = std::thread::scope(|scope| {
        let state = scope.spawn(|| crate::rules::state::evaluate(rules, &events, options));
        let windowed = (|| -> Result<_, EvalError> {
            let mut shared = SharedRead::new(rules, &events, &MATCH_COLUMNS)?;
            let windowed =
                crate::rules::window::evaluate(rules, &events, shared.as_ref(), options)?;
            if let Some(shared) = shared.as_mut() {
                shared.release_window();
            }
            Ok((windowed, shared))
        })();
        let state = state
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (windowed, state)
    });
    let (mut windowed, shared) = windowed?;
    let mut state = state?;
    windowed.findings.append(&mut state.findings);
    windowed.matched.append(&mut state.matched);
    let rules: Vec<&Rule> = rules
        .iter()
        .copied()
        .filter(|r| r.kind == Kind::Match)
        .collect();
    if rules.is_empty() {
        sort_findings(&mut windowed.findings);
        return Ok(windowed);
    }
    let plan = MatchPlan::new(&rules);

    // The columns a finding needs, and those naming each rule's resource.
    let mut resource_columns: BTreeSet<&'static str> = BTreeSet::new();
    for rule in &rules {
        resource_columns.extend(rule.resource.iter().filter_map(|f| f.source.column()));
    }
    let base = [EVENT_ID, EVENT_NAME, SOURCE_FILE, PRINCIPAL];
    debug_assert!(base.iter().all(|c| MATCH_COLUMNS.contains(c)));
    let mut keep: Vec<Expr> = vec![
        col(EVENT_TIME).cast(DataType::Int64),
        col(SOURCE_RECORD).cast(DataType::UInt32),
    ];
    keep.extend(base.iter().map(|c| col(*c).cast(DataType::String)));
    keep.extend(
        resource_columns
            .iter()
            .filter(|c| !base.contains(c))
            .map(|c| col(*c).cast(DataType::String)),
    );

    let input = match shared {
        Some(shared) if shared.matches => shared.frame.lazy(),
        _ => events,
    };
    let frame = plan.apply(input, keep).collect()?;
    let text = |name: &str| -> PolarsResult<Vec<Option<&str>>> {
        Ok(frame.column(name)?.str()?.iter().collect())
    };
    let times: Vec<Option<i64>> = frame.column(EVENT_TIME)?.i64()?.iter().collect();
    let records: Vec<Option<u32>> = frame.column(SOURCE_RECORD)?.u32()?.iter().collect();
    let ids = text(EVENT_ID)?;
    let names = text(EVENT_NAME)?;
    let files = text(SOURCE_FILE)?;
    let principals = text(PRINCIPAL)?;
    let mut resource_values = std::collections::HashMap::new();
    for column in &resource_columns {
        resource_values.insert(*column, text(column)?);
    }

    let mut outcome = MatchOutcome::default();
    for (index, rule) in rules.iter().enumerate() {
        let hits: Vec<Option<bool>> = frame.column(&rule_column(index))?.bool()?.iter().collect();
        let mut builder = FindingBuilder::new(options.max_evidence);
        let mut matched = 0u64;
        for (row, hit) in hits.iter().enumerate() {
            if *hit != Some(true) {
                continue;
            }
            matched += 1;
            let time_us = times[row].unwrap_or_default();
            builder.add(Hit {
                resource: resource_of(&rule.resource, &resource_values, row),
                principal: principals[row].map(str::to_owned),
                time_us,
                evidence: Evidence {
                    event_id: ids[row].map(str::to_owned),
                    event_time: rfc3339(time_us),
                    event_name: names[row].unwrap_or_default().to_owned(),
                    source_file: files[row].unwrap_or_default().to_owned(),
                    source_record: records[row].unwrap_or_default(),
                },
            });
        }
        outcome.findings.extend(builder.finish(rule));
        outcome.matched.push((rule.id.clone(), matched));
    }
    outcome.findings.append(&mut windowed.findings);
    outcome.matched.append(&mut windowed.matched);
    sort_findings(&mut outcome.findings);
    Ok(outcome)
}

/// The first value of the first resource field that has one.
fn resource_of(
    fields: &[Field],
    columns: &std::collections::HashMap<&'static str, Vec<Option<&str>>>,
    row: usize,
) -> Option<String> {
    let mut values: Vec<Cow<'_, str>> = Vec::new();
    for field in fields {
        let Some(text) = field
            .source
            .column()
            .and_then(|c| columns.get(c))
            .and_then(|rows| rows[row])
        else {
            continue;
        };
        values.clear();
        match &field.source {
            FieldSource::Json { path, .. } => json_values(text, path, &mut values),
            _ => values.push(Cow::Borrowed(text)),
        }
        if let Some(first) = values.iter().find(|v| !v.is_empty()) {
            return Some(first.clone().into_owned());
        }
    }
    None
}
