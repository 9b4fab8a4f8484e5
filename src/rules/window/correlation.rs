//! `correlation` rules: events of one selection followed by events of another within a
//! window, per group — the shape of an attack told by its order (Decrypts, then ReEncrypt to
//! a key of a foreign account).
//!
//! ```yaml
//! detection:                       # named selections; `condition` selects every event used
//!   decrypt: { eventName: Decrypt }
//!   reencrypt: { eventName: [ReEncrypt, Encrypt] }
//!   condition: decrypt or reencrypt
//! correlation:
//!   type: followed-by
//!   first: decrypt                 # a condition over the selections
//!   then: reencrypt                # a condition over the selections
//!   group-by: [principal]
//!   window: 1h                     # `first` events at most this long before a `then` event
//!   min-first: 1                   # `first` events needed (0: optional, reported if present)
//!   min-then: 1                    # `then` events needed in an episode
//!   foreign-account: [key_arn]     # optional, on `then` events: the field names an account
//!                                  # whose trail is not in the lake
//! ```

use std::collections::{BTreeSet, HashMap};

use polars::prelude::*;
use serde_yaml_ng::Value;

use crate::rules::error::{ErrorKind, EvalError, RuleError};
use crate::rules::eval::EvalOptions;
use crate::rules::finding::Finding;
use crate::rules::model::{Field, Rule};
use crate::rules::plan::rule_column;
use crate::rules::sigma::{self, Detection};
use crate::rules::window::{
    finding, foreign_where, group_column, merge_intervals, select, show_duration, value_expr,
    Bucket, Events, Section, WindowBody,
};
use crate::rules::yaml::{Context, FieldPath};

/// Fields of the `correlation` section.
const FIELDS: &[&str] = &[
    "type",
    "first",
    "then",
    "group-by",
    "window",
    "min-first",
    "min-then",
    "foreign-account",
];
/// Working column: whether the event names a foreign account.
const W_FOREIGN: &str = "__kms_audit_w_foreign";

/// A compiled `correlation` section.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// The events that come first.
    pub first: Detection,
    /// The events that follow.
    pub then: Detection,
    /// The conditions as written.
    pub names: (String, String),
    /// Fields grouped by.
    pub group_by: Vec<Field>,
    /// Longest gap from a `first` event to the `then` event, µs.
    pub window: i64,
    /// `first` events needed before a `then` event.
    pub min_first: usize,
    /// `then` events needed in an episode.
    pub min_then: usize,
    /// Fields of `then` events whose account must be outside the trail's accounts.
    pub foreign: Vec<Field>,
}

/// Parses a `correlation` section; `detection` is the rule's detection, whose selections
/// `first` and `then` combine.
pub fn parse(
    section: &Section<'_, '_>,
    detection: &Value,
    mut ctx: Context<'_>,
) -> Result<Correlation, RuleError> {
    section.only(FIELDS, "a correlation section")?;
    match section.text("type")?.as_deref() {
        None => return Err(section.error("type", ErrorKind::Missing)),
        Some("followed-by") => {}
        Some(other) => {
            return Err(section.error(
                "type",
                ErrorKind::NotOneOf {
                    value: other.to_owned(),
                    expected: "followed-by".to_owned(),
                },
            ))
        }
    }
    let mut compile_part = |key: &str| -> Result<(Detection, String), RuleError> {
        let text = section
            .text(key)?
            .ok_or_else(|| section.error(key, ErrorKind::Missing))?;
        let Value::Mapping(map) = detection else {
            return Err(section.error(
                key,
                ErrorKind::Invalid("the rule's detection is not a mapping".to_owned()),
            ));
        };
        let mut map = map.clone();
        map.insert(Value::from("condition"), Value::from(text.clone()));
        let compiled = sigma::compile(
            &Value::Mapping(map),
            &FieldPath::root().key("detection"),
            section.params,
            &mut ctx,
        )
        .map_err(|err| {
            section.error(key, ErrorKind::Condition(format!("`{text}`: {}", err.kind)))
        })?;
        Ok((compiled, text))
    };
    let (first, first_name) = compile_part("first")?;
    let (then, then_name) = compile_part("then")?;
    let group_by = section
        .fields("group-by")?
        .ok_or_else(|| section.error("group-by", ErrorKind::Missing))?;
    let window = section
        .duration("window")?
        .ok_or_else(|| section.error("window", ErrorKind::Missing))?;
    let count = |key: &str, default: usize| -> Result<usize, RuleError> {
        Ok(section
            .number(key)?
            .map_or(default, |n| n.max(0.0) as usize))
    };
    Ok(Correlation {
        first,
        then,
        names: (first_name, then_name),
        group_by,
        window,
        min_first: count("min-first", 1)?,
        min_then: count("min-then", 1)?.max(1),
        foreign: section.fields("foreign-account")?.unwrap_or_default(),
    })
}

