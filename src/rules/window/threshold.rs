//! `threshold` rules: the events a detection selects, grouped by fields and counted over a
//! sliding window; a group whose count (or count of distinct values of a field) satisfies
//! `having` is a finding.
//!
//! ```yaml
//! threshold:
//!   group-by: [principal]          # fields; the finding is per group
//!   window: 10m                    # s, m, h, d
//!   having:                        # every condition must hold in one window
//!     events: { gte: '%min_events%' }
//!     distinct:
//!       key_ref: { gte: 3 }
//!   foreign-account: [key_arn]     # optional: only events whose field names an account
//!                                  # whose trail is not in the lake
//! ```
//!
//! The window slides: groups are counted over windows of the given length hopping by half
//! of it (two lazy group-bys), so every burst no longer than half the window is seen whole.

use std::collections::{BTreeSet, HashMap};

use polars::prelude::*;
use serde_yaml_ng::Value;

use crate::rules::error::{ErrorKind, EvalError, RuleError};
use crate::rules::eval::EvalOptions;
use crate::rules::finding::Finding;
use crate::rules::model::{Field, Rule};
use crate::rules::window::keys::RuleKeys;
use crate::rules::window::{
    bucket_start, finding, foreign_expr, group_column, merge_intervals, select, show_duration,
    value_expr, Bucket, Comparison, Events, Section, WindowBody, W_TIME,
};

/// Fields of the `threshold` section.
const FIELDS: &[&str] = &["group-by", "window", "having", "foreign-account"];
/// Fields of `having`.
const HAVING_FIELDS: &[&str] = &["events", "distinct"];
/// Working column: the distinct-counted field `j`.
fn distinct_column(j: usize) -> String {
    format!("__kms_audit_w_d{j}")
}
/// Working column: whether the event names a foreign account.
const W_FOREIGN: &str = "__kms_audit_w_foreign";
/// Working column: the window bucket (its start, less the offset).
const W_BUCKET: &str = "__kms_audit_w_bucket";
/// Working column: events in a window.
const W_COUNT: &str = "__kms_audit_w_count";
/// Working column: first event of a window.
const W_START: &str = "__kms_audit_w_start";
/// Working column: last event of a window.
const W_END: &str = "__kms_audit_w_end";

/// A compiled `threshold` section.
#[derive(Debug, Clone)]
pub struct Threshold {
    /// Fields grouped by.
    pub group_by: Vec<Field>,
    /// Window length, µs.
    pub window: i64,
    /// Condition on the number of events.
    pub events: Option<Comparison>,
    /// Conditions on numbers of distinct values.
    pub distinct: Vec<(Field, Comparison)>,
    /// Fields whose account must be outside the trail's accounts (empty: no such filter).
    pub foreign: Vec<Field>,
    /// Further conditions on the number of events, all of which must hold (a Sigma
    /// correlation's range, `gt: 100, lte: 200`); empty for kms-audit rules.
    pub more_events: Vec<Comparison>,
    /// The rules a Sigma correlation counts and the group-by field of each rule's events
    /// ([`RuleKeys`]); the rule's detection is then unused and `group_by` only names the
    /// columns. `None` for kms-audit rules.
    pub keys: Option<RuleKeys>,
}

/// Parses a `threshold` section.
pub fn parse(section: &Section<'_, '_>) -> Result<Threshold, RuleError> {
    section.only(FIELDS, "a threshold section")?;
    let group_by = section
        .fields("group-by")?
        .ok_or_else(|| section.error("group-by", ErrorKind::Missing))?;
    let window = section
        .duration("window")?
        .ok_or_else(|| section.error("window", ErrorKind::Missing))?;
    let foreign = section.fields("foreign-account")?.unwrap_or_default();
    let at = section.at.key("having");
    let Some(having) = section.map.get("having") else {
        return Err(section.error("having", ErrorKind::Missing));
    };
    let Value::Mapping(having) = having else {
        return Err(section.error(
            "having",
            ErrorKind::WrongType {
                expected: "a mapping with `events` and/or `distinct`",
                found: crate::rules::yaml::type_name(having),
            },
        ));
    };
    let inner = Section {
        map: having,
        at: at.clone(),
        params: section.params,
        ctx: section.ctx,
    };
    inner.only(HAVING_FIELDS, "a having condition")?;
    let events = match having.get("events") {
        Some(v) => Some(inner.comparison(v, &at.key("events"))?),
        None => None,
    };
    let mut distinct = Vec::new();
    if let Some(value) = having.get("distinct") {
        let Value::Mapping(map) = value else {
            return Err(inner.error(
                "distinct",
                ErrorKind::WrongType {
                    expected: "a mapping of field names to comparisons",
                    found: crate::rules::yaml::type_name(value),
                },
            ));
        };
        for (key, cmp) in map {
            let name = key.as_str().unwrap_or_default();
            let path = at.key("distinct").key(name);
            let field = Field::new(name);
            if matches!(field.source, crate::rules::fields::FieldSource::Absent(_)) {
                return Err(section.ctx.error(
                    &path,
                    ErrorKind::Invalid(format!("`{name}` is not a field the lake keeps")),
                ));
            }
            distinct.push((field, inner.comparison(cmp, &path)?));
        }
    }
    if events.is_none() && distinct.is_empty() {
        return Err(section.error(
            "having",
            ErrorKind::Invalid("state `events`, `distinct` or both".to_owned()),
        ));
    }
    Ok(Threshold {
        group_by,
        window,
        events,
        distinct,
        foreign,
        more_events: Vec::new(),
        keys: None,
    })
}

