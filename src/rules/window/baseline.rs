//! `baseline` rules: per-entity behaviour learned from the trail itself, and the events that
//! depart from it. Every finding states the baseline and the observed value.
//!
//! ```yaml
//! baseline:
//!   entity: [principal, key_arn]   # whose behaviour is learned
//!   method: spike                  # spike | new-value
//!   learning-days: 30              # spike: the learned periods before the observed one;
//!                                  # new-value: nothing is new before the first event
//!                                  # the detection selects + learning-days
//!   min-history-days: 14           # the entity must have been seen this long before
//!   # spike
//!   period: 1h                     # events are counted per entity and period
//!   statistic: p95                 # mean | p95 | max of the learned periods
//!   factor: 10                     # observed > factor × statistic …
//!   min-events: 50                 # … and observed ≥ min-events
//!   # new-value
//!   value: sourceIPAddress         # the field whose values are learned
//!   bucket: network                # exact | network | hour-of-day | account
//!   report-window: 1d              # events of the new value kept as evidence
//!   learn-from: selection          # selection (first selected event) | trail (first event)
//!   near: 2                        # hour-of-day: hours this close to a known one are not new
//! ```

use std::collections::{HashMap, VecDeque};

use polars::prelude::*;

use crate::rules::error::{ErrorKind, EvalError, RuleError};
use crate::rules::eval::EvalOptions;
use crate::rules::finding::{rfc3339, Finding};
use crate::rules::model::{Field, Rule};
use crate::rules::window::{
    bucket_start, finding, group_column, select, show_duration, value_expr, Bucket, Events,
    Section, WindowBody, DAY_US, W_TIME,
};

/// Fields of the `baseline` section.
const FIELDS: &[&str] = &[
    "entity",
    "method",
    "learning-days",
    "min-history-days",
    "period",
    "statistic",
    "factor",
    "min-events",
    "value",
    "bucket",
    "report-window",
    "learn-from",
    "near",
];
/// Working column: the learned value.
const W_VALUE: &str = "__kms_audit_w_value";
/// Working column: the period bucket.
const W_PERIOD: &str = "__kms_audit_w_period";
/// Working column: events in a period.
const W_COUNT: &str = "__kms_audit_w_count";
/// Working column: first time of a pair or entity.
const W_FIRST: &str = "__kms_audit_w_first";
/// Working column: first time of an entity.
const W_ENTITY_FIRST: &str = "__kms_audit_w_entity_first";

/// The statistic a spike is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// Mean events per period over the learning window (empty periods count as 0).
    Mean,
    /// 95th percentile of the active learned periods.
    P95,
    /// Largest learned period.
    Max,
}

impl Statistic {
    fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::P95 => "p95",
            Self::Max => "max",
        }
    }
}

/// How a baseline rule decides.
#[derive(Debug, Clone)]
pub enum Method {
    /// Events per period well above the learned periods.
    Spike {
        /// Period length, µs.
        period: i64,
        /// The statistic of the learned periods.
        statistic: Statistic,
        /// Multiplier over the statistic.
        factor: f64,
        /// Smallest count flagged.
        min_events: f64,
    },
    /// A value the entity never had before.
    NewValue {
        /// The field learned.
        value: Field,
        /// How its values are bucketed.
        bucket: Bucket,
        /// Evidence kept after the first new event, µs.
        report_window: i64,
        /// Learning starts with the lake's first event (`true`) or the first selected one.
        from_trail: bool,
        /// `hour-of-day`: an hour at most this far (around the clock) from a known hour is
        /// not new.
        near: i64,
    },
}

/// A compiled `baseline` section.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The fields naming the entity.
    pub entity: Vec<Field>,
    /// Learning window, µs.
    pub learning: i64,
    /// History the entity needs, µs.
    pub min_history: i64,
    /// The method.
    pub method: Method,
}

