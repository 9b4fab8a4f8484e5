//! Temporal proximity, for `correlation` rules: several rules' events seen together, per
//! group, within a window — in any order (Sigma's `temporal`) or in the rules' order
//! (`temporal_ordered`). Sigma correlation rules of those types compile to this
//! ([`crate::rules::sigma::correlation`]).
//!
//! The window slides over the events themselves (no fixed boundaries): at each event of a
//! group, the rules seen within the window before it are counted — distinct rules for
//! `temporal`; for `temporal_ordered`, how many of the rules, from the first, occurred one
//! after another (each at or after the previous one's event, one event per rule) with the
//! first no earlier than the window allows. When the count satisfies the condition (by
//! default: every rule) the span from the earliest event needed to this one is flagged;
//! overlapping spans of a group merge into one finding, whose evidence is the group's events
//! in the span.

use std::collections::{BTreeSet, HashMap};

use polars::prelude::*;

use crate::rules::error::EvalError;
use crate::rules::eval::EvalOptions;
use crate::rules::finding::Finding;
use crate::rules::model::Rule;
use crate::rules::window::keys::RuleKeys;
use crate::rules::window::{finding, merge_intervals, show_duration, Comparison, Events};

/// A compiled temporal correlation.
#[derive(Debug, Clone)]
pub struct Temporal {
    /// The correlated rules and the group-by fields of their events.
    pub keys: RuleKeys,
    /// Window length, µs.
    pub window: i64,
    /// Whether the rules' events must occur in the rules' order.
    pub ordered: bool,
    /// Conditions on the number of rules seen (in order, when ordered); all must hold.
    /// Empty: every rule.
    pub condition: Vec<Comparison>,
}

impl Temporal {
    /// Whether `seen` rules satisfy the condition (at least one rule must be seen).
    pub fn holds(&self, seen: usize) -> bool {
        if self.condition.is_empty() {
            return seen > 0 && seen >= self.keys.len();
        }
        seen > 0 && self.condition.iter().all(|c| c.holds(seen as f64))
    }
}

/// The spans `(start, end)` of one group's events where the rules seen within `window`
/// satisfy `holds`. `times` are sorted; `matched[row][rule]` says which rules each event
/// matches. Overlapping spans are merged.
pub fn episodes(
    times: &[i64],
    matched: &[Vec<bool>],
    rules: usize,
    window: i64,
    ordered: bool,
    holds: &dyn Fn(usize) -> bool,
) -> Vec<(i64, i64)> {
    let mut spans = Vec::new();
    if ordered {
        // best[s]: the latest start of a chain of events of rules 0..=s, in order, ending
        // at or before the current event. The latest start leaves the most room.
        let mut best: Vec<Option<i64>> = vec![None; rules];
        for (row, &t) in times.iter().enumerate() {
            let earliest = t.saturating_sub(window);
            let flags = matched.get(row).map_or(&[][..], Vec::as_slice);
            // Later rules first, so one event never serves two consecutive rules.
            for s in (0..rules).rev() {
                if !flags.get(s).copied().unwrap_or(false) {
                    continue;
                }
                let start = if s == 0 {
                    Some(t)
                } else {
                    best[s - 1].filter(|b| *b >= earliest)
                };
                if let Some(start) = start {
                    best[s] = Some(best[s].map_or(start, |b| b.max(start)));
                }
            }
            // A chain to rule s implies one to rule s - 1 starting no earlier.
            let seen = best
                .iter()
                .take_while(|b| b.is_some_and(|b| b >= earliest))
                .count();
            if holds(seen) {
                if let Some(Some(start)) = best.get(seen.wrapping_sub(1)) {
                    spans.push((*start, t));
                }
            }
        }
    } else {
        // last[r]: the time of the latest event of rule r so far.
        let mut last: Vec<Option<i64>> = vec![None; rules];
        for (row, &t) in times.iter().enumerate() {
            let earliest = t.saturating_sub(window);
            if let Some(flags) = matched.get(row) {
                for (r, hit) in flags.iter().enumerate().take(rules) {
                    if *hit {
                        last[r] = Some(t);
                    }
                }
            }
            let present: Vec<i64> = last
                .iter()
                .flatten()
                .copied()
                .filter(|l| *l >= earliest)
                .collect();
            if holds(present.len()) {
                if let Some(start) = present.iter().min() {
                    spans.push((*start, t));
                }
            }
        }
    }
    merge_intervals(spans, 0)
}