/// Evaluates a threshold rule: (findings, selected events).
pub fn evaluate(
    rule: &Rule,
    body: &WindowBody,
    spec: &Threshold,
    events: &LazyFrame,
    trail: &BTreeSet<String>,
    options: &EvalOptions,
) -> Result<(Vec<Finding>, u64), EvalError> {
    let mut extra = Vec::new();
    if spec.keys.is_none() {
        for (i, field) in spec.group_by.iter().enumerate() {
            extra.push(value_expr(field, Bucket::Exact).alias(group_column(i)));
        }
    }
    for (j, (field, _)) in spec.distinct.iter().enumerate() {
        extra.push(value_expr(field, Bucket::Exact).alias(distinct_column(j)));
    }
    let foreign = !spec.foreign.is_empty();
    if foreign {
        extra.push(foreign_expr(&spec.foreign, trail).alias(W_FOREIGN));
    }
    let mut frame = match &spec.keys {
        Some(keys) => keys.select(rule, events.clone(), extra),
        None => select(
            rule,
            std::slice::from_ref(&body.detection),
            events.clone(),
            extra,
        ),
    };
    if foreign {
        frame = frame.filter(col(W_FOREIGN));
    }
    let selected = Events::collect(frame)?;
    let matched = selected.len() as u64;
    if selected.is_empty() {
        return Ok((Vec::new(), matched));
    }

    let keys: Vec<Expr> = (0..spec.group_by.len())
        .map(|i| col(group_column(i)))
        .collect();
    let mut aggs = vec![
        len().alias(W_COUNT),
        col(W_TIME).min().alias(W_START),
        col(W_TIME).max().alias(W_END),
    ];
    let mut having: Vec<Expr> = Vec::new();
    for cmp in spec.events.iter().chain(&spec.more_events) {
        having.push(cmp.expr(col(W_COUNT)));
    }
    for (j, (_, cmp)) in spec.distinct.iter().enumerate() {
        let name = distinct_column(j);
        aggs.push(
            col(name.as_str())
                .drop_nulls()
                .n_unique()
                .alias(name.as_str()),
        );
        having.push(cmp.expr(col(name.as_str())));
    }
    let having = having.into_iter().reduce(Expr::and).unwrap_or(lit(true));
    let half = (spec.window / 2).max(1);
    let mut windows: Vec<LazyFrame> = Vec::new();
    for offset in [0, half] {
        let mut by = keys.clone();
        by.push(col(W_BUCKET));
        windows.push(
            selected
                .frame
                .clone()
                .lazy()
                .with_column(bucket_start(col(W_TIME) - lit(offset), spec.window).alias(W_BUCKET))
                .group_by(by)
                .agg(aggs.clone())
                .filter(having.clone()),
        );
    }
    let flagged = concat(windows, UnionArgs::default())?.collect()?;
    if flagged.height() == 0 {
        return Ok((Vec::new(), matched));
    }
    let flagged_keys = Events {
        times: vec![0; flagged.height()],
        frame: flagged.clone(),
    }
    .keys(spec.group_by.len())?;
    let starts: Vec<i64> = flagged.column(W_START)?.i64()?.iter().flatten().collect();
    let ends: Vec<i64> = flagged.column(W_END)?.i64()?.iter().flatten().collect();
    let mut per_group: HashMap<Vec<Option<String>>, Vec<(i64, i64)>> = HashMap::new();
    for ((key, start), end) in flagged_keys.into_iter().zip(starts).zip(ends) {
        per_group.entry(key).or_default().push((start, end));
    }

    let row_keys = selected.keys(spec.group_by.len())?;
    let mut rows_of: HashMap<&Vec<Option<String>>, Vec<usize>> = HashMap::new();
    for (row, key) in row_keys.iter().enumerate() {
        rows_of.entry(key).or_default().push(row);
    }
    let distinct_values: Vec<Vec<Option<String>>> = (0..spec.distinct.len())
        .map(|j| selected.text(&distinct_column(j)))
        .collect::<Result<_, _>>()?;
    let mut findings = Vec::new();
    let mut groups: Vec<_> = per_group.into_iter().collect();
    groups.sort();
    for (key, intervals) in groups {
        let Some(rows) = rows_of.get(&key) else {
            continue;
        };
        for (start, end) in merge_intervals(intervals, 0) {
            let in_window: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|r| (start..=end).contains(&selected.times[*r]))
                .collect();
            let mut observed = vec![format!("{} events", in_window.len())];
            for (j, (field, _)) in spec.distinct.iter().enumerate() {
                let n: BTreeSet<&String> = in_window
                    .iter()
                    .filter_map(|r| distinct_values[j][*r].as_ref())
                    .collect();
                observed.push(format!("{} distinct {}", n.len(), field.path));
            }
            let mut wanted = Vec::new();
            for cmp in spec.events.iter().chain(&spec.more_events) {
                wanted.push(format!("events {cmp}"));
            }
            for (field, cmp) in &spec.distinct {
                wanted.push(format!("distinct {} {cmp}", field.path));
            }
            let group: Vec<String> = spec
                .group_by
                .iter()
                .zip(&key)
                .map(|(f, v)| format!("{}={}", f.path, v.as_deref().unwrap_or("(none)")))
                .collect();
            let detail = format!(
                "observed {} for {} within a {} window; threshold: {}",
                observed.join(", "),
                group.join(", "),
                show_duration(spec.window),
                wanted.join(", ")
            );
            findings.extend(finding(rule, &selected, &in_window, detail, options)?);
        }
    }
    Ok((findings, matched))
}