/// Parses a `baseline` section.
pub fn parse(section: &Section<'_, '_>) -> Result<Baseline, RuleError> {
    section.only(FIELDS, "a baseline section")?;
    let entity = section
        .fields("entity")?
        .ok_or_else(|| section.error("entity", ErrorKind::Missing))?;
    let days = |key: &str, default: f64| -> Result<i64, RuleError> {
        let n = section.number(key)?.unwrap_or(default);
        if n < 0.0 {
            return Err(section.error(key, ErrorKind::Invalid(format!("{n} is negative"))));
        }
        Ok((n * DAY_US as f64) as i64)
    };
    let learning = days("learning-days", 30.0)?;
    let min_history = days("min-history-days", 7.0)?;
    let method_name = section
        .text("method")?
        .ok_or_else(|| section.error("method", ErrorKind::Missing))?;
    let spike_only = ["period", "statistic", "factor", "min-events"];
    let new_only = ["value", "bucket", "report-window", "learn-from", "near"];
    let method = match method_name.as_str() {
        "spike" => {
            if let Some(k) = new_only.iter().find(|k| section.map.contains_key(**k)) {
                return Err(section.error(
                    k,
                    ErrorKind::Invalid("applies to `method: new-value` only".to_owned()),
                ));
            }
            let period = section
                .duration("period")?
                .ok_or_else(|| section.error("period", ErrorKind::Missing))?;
            let statistic = match section.text("statistic")?.as_deref() {
                None | Some("p95") => Statistic::P95,
                Some("mean") => Statistic::Mean,
                Some("max") => Statistic::Max,
                Some(other) => {
                    return Err(section.error(
                        "statistic",
                        ErrorKind::NotOneOf {
                            value: other.to_owned(),
                            expected: "mean, p95, max".to_owned(),
                        },
                    ))
                }
            };
            Method::Spike {
                period,
                statistic,
                factor: section.required_number("factor")?,
                min_events: section.number("min-events")?.unwrap_or(1.0),
            }
        }
        "new-value" => {
            if let Some(k) = spike_only.iter().find(|k| section.map.contains_key(**k)) {
                return Err(section.error(
                    k,
                    ErrorKind::Invalid("applies to `method: spike` only".to_owned()),
                ));
            }
            let bucket = match section.text("bucket")? {
                None => Bucket::Exact,
                Some(name) => Bucket::from_name(&name).ok_or_else(|| {
                    section.error(
                        "bucket",
                        ErrorKind::NotOneOf {
                            value: name.clone(),
                            expected: Bucket::NAMES.to_owned(),
                        },
                    )
                })?,
            };
            let value = match section.fields("value")? {
                Some(mut fields) if fields.len() == 1 => fields.remove(0),
                Some(_) => {
                    return Err(section.error(
                        "value",
                        ErrorKind::Invalid("name exactly one field".to_owned()),
                    ))
                }
                None if bucket == Bucket::HourOfDay => Field::new("eventTime"),
                None => return Err(section.error("value", ErrorKind::Missing)),
            };
            let from_trail = match section.text("learn-from")?.as_deref() {
                None | Some("selection") => false,
                Some("trail") => true,
                Some(other) => {
                    return Err(section.error(
                        "learn-from",
                        ErrorKind::NotOneOf {
                            value: other.to_owned(),
                            expected: "selection, trail".to_owned(),
                        },
                    ))
                }
            };
            let near = section.number("near")?.unwrap_or(0.0);
            if near != 0.0 && bucket != Bucket::HourOfDay {
                return Err(section.error(
                    "near",
                    ErrorKind::Invalid("applies to `bucket: hour-of-day` only".to_owned()),
                ));
            }
            Method::NewValue {
                value,
                bucket,
                report_window: section.duration("report-window")?.unwrap_or(DAY_US),
                from_trail,
                near: near.max(0.0) as i64,
            }
        }
        other => {
            return Err(section.error(
                "method",
                ErrorKind::NotOneOf {
                    value: other.to_owned(),
                    expected: "spike, new-value".to_owned(),
                },
            ))
        }
    };
    Ok(Baseline {
        entity,
        learning,
        min_history,
        method,
    })
}

/// Evaluates a baseline rule over `events`: (findings, selected events). `lake_start` is the
/// earliest event time of the whole lake (`learn-from: trail`).
pub fn evaluate(
    rule: &Rule,
    body: &WindowBody,
    spec: &Baseline,
    events: &LazyFrame,
    lake_start: Option<i64>,
    options: &EvalOptions,
) -> Result<(Vec<Finding>, u64), EvalError> {
    let mut extra: Vec<Expr> = spec
        .entity
        .iter()
        .enumerate()
        .map(|(i, f)| {
            value_expr(f, Bucket::Exact)
                .fill_null(lit(""))
                .alias(group_column(i))
        })
        .collect();
    if let Method::NewValue { value, bucket, .. } = &spec.method {
        extra.push(value_expr(value, *bucket).alias(W_VALUE));
    }
    let mut frame = select(
        rule,
        std::slice::from_ref(&body.detection),
        events.clone(),
        extra,
    );
    if matches!(spec.method, Method::NewValue { .. }) {
        frame = frame.filter(col(W_VALUE).is_not_null());
    }
    let selected = Events::collect(frame)?;
    let matched = selected.len() as u64;
    if selected.is_empty() {
        return Ok((Vec::new(), matched));
    }
    let findings = match &spec.method {
        Method::NewValue {
            value,
            report_window,
            from_trail,
            near,
            ..
        } => {
            // By default learning starts with the first event the rule selects: a trail whose
            // first records are years-old key set-up does not end the learning window early.
            let start = if *from_trail {
                lake_start
            } else {
                selected.times.first().copied()
            };
            let learned = Learned {
                value,
                report_window: *report_window,
                start: start.unwrap_or_default(),
                near: *near,
            };
            new_values(rule, spec, &selected, &learned, options)?
        }
        Method::Spike {
            period,
            statistic,
            factor,
            min_events,
        } => spikes(
            rule,
            spec,
            &selected,
            *period,
            *statistic,
            *factor,
            *min_events,
            options,
        )?,
    };
    Ok((findings, matched))
}

