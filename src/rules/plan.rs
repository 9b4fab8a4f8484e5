//! Compiles a set of match rules into one Polars lazy query: every rule becomes a boolean
//! column over the same scan of the event table, so all match rules share one pass.
//!
//! Each distinct field test ([`Leaf`]) becomes one column, computed once however many rules
//! use it (`eventSource: kms.amazonaws.com` is shared by the whole pack). A test of a column
//! the lake holds is a Rust function over that column. A test of a path inside a raw JSON
//! column parses JSON, which is the expensive part, so it runs only on the rows where a
//! rule that uses it can still match: each rule's column tests give an upper bound of the
//! rule (its JSON tests taken as "maybe"), and a JSON test is computed only where one of its
//! rules' bounds holds. `eventName: PutKeyPolicy and requestParameters.policy|re: …` parses
//! the policy of `PutKeyPolicy` events only. The rule's column is then its exact condition
//! restricted to its bound, and the query keeps the rows where any rule holds.
//!
//! The stages, each one `with_columns` over the previous: column tests; bounds; JSON tests;
//! rule columns; filter.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;

use crate::ingest::schema::ColumnKind;
use crate::rules::fields::{json_values, FieldSource};
use crate::rules::model::Rule;
use crate::rules::sigma::{Leaf, Tree};

/// Prefix of the plan's working columns (never a lake column name).
const WORK_PREFIX: &str = "__kms_audit_";

/// A rule tree over interned leaves.
#[derive(Debug, Clone)]
enum Node {
    Leaf(usize),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    AtLeast(usize, Vec<Node>),
}

#[derive(Debug)]
struct PlannedLeaf {
    leaf: Arc<Leaf>,
    /// Whether evaluating it parses JSON.
    parses_json: bool,
    /// Rules (indices) that use it.
    users: Vec<usize>,
}

/// A compiled set of match rules.
#[derive(Debug)]
pub struct MatchPlan {
    leaves: Vec<PlannedLeaf>,
    rules: Vec<Node>,
}

/// A bound or exact value of a condition: a constant or a boolean expression.
#[derive(Clone)]
enum Value {
    Const(bool),
    Expr(Expr),
}

impl Value {
    fn into_expr(self) -> Expr {
        match self {
            Self::Const(b) => lit(b),
            Self::Expr(e) => e,
        }
    }

    fn not(self) -> Self {
        match self {
            Self::Const(b) => Self::Const(!b),
            Self::Expr(e) => Self::Expr(e.not()),
        }
    }

    fn and(items: Vec<Value>) -> Self {
        let mut exprs = Vec::new();
        for item in items {
            match item {
                Self::Const(false) => return Self::Const(false),
                Self::Const(true) => {}
                Self::Expr(e) => exprs.push(e),
            }
        }
        exprs
            .into_iter()
            .reduce(Expr::and)
            .map_or(Self::Const(true), Self::Expr)
    }

    fn or(items: Vec<Value>) -> Self {
        let mut exprs = Vec::new();
        for item in items {
            match item {
                Self::Const(true) => return Self::Const(true),
                Self::Const(false) => {}
                Self::Expr(e) => exprs.push(e),
            }
        }
        exprs
            .into_iter()
            .reduce(Expr::or)
            .map_or(Self::Const(false), Self::Expr)
    }

    fn at_least(n: usize, items: Vec<Value>) -> Self {
        let mut needed = n;
        let mut exprs = Vec::new();
        for item in items {
            match item {
                Self::Const(true) => needed = needed.saturating_sub(1),
                Self::Const(false) => {}
                Self::Expr(e) => exprs.push(e),
            }
        }
        if needed == 0 {
            return Self::Const(true);
        }
        if exprs.len() < needed {
            return Self::Const(false);
        }
        let needed = i32::try_from(needed).unwrap_or(i32::MAX);
        exprs
            .into_iter()
            .map(|e| e.cast(DataType::Int32))
            .reduce(|a, b| a + b)
            .map_or(Self::Const(false), |sum| Self::Expr(sum.gt_eq(lit(needed))))
    }
}

/// The name of the working column of rule `index` in the plan's output: true where the rule
/// matches.
pub fn rule_column(index: usize) -> String {
    format!("{WORK_PREFIX}rule_{index}")
}

fn leaf_column(index: usize) -> String {
    format!("{WORK_PREFIX}leaf_{index}")
}