/// Evaluates a correlation rule: (findings, selected events).
pub fn evaluate(
    rule: &Rule,
    _body: &WindowBody,
    spec: &Correlation,
    events: &LazyFrame,
    trail: &BTreeSet<String>,
    options: &EvalOptions,
) -> Result<(Vec<Finding>, u64), EvalError> {
    let mut extra: Vec<Expr> = spec
        .group_by
        .iter()
        .enumerate()
        .map(|(i, f)| value_expr(f, Bucket::Exact).alias(group_column(i)))
        .collect();
    let foreign = !spec.foreign.is_empty();
    if foreign {
        // Only `then` events need it (and the JSON of a field inside one is parsed there).
        extra.push(foreign_where(&spec.foreign, trail, col(rule_column(1))).alias(W_FOREIGN));
    }
    let mut frame = select(
        rule,
        &[spec.first.clone(), spec.then.clone()],
        events.clone(),
        extra,
    );
    if foreign {
        frame = frame.with_column(
            col(rule_column(1))
                .and(col(W_FOREIGN))
                .alias(rule_column(1)),
        );
    }
    let frame = frame.filter(col(rule_column(0)).or(col(rule_column(1))));
    let selected = Events::collect(frame)?;
    let matched = selected.len() as u64;
    if selected.is_empty() {
        return Ok((Vec::new(), matched));
    }
    let flags = |name: String| -> Result<Vec<bool>, EvalError> {
        Ok(selected
            .frame
            .column(&name)?
            .bool()?
            .iter()
            .map(|b| b == Some(true))
            .collect())
    };
    let is_first = flags(rule_column(0))?;
    let is_then = flags(rule_column(1))?;
    let keys = selected.keys(spec.group_by.len())?;
    let mut rows_of: HashMap<&Vec<Option<String>>, Vec<usize>> = HashMap::new();
    for (row, key) in keys.iter().enumerate() {
        rows_of.entry(key).or_default().push(row);
    }
    let mut groups: Vec<_> = rows_of.into_iter().collect();
    groups.sort();
    let mut findings = Vec::new();
    for (key, rows) in groups {
        let mut intervals = Vec::new();
        for (pos, row) in rows.iter().enumerate() {
            if !is_then[*row] {
                continue;
            }
            let t = selected.times[*row];
            let earlier: Vec<i64> = rows[..pos]
                .iter()
                .filter(|r| is_first[**r] && selected.times[**r] >= t - spec.window)
                .map(|r| selected.times[*r])
                .collect();
            if earlier.len() >= spec.min_first {
                intervals.push((earlier.first().copied().unwrap_or(t), t));
            }
        }
        for (start, end) in merge_intervals(intervals, spec.window) {
            let lead = if spec.min_first == 0 {
                start - spec.window
            } else {
                start
            };
            let in_episode: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|r| {
                    let t = selected.times[*r];
                    (is_then[*r] && (start..=end).contains(&t))
                        || (is_first[*r] && !is_then[*r] && (lead..=end).contains(&t))
                })
                .collect();
            let thens = in_episode.iter().filter(|r| is_then[**r]).count();
            if thens < spec.min_then {
                continue;
            }
            let firsts = in_episode.len() - thens;
            let group: Vec<String> = spec
                .group_by
                .iter()
                .zip(key.iter())
                .map(|(f, v)| format!("{}={}", f.path, v.as_deref().unwrap_or("(none)")))
                .collect();
            let detail = format!(
                "observed {firsts} `{}` event(s) followed by {thens} `{}` event(s) within {} for {}; required: at least {} then {}",
                spec.names.0,
                spec.names.1,
                show_duration(spec.window),
                group.join(", "),
                spec.min_first,
                spec.min_then,
            );
            findings.extend(finding(rule, &selected, &in_episode, detail, options)?);
        }
    }
    Ok((findings, matched))
}