fn entity_words(spec: &Baseline, key: &[Option<String>]) -> String {
    spec.entity
        .iter()
        .zip(key)
        .map(|(f, v)| format!("{} {}", f.path, v.as_deref().unwrap_or("(none)")))
        .collect::<Vec<_>>()
        .join(", ")
}

fn days(us: i64) -> String {
    format!("{:.0}", us as f64 / DAY_US as f64)
}

/// How a new-value baseline learns.
struct Learned<'a> {
    value: &'a Field,
    report_window: i64,
    start: i64,
    near: i64,
}

/// Whether `value` is new among `seen`: absent, and (for hours with `near`) no known hour
/// within `near` around the clock.
fn is_new(value: &str, seen: &[&str], near: i64) -> bool {
    if seen.contains(&value) {
        return false;
    }
    let Ok(hour) = value.parse::<i64>() else {
        return true;
    };
    near == 0
        || !seen.iter().filter_map(|s| s.parse::<i64>().ok()).any(|h| {
            let d = (hour - h).rem_euclid(24);
            d.min(24 - d) <= near
        })
}

fn new_values(
    rule: &Rule,
    spec: &Baseline,
    selected: &Events,
    learned: &Learned<'_>,
    options: &EvalOptions,
) -> Result<Vec<Finding>, EvalError> {
    let (value, report_window, learning_start) =
        (learned.value, learned.report_window, learned.start);
    let entity: Vec<Expr> = (0..spec.entity.len())
        .map(|i| col(group_column(i)))
        .collect();
    let mut pair_keys = entity.clone();
    pair_keys.push(col(W_VALUE));
    let frame = selected.frame.clone().lazy();
    let pairs = frame
        .clone()
        .group_by(pair_keys)
        .agg([col(W_TIME).min().alias(W_FIRST)]);
    let entities = frame
        .group_by(entity.clone())
        .agg([col(W_TIME).min().alias(W_ENTITY_FIRST)]);
    let joined = pairs
        .join(
            entities,
            entity.clone(),
            entity,
            JoinArgs::new(JoinType::Left),
        )
        .sort([W_FIRST], SortMultipleOptions::default())
        .collect()?;
    let table = Events {
        times: joined
            .column(W_FIRST)?
            .i64()?
            .iter()
            .map(Option::unwrap_or_default)
            .collect(),
        frame: joined.clone(),
    };
    let keys = table.keys(spec.entity.len())?;
    let values = table.text(W_VALUE)?;
    let entity_first: Vec<i64> = joined
        .column(W_ENTITY_FIRST)?
        .i64()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect();

    // The rows of each (entity, value) pair, indexed when a first value is flagged.
    let mut row_keys: Vec<Vec<Option<String>>> = Vec::new();
    let mut row_values: Vec<Option<String>> = Vec::new();
    let mut indexed = false;
    let mut known: HashMap<&Vec<Option<String>>, Vec<&str>> = HashMap::new();
    let mut findings = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let Some(v) = values[i].as_deref() else {
            continue;
        };
        let first = table.times[i];
        let history = first - entity_first[i];
        let seen = known.entry(key).or_default();
        let flagged = first >= learning_start + spec.learning
            && history >= spec.min_history
            && is_new(v, seen, learned.near);
        if flagged {
            if !indexed {
                row_keys = selected.keys(spec.entity.len())?;
                row_values = selected.text(W_VALUE)?;
                indexed = true;
            }
            let rows: Vec<usize> = (0..selected.len())
                .filter(|r| {
                    &row_keys[*r] == key
                        && row_values[*r].as_deref() == Some(v)
                        && (first..=first + report_window).contains(&selected.times[*r])
                })
                .collect();
            let shown: Vec<&str> = seen.iter().take(8).copied().collect();
            let more = if seen.len() > shown.len() {
                ", …"
            } else {
                ""
            };
            let detail = format!(
                "observed: {} `{v}` first seen at {} for {}; baseline: {} known value(s) of {} over {} days of history ({}{more})",
                value.path,
                rfc3339(first),
                entity_words(spec, key),
                seen.len(),
                value.path,
                days(history),
                shown.join(", "),
            );
            findings.extend(finding(rule, selected, &rows, detail, options)?);
        }
        seen.push(v);
    }
    Ok(findings)
}

