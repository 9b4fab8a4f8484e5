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
    ///
    /// A column test whose result `events` already holds ([`test_column`], as a
    /// [`Reads::read`] frame does) is taken from it.
    pub fn apply(&self, events: LazyFrame, keep: Vec<Expr>) -> LazyFrame {
        let mut events = events;
        let known = events.collect_schema().ok();
        let cheap: Vec<Expr> = self
            .leaves
            .iter()
            .enumerate()
            .filter(|(_, l)| !l.parses_json)
            .map(|(i, l)| {
                let done = test_column(&l.leaf);
                match &known {
                    Some(schema) if schema.contains(done.as_str()) => col(done),
                    _ => leaf_expr(&l.leaf, None),
                }
                .alias(leaf_column(i))
            })
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

/// What rules read from the lake: plain columns, and raw JSON columns with, for each, the
/// rows where a rule may read it (upper bounds of the rules' detections). A frame holding the
/// plain columns, and each JSON column on its rows (null elsewhere), gives those rules the
/// results the lake gives them.
#[derive(Debug, Clone, Default)]
pub struct Reads {
    /// Plain columns.
    pub columns: std::collections::BTreeSet<&'static str>,
    /// JSON columns and the rows (one condition per reader; any of them) where they are read,
    /// over the [`Reads::read`] working columns of the column tests.
    json: std::collections::BTreeMap<&'static str, Vec<Expr>>,
    /// The column tests of the readers' detections (none parsing JSON), each once.
    leaves: Vec<Arc<Leaf>>,
    by_key: HashMap<String, usize>,
    /// The rows the readers may read (one condition per reader; any of them), over the
    /// [`Reads::read`] working columns of the column tests.
    rows: Vec<Expr>,
    /// Whether some reader may read any row (its detections' column tests bound nothing).
    every_row: bool,
}

/// The name of the column holding the result of column test `leaf` in a [`Reads::read`]
/// frame (the test's canonical key: equal keys test the same thing).
pub fn test_column(leaf: &Leaf) -> String {
    format!("{WORK_PREFIX}test:{}", leaf.key)
}

impl Reads {
    /// Adds a reader that selects rows with `detections` (a row is read where one holds)
    /// and reads `fields` and `columns` on those rows only.
    pub fn add(
        &mut self,
        detections: &[&crate::rules::sigma::Detection],
        fields: &[&crate::rules::model::Field],
        columns: &[&'static str],
    ) {
        self.columns.extend(columns);
        let trees: Vec<Tree> = detections.iter().map(|d| d.tree()).collect();
        let mut leaves = Vec::new();
        for tree in &trees {
            tree_leaves(tree, &mut leaves);
        }
        for leaf in &leaves {
            self.test(leaf);
        }
        let sources = leaves
            .iter()
            .flat_map(|leaf| std::iter::once(&leaf.field).chain(leaf.reference.as_ref()))
            .chain(fields.iter().copied())
            .map(|field| &field.source);
        let mut json = std::collections::BTreeSet::new();
        for source in sources {
            match source {
                FieldSource::Column { name, .. } => {
                    self.columns.insert(name);
                }
                FieldSource::Json { column, .. } => {
                    json.insert(*column);
                }
                FieldSource::Absent(_) => {}
            }
        }
        let bound = Value::or(trees.iter().map(|t| self.bound(t).0).collect());
        match &bound {
            Value::Const(true) => self.every_row = true,
            Value::Const(false) => {}
            Value::Expr(rows) => self.rows.push(rows.clone()),
        }
        if json.is_empty() {
            return;
        }
        let bound = bound.into_expr();
        for column in json {
            self.json.entry(column).or_default().push(bound.clone());
        }
    }

    /// `events` narrowed to what the readers read: the plain columns, each JSON column (not
    /// also read plain) on its rows, null elsewhere, and the result of every column test of
    /// the readers' detections ([`test_column`]), which [`MatchPlan::apply`] then takes.
    pub fn read(&self, events: LazyFrame) -> LazyFrame {
        let mut exprs: Vec<Expr> = self.columns.iter().map(|c| col(*c)).collect();
        exprs.extend(self.leaves.iter().map(|leaf| col(test_column(leaf))));
        for (column, readers) in &self.json {
            if self.columns.contains(column) {
                continue;
            }
            let rows = readers
                .iter()
                .cloned()
                .reduce(Expr::or)
                .unwrap_or(lit(false));
            exprs.push(
                when(rows)
                    .then(col(*column).cast(DataType::String))
                    .otherwise(lit(NULL).cast(DataType::String))
                    .alias(*column),
            );
        }
        let tests: Vec<Expr> = self
            .leaves
            .iter()
            .map(|leaf| leaf_expr(leaf, None).alias(test_column(leaf)))
            .collect();
        if tests.is_empty() {
            events.select(exprs)
        } else {
            events.with_columns(tests).select(exprs)
        }
    }

    /// The rows some reader may read, over the [`Reads::read`] frame (its test columns);
    /// `None` when a reader may read any row. Every other row can be left out of the read.
    pub fn rows(&self) -> Option<Expr> {
        if self.every_row {
            return None;
        }
        Some(
            self.rows
                .iter()
                .cloned()
                .reduce(Expr::or)
                .unwrap_or(lit(false)),
        )
    }

    /// The raw JSON columns read on some rows only ([`Reads::read`]: null elsewhere).
    pub fn partial_json_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.json
            .keys()
            .copied()
            .filter(|column| !self.columns.contains(column))
    }

    /// Registers column test `leaf` (one that parses no JSON) to be computed by
    /// [`Reads::read`].
    fn test(&mut self, leaf: &Arc<Leaf>) {
        let json = leaf.field.source.parses_json()
            || leaf
                .reference
                .as_ref()
                .is_some_and(|r| r.source.parses_json());
        if !json && !self.by_key.contains_key(&leaf.key) {
            self.by_key.insert(leaf.key.clone(), self.leaves.len());
            self.leaves.push(Arc::clone(leaf));
        }
    }

    /// (upper, lower) bounds of `tree` from its column tests alone (as [`MatchPlan`] bounds
    /// its rules), over the working columns of the tests.
    fn bound(&mut self, tree: &Tree) -> (Value, Value) {
        match tree {
            Tree::Leaf(leaf) => {
                let json = leaf.field.source.parses_json()
                    || leaf
                        .reference
                        .as_ref()
                        .is_some_and(|r| r.source.parses_json());
                if json {
                    return (Value::Const(true), Value::Const(false));
                }
                self.test(leaf);
                let v = Value::Expr(col(test_column(leaf)));
                (v.clone(), v)
            }
            Tree::Not(inner) => {
                let (upper, lower) = self.bound(inner);
                (lower.not(), upper.not())
            }
            Tree::And(items) => {
                let (uppers, lowers) = items.iter().map(|t| self.bound(t)).unzip();
                (Value::and(uppers), Value::and(lowers))
            }
            Tree::Or(items) => {
                let (uppers, lowers) = items.iter().map(|t| self.bound(t)).unzip();
                (Value::or(uppers), Value::or(lowers))
            }
            Tree::AtLeast(n, items) => {
                let (uppers, lowers) = items.iter().map(|t| self.bound(t)).unzip();
                (Value::at_least(*n, uppers), Value::at_least(*n, lowers))
            }
        }
    }
}

fn tree_leaves<'t>(tree: &'t Tree, out: &mut Vec<&'t Arc<Leaf>>) {
    match tree {
        Tree::Leaf(leaf) => out.push(leaf),
        Tree::Not(inner) => tree_leaves(inner, out),
        Tree::And(items) | Tree::Or(items) | Tree::AtLeast(_, items) => {
            items.iter().for_each(|t| tree_leaves(t, out))
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
    let plain = |source: &FieldSource| {
        matches!(
            source,
            FieldSource::Column {
                kind: ColumnKind::Text,
                ..
            }
        )
    };
    let texts = columns
        .iter()
        .take(1 + usize::from(has_reference))
        .all(|c| c.dtype() == &DataType::String);
    if !has_mask
        && texts
        && plain(&leaf.field.source)
        && leaf.reference.as_ref().is_none_or(|r| plain(&r.source))
    {
        return evaluate_text_leaf(leaf, &columns[0], has_reference.then(|| &columns[1]));
    }
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

/// Slots of the cache of [`evaluate_text_leaf`] (a power of two).
const MEMO_SLOTS: usize = 1 << 12;

/// [`evaluate_leaf`] of a leaf over a plain text column (and a plain text reference column):
/// the test runs about once per distinct value of each chunk. A text column is a string view
/// array: a string of at most 12 bytes is its view, a longer one is a place in the chunk's
/// buffers, so equal views hold equal texts (and columns read from Parquet dictionaries
/// repeat their views). Results are remembered by view in a small direct-mapped cache.
fn evaluate_text_leaf(
    leaf: &Leaf,
    field: &Column,
    reference: Option<&Column>,
) -> PolarsResult<Column> {
    let name = field.name().clone();
    let field = field.str()?;
    match reference {
        Some(column) => {
            let column = column.str()?;
            if column.chunk_lengths().ne(field.chunk_lengths()) {
                let (field, column) = (field.rechunk(), column.rechunk());
                return evaluate_text_leaf_aligned(leaf, name, &field, Some(&column));
            }
            evaluate_text_leaf_aligned(leaf, name, field, Some(column))
        }
        None => evaluate_text_leaf_aligned(leaf, name, field, None),
    }
}

fn evaluate_text_leaf_aligned(
    leaf: &Leaf,
    name: PlSmallStr,
    field: &StringChunked,
    reference: Option<&StringChunked>,
) -> PolarsResult<Column> {
    // A view of a null: no valid view has length u32::MAX.
    const NULL_VIEW: u128 = u32::MAX as u128;
    let slot = |a: u128, b: u128| -> usize {
        let mixed = (a ^ a >> 64 ^ b.rotate_left(17) ^ b >> 64) as u64;
        (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - MEMO_SLOTS.trailing_zeros())) as usize
    };
    let mut out: Vec<bool> = Vec::with_capacity(field.len());
    let mut references = reference.map(|r| r.downcast_iter());
    for chunk in field.downcast_iter() {
        let other = references.as_mut().and_then(Iterator::next);
        // Per chunk (views point into the chunk's buffers): (field view, reference view) →
        // result.
        let mut memo: Vec<Option<(u128, u128, bool)>> = vec![None; MEMO_SLOTS];
        let views = chunk.views();
        let other_views = other.map(|o| o.views());
        for row in 0..chunk.len() {
            let value = chunk.get(row);
            let other_value = other.and_then(|o| o.get(row));
            let a = value.map_or(NULL_VIEW, |_| views[row].as_u128());
            let b = match (other_value, other_views) {
                (Some(_), Some(v)) => v[row].as_u128(),
                _ => NULL_VIEW,
            };
            let at = slot(a, b);
            if let Some((x, y, hit)) = memo[at] {
                if x == a && y == b {
                    out.push(hit);
                    continue;
                }
            }
            let values: Vec<Cow<'_, str>> = value.map(Cow::Borrowed).into_iter().collect();
            let others: Vec<Cow<'_, str>> = other_value.map(Cow::Borrowed).into_iter().collect();
            let hit = leaf.matches(&values, &others);
            memo[at] = Some((a, b, hit));
            out.push(hit);
        }
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