/// Evaluates a temporal correlation: (findings, selected events).
pub fn evaluate(
    rule: &Rule,
    spec: &Temporal,
    events: &LazyFrame,
    options: &EvalOptions,
) -> Result<(Vec<Finding>, u64), EvalError> {
    let frame = spec.keys.select(rule, events.clone(), Vec::new());
    let selected = Events::collect(frame)?;
    let matched = selected.len() as u64;
    if selected.is_empty() {
        return Ok((Vec::new(), matched));
    }
    let flags = spec.keys.matched(&selected)?;
    let keys = selected.keys(spec.keys.group_by.len())?;
    let mut rows_of: HashMap<&Vec<Option<String>>, Vec<usize>> = HashMap::new();
    for (row, key) in keys.iter().enumerate() {
        rows_of.entry(key).or_default().push(row);
    }
    let mut groups: Vec<_> = rows_of.into_iter().collect();
    groups.sort();
    let holds = |seen: usize| spec.holds(seen);
    let mut findings = Vec::new();
    for (key, rows) in groups {
        let times: Vec<i64> = rows.iter().map(|r| selected.times[*r]).collect();
        let group_flags: Vec<Vec<bool>> = rows.iter().map(|r| flags[*r].clone()).collect();
        for (start, end) in episodes(
            &times,
            &group_flags,
            spec.keys.len(),
            spec.window,
            spec.ordered,
            &holds,
        ) {
            let in_span: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|r| (start..=end).contains(&selected.times[*r]))
                .collect();
            let seen: BTreeSet<usize> = in_span
                .iter()
                .flat_map(|r| (0..spec.keys.len()).filter(|i| flags[*r][*i]))
                .collect();
            let observed: Vec<String> = (0..spec.keys.len())
                .filter(|i| seen.contains(i))
                .map(|i| {
                    let n = in_span.iter().filter(|r| flags[**r][i]).count();
                    format!("`{}` ×{n}", spec.keys.names[i])
                })
                .collect();
            let wanted = if spec.condition.is_empty() {
                "every rule".to_owned()
            } else {
                spec.condition
                    .iter()
                    .map(|c| format!("rules seen {c}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            };
            let detail = format!(
                "observed {} within {}{} for {}; required: {wanted} of {}{}",
                observed.join(", "),
                show_duration(spec.window),
                if spec.ordered { ", in order" } else { "" },
                spec.keys.describe(&key),
                spec.keys
                    .names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(if spec.ordered { " then " } else { ", " }),
                if spec.ordered { " (in this order)" } else { "" },
            );
            findings.extend(finding(rule, &selected, &in_span, detail, options)?);
        }
    }
    Ok((findings, matched))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::window::Op;

    const MIN: i64 = 60_000_000;

    /// Rows from `(minute, rules matched)`.
    fn rows(events: &[(i64, &[usize])], rules: usize) -> (Vec<i64>, Vec<Vec<bool>>) {
        let times = events.iter().map(|(m, _)| m * MIN).collect();
        let matched = events
            .iter()
            .map(|(_, hits)| (0..rules).map(|r| hits.contains(&r)).collect())
            .collect();
        (times, matched)
    }

    fn all(rules: usize) -> impl Fn(usize) -> bool {
        move |seen| seen >= rules
    }

    #[test]
    fn temporal_needs_every_rule_within_the_window_in_any_order() {
        let (t, m) = rows(&[(0, &[2]), (1, &[0]), (3, &[1])], 3);
        assert_eq!(
            episodes(&t, &m, 3, 5 * MIN, false, &all(3)),
            vec![(0, 3 * MIN)]
        );
        // Too far apart.
        let (t, m) = rows(&[(0, &[2]), (1, &[0]), (9, &[1])], 3);
        assert!(episodes(&t, &m, 3, 5 * MIN, false, &all(3)).is_empty());
        // A rule missing.
        let (t, m) = rows(&[(0, &[0]), (1, &[0]), (2, &[1])], 3);
        assert!(episodes(&t, &m, 3, 5 * MIN, false, &all(3)).is_empty());
        // The span starts at the latest event of each rule: an old event of rule 0 is not
        // part of it.
        let (t, m) = rows(&[(0, &[0]), (10, &[0]), (11, &[1]), (12, &[2])], 3);
        assert_eq!(
            episodes(&t, &m, 3, 5 * MIN, false, &all(3)),
            vec![(10 * MIN, 12 * MIN)]
        );
        // One event matching two rules counts for both.
        let (t, m) = rows(&[(0, &[0, 1])], 2);
        assert_eq!(episodes(&t, &m, 2, MIN, false, &all(2)), vec![(0, 0)]);
    }

    #[test]
    fn temporal_ordered_needs_the_rules_order() {
        let (t, m) = rows(&[(0, &[0]), (1, &[1]), (2, &[2])], 3);
        assert_eq!(
            episodes(&t, &m, 3, 5 * MIN, true, &all(3)),
            vec![(0, 2 * MIN)]
        );
        // Out of order.
        let (t, m) = rows(&[(0, &[1]), (1, &[0]), (2, &[2])], 3);
        assert!(episodes(&t, &m, 3, 5 * MIN, true, &all(3)).is_empty());
        // The order holds with a repeat: B, A, B, C.
        let (t, m) = rows(&[(0, &[1]), (1, &[0]), (2, &[1]), (3, &[2])], 3);
        assert_eq!(
            episodes(&t, &m, 3, 5 * MIN, true, &all(3)),
            vec![(MIN, 3 * MIN)]
        );
        // The chain must fit in the window: A at 0, B at 4, C at 6 with a 5m window.
        let (t, m) = rows(&[(0, &[0]), (4, &[1]), (6, &[2])], 3);
        assert!(episodes(&t, &m, 3, 5 * MIN, true, &all(3)).is_empty());
        // A later start rescues it: A at 0, A at 2, B at 4, C at 6.
        let (t, m) = rows(&[(0, &[0]), (2, &[0]), (4, &[1]), (6, &[2])], 3);
        assert_eq!(
            episodes(&t, &m, 3, 5 * MIN, true, &all(3)),
            vec![(2 * MIN, 6 * MIN)]
        );
        // One event cannot be two consecutive steps.
        let (t, m) = rows(&[(0, &[0, 1])], 2);
        assert!(episodes(&t, &m, 2, MIN, true, &all(2)).is_empty());
        let (t, m) = rows(&[(0, &[0, 1]), (0, &[0, 1])], 2);
        assert_eq!(episodes(&t, &m, 2, MIN, true, &all(2)), vec![(0, 0)]);
    }

    #[test]
    fn without_a_condition_every_rule_is_needed() {
        let detection = crate::rules::sigma::Detection {
            selections: Vec::new(),
            condition: crate::rules::sigma::Cond::Or(Vec::new()),
        };
        let mut spec = Temporal {
            keys: RuleKeys {
                names: vec!["a".into(), "b".into(), "c".into()],
                detections: vec![detection; 3],
                group_by: Vec::new(),
                labels: Vec::new(),
            },
            window: MIN,
            ordered: false,
            condition: Vec::new(),
        };
        assert!(!spec.holds(2));
        assert!(spec.holds(3));
        spec.condition = vec![Comparison {
            op: Op::Gte,
            bound: 2.0,
        }];
        assert!(spec.holds(2));
        assert!(!spec.holds(0));
    }

    #[test]
    fn conditions_count_the_rules_seen_and_spans_merge() {
        let gte2 = Comparison {
            op: Op::Gte,
            bound: 2.0,
        };
        let holds = move |seen: usize| gte2.holds(seen as f64);
        // Two of three rules suffice.
        let (t, m) = rows(&[(0, &[2]), (1, &[0])], 3);
        assert_eq!(episodes(&t, &m, 3, 5 * MIN, false, &holds), vec![(0, MIN)]);
        // In order, the first two rules suffice; the last two do not.
        assert!(episodes(&t, &m, 3, 5 * MIN, true, &holds).is_empty());
        let (t, m) = rows(&[(0, &[0]), (1, &[1])], 3);
        assert_eq!(episodes(&t, &m, 3, 5 * MIN, true, &holds), vec![(0, MIN)]);
        // Overlapping spans of one group merge; separate ones stay apart.
        let (t, m) = rows(
            &[
                (0, &[0]),
                (1, &[1]),
                (2, &[0]),
                (3, &[1]),
                (30, &[0]),
                (31, &[1]),
            ],
            2,
        );
        assert_eq!(
            episodes(&t, &m, 2, 5 * MIN, false, &all(2)),
            vec![(0, 3 * MIN), (30 * MIN, 31 * MIN)]
        );
    }
}