fn bound_column(index: usize) -> String {
    format!("{WORK_PREFIX}bound_{index}")
}

impl MatchPlan {
    /// Compiles `rules` (match rules; others are ignored and never match).
    pub fn new(rules: &[&Rule]) -> Self {
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let mut leaves: Vec<PlannedLeaf> = Vec::new();
        let mut nodes = Vec::with_capacity(rules.len());
        for (index, rule) in rules.iter().enumerate() {
            let node = match rule.detection() {
                Some(detection) => intern(&detection.tree(), index, &mut by_key, &mut leaves),
                None => Node::Or(Vec::new()),
            };
            nodes.push(node);
        }
        Self {
            leaves,
            rules: nodes,
        }
    }

    /// Number of distinct field tests.
    pub fn leaf_count(&self) -> usize {
        self.leaves.len()
    }

    /// Number of distinct field tests that parse JSON.
    pub fn json_leaf_count(&self) -> usize {
        self.leaves.iter().filter(|l| l.parses_json).count()
    }

    /// `events` with one boolean column per rule ([`rule_column`]), keeping only the rows
    /// where some rule holds, and only the columns `keep` and the rule columns.
    pub fn apply(&self, events: LazyFrame, keep: Vec<Expr>) -> LazyFrame {
        let cheap: Vec<Expr> = self
            .leaves
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.parses_json)
            .map(|(i, l)| leaf_expr(&l.leaf, None).alias(leaf_column(i)))
            .collect();
        let mut frame = events;
        if !cheap.is_empty() {
            frame = frame.with_columns(cheap);
        }

        // Upper bounds of the rules that parse JSON, from their column tests.
        let mut bounds: Vec<Option<Value>> = vec![None; self.rules.len()];
        let mut bound_exprs = Vec::new();
        for (index, node) in self.rules.iter().enumerate() {
            if !self.node_parses_json(node) {
                continue;
            }
            let (upper, _) = self.bounds(node);
            if let Value::Expr(e) = &upper {
                bound_exprs.push(e.clone().alias(bound_column(index)));
                bounds[index] = Some(Value::Expr(col(bound_column(index))));
            } else {
                bounds[index] = Some(upper);
            }
        }
        if !bound_exprs.is_empty() {
            frame = frame.with_columns(bound_exprs);
        }

        let json: Vec<Expr> = self
            .leaves
            .iter()
            .enumerate()
            .filter(|(_, l)| l.parses_json)
            .map(|(i, l)| {
                let mask = Value::or(
                    l.users
                        .iter()
                        .map(|u| bounds[*u].clone().unwrap_or(Value::Const(true)))
                        .collect(),
                );
                let expr = match mask {
                    Value::Const(false) => lit(false),
                    Value::Const(true) => leaf_expr(&l.leaf, None),
                    Value::Expr(mask) => leaf_expr(&l.leaf, Some(mask)),
                };
                expr.alias(leaf_column(i))
            })
            .collect();
        if !json.is_empty() {
            frame = frame.with_columns(json);
        }