#[allow(clippy::too_many_arguments)]
fn spikes(
    rule: &Rule,
    spec: &Baseline,
    selected: &Events,
    period: i64,
    statistic: Statistic,
    factor: f64,
    min_events: f64,
    options: &EvalOptions,
) -> Result<Vec<Finding>, EvalError> {
    let mut by: Vec<Expr> = (0..spec.entity.len())
        .map(|i| col(group_column(i)))
        .collect();
    by.push(col(W_PERIOD));
    let mut order: Vec<String> = (0..spec.entity.len()).map(group_column).collect();
    order.push(W_PERIOD.to_owned());
    let counts = selected
        .frame
        .clone()
        .lazy()
        .with_column(bucket_start(col(W_TIME), period).alias(W_PERIOD))
        .group_by(by)
        .agg([len().cast(DataType::Int64).alias(W_COUNT)])
        .sort(order, SortMultipleOptions::default())
        .collect()?;
    let table = Events {
        times: counts
            .column(W_PERIOD)?
            .i64()?
            .iter()
            .map(Option::unwrap_or_default)
            .collect(),
        frame: counts.clone(),
    };
    let keys = table.keys(spec.entity.len())?;
    let numbers: Vec<i64> = counts
        .column(W_COUNT)?
        .i64()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect();
    // The rows of each entity, indexed when a first spike is found.
    let mut row_keys: Vec<Vec<Option<String>>> = Vec::new();
    let mut indexed = false;

    let mut findings = Vec::new();
    let mut entity_first: HashMap<&Vec<Option<String>>, i64> = HashMap::new();
    let mut learned: HashMap<&Vec<Option<String>>, VecDeque<(i64, i64)>> = HashMap::new();
    for (i, key) in keys.iter().enumerate() {
        let start = table.times[i];
        let count = numbers[i];
        let first = *entity_first.entry(key).or_insert(start);
        let window = learned.entry(key).or_default();
        while window
            .front()
            .is_some_and(|(b, _)| *b < start - spec.learning)
        {
            window.pop_front();
        }
        let history = start - first;
        if history >= spec.min_history && count as f64 >= min_events && !window.is_empty() {
            let active: Vec<i64> = window.iter().map(|(_, c)| *c).collect();
            let span = spec.learning.min(history).max(period);
            let periods = (span / period).max(1) as f64;
            let mean = active.iter().sum::<i64>() as f64 / periods;
            let mut sorted = active.clone();
            sorted.sort_unstable();
            let p95 = sorted[((sorted.len() as f64 * 0.95).ceil() as usize)
                .saturating_sub(1)
                .min(sorted.len() - 1)] as f64;
            let max = sorted.last().copied().unwrap_or_default() as f64;
            let base = match statistic {
                Statistic::Mean => mean,
                Statistic::P95 => p95,
                Statistic::Max => max,
            };
            if count as f64 > factor * base {
                if !indexed {
                    row_keys = selected.keys(spec.entity.len())?;
                    indexed = true;
                }
                // The entity's rows in the period (the rows are in time order).
                let from = selected.times.partition_point(|t| *t < start);
                let to = selected.times.partition_point(|t| *t < start + period);
                let rows: Vec<usize> = (from..to).filter(|r| &row_keys[*r] == key).collect();
                let detail = format!(
                    "observed {count} events in the {} from {} for {}; baseline over the previous {} days ({} active periods): {} {base:.1} per {} (mean {mean:.2}, p95 {p95:.0}, max {max:.0}); flagged above {factor}× the {} and at least {min_events} events",
                    show_duration(period),
                    rfc3339(start),
                    entity_words(spec, key),
                    days(span),
                    active.len(),
                    statistic.name(),
                    show_duration(period),
                    statistic.name(),
                );
                findings.extend(finding(rule, selected, &rows, detail, options)?);
            }
        }
        window.push_back((start, count));
    }
    Ok(findings)
}
