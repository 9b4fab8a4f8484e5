//! Events of several rules keyed together — the shape of a Sigma correlation rule, whose
//! `rules:` name the event rules it correlates and whose `group-by` may read a different
//! field on the events of each rule (`aliases`: `internal_ip` is `destination.ip` on one
//! rule's events and `source.ip` on another's).
//!
//! [`RuleKeys`] selects the events any of the rules matches, with one boolean column per
//! rule ([`crate::rules::plan::rule_column`]) and the group-by columns
//! ([`super::group_column`]) read, on each event, from the field of the first rule it
//! matches. Events without a value for every group-by column are left out: Sigma groups
//! events by their values, and an event without one belongs to no group.

use polars::prelude::*;

use crate::rules::error::EvalError;
use crate::rules::model::{Field, Rule};
use crate::rules::plan::rule_column;
use crate::rules::sigma::Detection;
use crate::rules::window::{group_column, select, value_expr, Bucket, Events};

/// The rules a window rule correlates and, per group-by column, the field read on each
/// rule's events.
#[derive(Debug, Clone)]
pub struct RuleKeys {
    /// The rules' names, in order (shown in findings).
    pub names: Vec<String>,
    /// Their detections, in the same order.
    pub detections: Vec<Detection>,
    /// Per group-by column, the field read on the events of each rule: `group_by[c][r]`.
    pub group_by: Vec<Vec<Field>>,
    /// The group-by columns as written (an alias or a field), shown in findings.
    pub labels: Vec<String>,
}

impl RuleKeys {
    /// Number of rules.
    pub fn len(&self) -> usize {
        self.detections.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.detections.is_empty()
    }

    /// The group-by column expressions ([`group_column`]), evaluated over a frame holding
    /// the rule columns.
    pub fn group_exprs(&self) -> Vec<Expr> {
        self.group_by
            .iter()
            .enumerate()
            .map(|(c, fields)| {
                let same = fields.windows(2).all(|w| w[0].path == w[1].path);
                let expr = match fields.first() {
                    None => lit(NULL).cast(DataType::String),
                    Some(field) if same => value_expr(field, Bucket::Exact),
                    Some(_) => fields.iter().enumerate().rev().fold(
                        lit(NULL).cast(DataType::String),
                        |otherwise, (r, field)| {
                            when(col(rule_column(r)))
                                .then(value_expr(field, Bucket::Exact))
                                .otherwise(otherwise)
                        },
                    ),
                };
                expr.alias(group_column(c))
            })
            .collect()
    }

    /// The events of `events` that one of the rules matches and that have every group-by
    /// value, with the rule columns, the group-by columns, the window base columns and
    /// `extra`. `rule` is the window rule being evaluated.
    pub fn select(&self, rule: &Rule, events: LazyFrame, extra: Vec<Expr>) -> LazyFrame {
        // The keep expressions run after the rule columns exist, so they may read them.
        let mut keep = self.group_exprs();
        keep.extend(extra);
        let frame = select(rule, &self.detections, events, keep);
        let present = (0..self.group_by.len())
            .map(|c| col(group_column(c)).is_not_null())
            .reduce(Expr::and);
        match present {
            Some(present) => frame.filter(present),
            None => frame,
        }
    }

    /// Which rules each selected event matches: `matched[row][rule]`.
    pub fn matched(&self, events: &Events) -> Result<Vec<Vec<bool>>, EvalError> {
        let columns: Vec<Vec<bool>> = (0..self.len())
            .map(|r| -> Result<Vec<bool>, EvalError> {
                Ok(events
                    .frame
                    .column(&rule_column(r))?
                    .bool()?
                    .iter()
                    .map(|b| b == Some(true))
                    .collect())
            })
            .collect::<Result<_, _>>()?;
        Ok((0..events.len())
            .map(|row| columns.iter().map(|c| c[row]).collect())
            .collect())
    }

    /// `label=value` for each group-by column of `key`.
    pub fn describe(&self, key: &[Option<String>]) -> String {
        self.labels
            .iter()
            .zip(key)
            .map(|(label, value)| format!("{label}={}", value.as_deref().unwrap_or("(none)")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::schema::{AWS_REGION, EVENT_NAME};
    use crate::rules::sigma::Cond;
    use crate::rules::window::{Comparison, Op};

    fn keys(group_by: Vec<Vec<Field>>) -> RuleKeys {
        let detection = Detection {
            selections: Vec::new(),
            condition: Cond::Or(Vec::new()),
        };
        RuleKeys {
            names: vec!["a".into(), "b".into()],
            detections: vec![detection.clone(), detection],
            labels: (0..group_by.len()).map(|c| format!("g{c}")).collect(),
            group_by,
        }
    }

    /// Rows matching rule a, rule b, both and neither.
    fn frame() -> LazyFrame {
        df! {
            rule_column(0).as_str() => [true, false, true, false],
            rule_column(1).as_str() => [false, true, true, false],
            EVENT_NAME => ["Decrypt", "CreateGrant", "Encrypt", "ListKeys"],
            AWS_REGION => ["us-east-1", "eu-west-1", "ap-south-1", "sa-east-1"],
        }
        .expect("frame")
        .lazy()
    }

    fn column(keys: &RuleKeys, c: usize) -> Vec<Option<String>> {
        let out = frame()
            .select(keys.group_exprs())
            .collect()
            .expect("collect");
        out.column(&group_column(c))
            .expect("column")
            .str()
            .expect("text")
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect()
    }

    #[test]
    fn an_alias_reads_the_field_of_the_first_matching_rule() {
        let aliased = keys(vec![vec![Field::new("eventName"), Field::new("awsRegion")]]);
        assert_eq!(
            column(&aliased, 0),
            [
                Some("Decrypt".to_owned()),
                Some("eu-west-1".to_owned()),
                Some("Encrypt".to_owned()),
                None
            ]
        );
        // The same field for every rule is read on every row.
        let plain = keys(vec![vec![Field::new("awsRegion"), Field::new("awsRegion")]]);
        assert_eq!(column(&plain, 0)[3].as_deref(), Some("sa-east-1"));
        assert_eq!(
            keys(vec![vec![Field::new("eventName"), Field::new("eventName")]])
                .describe(&[Some("Decrypt".into())]),
            "g0=Decrypt"
        );
    }

    #[test]
    fn neq_compares_as_not_equal() {
        let neq = Comparison {
            op: Op::Neq,
            bound: 3.0,
        };
        assert!(neq.holds(2.0) && neq.holds(4.0) && !neq.holds(3.0));
        assert_eq!(neq.to_string(), "≠ 3");
        let out = df! { "n" => [2i64, 3, 4] }
            .expect("frame")
            .lazy()
            .select([neq.expr(col("n")).alias("t")])
            .collect()
            .expect("collect");
        let values: Vec<Option<bool>> = out
            .column("t")
            .expect("t")
            .bool()
            .expect("bool")
            .iter()
            .collect();
        assert_eq!(values, [Some(true), Some(false), Some(true)]);
    }
}