        let mut rule_exprs = Vec::with_capacity(self.rules.len());
        for (index, node) in self.rules.iter().enumerate() {
            let exact = self.exact(node);
            let value = match bounds[index].clone() {
                Some(bound) => Value::and(vec![exact, bound]),
                None => exact,
            };
            rule_exprs.push(value.into_expr().alias(rule_column(index)));
        }
        let any = Value::or(
            (0..self.rules.len())
                .map(|i| Value::Expr(col(rule_column(i))))
                .collect(),
        )
        .into_expr();
        let mut selected = keep;
        selected.extend((0..self.rules.len()).map(|i| col(rule_column(i))));
        frame.with_columns(rule_exprs).filter(any).select(selected)
    }

    fn node_parses_json(&self, node: &Node) -> bool {
        match node {
            Node::Leaf(i) => self.leaves[*i].parses_json,
            Node::Not(inner) => self.node_parses_json(inner),
            Node::And(items) | Node::Or(items) | Node::AtLeast(_, items) => {
                items.iter().any(|n| self.node_parses_json(n))
            }
        }
    }

    /// (upper, lower) bounds of `node` from its column tests alone.
    fn bounds(&self, node: &Node) -> (Value, Value) {
        match node {
            Node::Leaf(i) if self.leaves[*i].parses_json => {
                (Value::Const(true), Value::Const(false))
            }
            Node::Leaf(i) => {
                let v = Value::Expr(col(leaf_column(*i)));
                (v.clone(), v)
            }
            Node::Not(inner) => {
                let (upper, lower) = self.bounds(inner);
                (lower.not(), upper.not())
            }
            Node::And(items) => {
                let (uppers, lowers) = items.iter().map(|n| self.bounds(n)).unzip();
                (Value::and(uppers), Value::and(lowers))
            }
            Node::Or(items) => {
                let (uppers, lowers) = items.iter().map(|n| self.bounds(n)).unzip();
                (Value::or(uppers), Value::or(lowers))
            }
            Node::AtLeast(n, items) => {
                let (uppers, lowers) = items.iter().map(|n| self.bounds(n)).unzip();
                (Value::at_least(*n, uppers), Value::at_least(*n, lowers))
            }
        }
    }

    /// The exact value of `node` over the leaf columns.
    fn exact(&self, node: &Node) -> Value {
        match node {
            Node::Leaf(i) => Value::Expr(col(leaf_column(*i))),
            Node::Not(inner) => self.exact(inner).not(),
            Node::And(items) => Value::and(items.iter().map(|n| self.exact(n)).collect()),
            Node::Or(items) => Value::or(items.iter().map(|n| self.exact(n)).collect()),
            Node::AtLeast(n, items) => {
                Value::at_least(*n, items.iter().map(|n| self.exact(n)).collect())
            }
        }
    }
}

fn intern(
    tree: &Tree,
    rule: usize,
    by_key: &mut HashMap<String, usize>,
    leaves: &mut Vec<PlannedLeaf>,
) -> Node {
    match tree {
        Tree::Leaf(leaf) => {
            let index = *by_key.entry(leaf.key.clone()).or_insert_with(|| {
                let parses_json = leaf.field.source.parses_json()
                    || leaf
                        .reference
                        .as_ref()
                        .is_some_and(|r| r.source.parses_json());
                leaves.push(PlannedLeaf {
                    leaf: Arc::clone(leaf),
                    parses_json,
                    users: Vec::new(),
                });
                leaves.len() - 1
            });
            if leaves[index].users.last() != Some(&rule) {
                leaves[index].users.push(rule);
            }
            Node::Leaf(index)
        }
        Tree::Not(inner) => Node::Not(Box::new(intern(inner, rule, by_key, leaves))),
        Tree::And(items) => Node::And(
            items
                .iter()
                .map(|t| intern(t, rule, by_key, leaves))
                .collect(),
        ),
        Tree::Or(items) => Node::Or(
            items
                .iter()
                .map(|t| intern(t, rule, by_key, leaves))
                .collect(),
        ),
        Tree::AtLeast(n, items) => Node::AtLeast(
            *n,
            items
                .iter()
                .map(|t| intern(t, rule, by_key, leaves))
                .collect(),
        ),
    }
}

/// The expression that reads a field's source column, typed for [`Reader`].
fn source_expr(source: &FieldSource) -> Option<Expr> {
    match source {
        FieldSource::Column {
            name,
            kind: ColumnKind::Timestamp,
        } => Some(col(*name).cast(DataType::Int64)),
        FieldSource::Column {
            name,
            kind: ColumnKind::Bool,
        } => Some(col(*name).cast(DataType::Boolean)),
        FieldSource::Column {
            name,
            kind: ColumnKind::Int32 | ColumnKind::UInt32,
        } => Some(col(*name).cast(DataType::Int64)),
        FieldSource::Column {
            name,
            kind: ColumnKind::Text,
        } => Some(col(*name).cast(DataType::String)),
        FieldSource::Json { column, .. } => Some(col(*column).cast(DataType::String)),
        FieldSource::Absent(_) => None,
    }
}

/// The boolean expression of one leaf, computed only where `mask` holds (false elsewhere).
fn leaf_expr(leaf: &Arc<Leaf>, mask: Option<Expr>) -> Expr {
    let Some(field) = source_expr(&leaf.field.source) else {
        // A field that never has a value: the test gives the same answer on every row.
        return lit(leaf.matches(&[], &[]));
    };
    let reference = leaf.reference.as_ref().and_then(|r| source_expr(&r.source));
    let has_reference = reference.is_some();
    let has_mask = mask.is_some();
    let mut arguments = Vec::new();
    arguments.extend(reference);
    arguments.extend(mask);
    let leaf = Arc::clone(leaf);
    field.map_many(
        move |columns: &mut [Column]| evaluate_leaf(&leaf, columns, has_reference, has_mask),
        &arguments,
        |_, fields: &[polars::prelude::Field]| {
            Ok(polars::prelude::Field::new(
                fields[0].name().clone(),
                DataType::Boolean,
            ))
        },
    )
}

/// Reads a source column row by row as the texts Sigma compares.
enum Reader<'a> {
    Text(Box<dyn Iterator<Item = Option<&'a str>> + 'a>),
    Bool(Box<dyn Iterator<Item = Option<bool>> + 'a>),
    Int(Box<dyn Iterator<Item = Option<i64>> + 'a>),
}

impl<'a> Reader<'a> {
    fn new(column: &'a Column) -> PolarsResult<Self> {
        Ok(match column.dtype() {
            DataType::Boolean => Self::Bool(Box::new(column.bool()?.iter())),
            DataType::Int64 => Self::Int(Box::new(column.i64()?.iter())),
            _ => Self::Text(Box::new(column.str()?.iter())),
        })
    }

    /// Moves to the next row and, when `wanted`, puts its values in `out`.
    fn next_row(&mut self, source: &FieldSource, wanted: bool, out: &mut Vec<Cow<'a, str>>) {
        out.clear();
        match self {
            Self::Text(rows) => {
                let value = rows.next().flatten();
                if let (true, Some(text)) = (wanted, value) {
                    match source {
                        FieldSource::Json { path, .. } => json_values(text, path, out),
                        _ => out.push(Cow::Borrowed(text)),
                    }
                }
            }
            Self::Bool(rows) => {
                if let (true, Some(b)) = (wanted, rows.next().flatten()) {
                    out.push(Cow::Borrowed(if b { "true" } else { "false" }));
                }
            }
            Self::Int(rows) => {
                let value = rows.next().flatten();
                if let (true, Some(n)) = (wanted, value) {
                    out.push(Cow::Owned(match source {
                        FieldSource::Column {
                            kind: ColumnKind::Timestamp,
                            ..
                        } => crate::rules::finding::rfc3339(n),
                        _ => n.to_string(),
                    }));
                }
            }
        }
    }
}

fn evaluate_leaf(
    leaf: &Leaf,
    columns: &mut [Column],
    has_reference: bool,
    has_mask: bool,
) -> PolarsResult<Column> {
    let name = columns[0].name().clone();
    let rows = columns[0].len();
    let mut field = Reader::new(&columns[0])?;
    let mut reference = if has_reference {
        Some(Reader::new(&columns[1])?)
    } else {
        None
    };
    let mut mask: Option<Box<dyn Iterator<Item = Option<bool>> + '_>> = if has_mask {
        Some(Box::new(columns[columns.len() - 1].bool()?.iter()))
    } else {
        None
    };
    let reference_source = leaf.reference.as_ref().map(|r| &r.source);
    let mut values = Vec::new();
    let mut other = Vec::new();
    let mut out = Vec::with_capacity(rows);
    for _ in 0..rows {
        let wanted = match mask.as_mut() {
            Some(mask) => mask.next().flatten().unwrap_or(false),
            None => true,
        };
        field.next_row(&leaf.field.source, wanted, &mut values);
        if let (Some(reader), Some(source)) = (reference.as_mut(), reference_source) {
            reader.next_row(source, wanted, &mut other);
        }
        out.push(wanted && leaf.matches(&values, &other));
    }
    Ok(BooleanChunked::from_iter_values(name, out.into_iter()).into_column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_simplify_constants() {
        assert!(matches!(
            Value::and(vec![Value::Const(true), Value::Const(true)]),
            Value::Const(true)
        ));
        assert!(matches!(
            Value::or(vec![Value::Const(false), Value::Expr(lit(true))]),
            Value::Expr(_)
        ));
        assert!(matches!(
            Value::at_least(2, vec![Value::Const(true), Value::Const(false)]),
            Value::Const(false)
        ));
        assert!(matches!(
            Value::at_least(1, vec![Value::Const(true), Value::Expr(lit(false))]),
            Value::Const(true)
        ));
    }
}
