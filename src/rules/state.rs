//! `state` rules: a declarative filter over one derived view ([`crate::rules::views`]).
//!
//! ```yaml
//! kind: state
//! state:
//!   view: keys                       # keys | policy_statements | grants | usage | access
//!   where:                           # a mapping: every entry holds; a list of mappings: one does
//!     can_rotate: true               # `column: value` is `column|eq: value`
//!     material_age_days|gt: '%max_age_days%'
//!     state|not_in: [PendingDeletion, Deleted]
//!   detail: [material_age_days, rotate_reason]   # optional: columns shown in the finding
//! ```
//!
//! Operators: `eq` (the default), `ne`, `in`, `not_in`, `gt`, `gte`, `lt`, `lte`, `contains`,
//! `startswith`, `endswith`, `exists`. Text compares case-insensitively. A column without a
//! value satisfies only `ne`, `not_in` and `exists: false`. A value written `'%name%'` is the
//! rule parameter `name` (of any type); `%name%` inside a longer text is replaced by the
//! parameter's text. The loader checks the view, every column, operator and value type, and
//! names the file, line and field of a mistake.
//!
//! A finding per (key ARN, principal) of the matching rows; its evidence is the events the
//! view kept for those rows, its detail the `detail` columns.

use std::collections::BTreeMap;

use serde_yaml_ng::{Mapping, Value};

use crate::rules::error::{ErrorKind, EvalError, RuleError};
use crate::rules::eval::{EvalOptions, MatchOutcome};
use crate::rules::finding::{Evidence, FindingBuilder, Hit};
use crate::rules::model::{Body, Kind, Rule};
use crate::rules::params::{ParamValue, Params};
use crate::rules::views::{Cell, ColumnType, View, Views};
use crate::rules::yaml::{type_name, Context, FieldPath};

/// The section of a state rule.
pub const SECTION: &str = "state";

/// The fields of the section.
const FIELDS: &[&str] = &["view", "where", "detail"];

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal to the value (or one of the listed values).
    Eq,
    /// Different from the value (or all listed values), or without a value.
    Ne,
    /// One of the listed values.
    In,
    /// None of the listed values, or without a value.
    NotIn,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// Text containing the value.
    Contains,
    /// Text starting with the value.
    StartsWith,
    /// Text ending with the value.
    EndsWith,
    /// `true`: has a value; `false`: has none.
    Exists,
}

impl Op {
    /// Every operator.
    pub const ALL: [Op; 12] = [
        Self::Eq,
        Self::Ne,
        Self::In,
        Self::NotIn,
        Self::Gt,
        Self::Gte,
        Self::Lt,
        Self::Lte,
        Self::Contains,
        Self::StartsWith,
        Self::EndsWith,
        Self::Exists,
    ];

    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::In => "in",
            Self::NotIn => "not_in",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Contains => "contains",
            Self::StartsWith => "startswith",
            Self::EndsWith => "endswith",
            Self::Exists => "exists",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == name)
    }

    /// Whether the operator applies to columns of type `ty`.
    fn applies_to(self, ty: ColumnType) -> bool {
        match self {
            Self::Exists => true,
            Self::Eq | Self::Ne | Self::In | Self::NotIn => ty != ColumnType::Time,
            Self::Gt | Self::Gte | Self::Lt | Self::Lte => ty == ColumnType::Int,
            Self::Contains | Self::StartsWith | Self::EndsWith => ty == ColumnType::Text,
        }
    }
}

/// A literal a test compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
}

/// One `column|op: value` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    /// The column.
    pub column: String,
    /// Its position in the view.
    pub index: usize,
    /// The comparison.
    pub op: Op,
    /// The values (one for most operators; any number for `eq`, `ne`, `in`, `not_in`).
    pub values: Vec<Literal>,
}

impl Test {
    /// Whether `cell` passes.
    pub fn holds(&self, cell: &Cell) -> bool {
        let any = |f: &dyn Fn(&Literal) -> bool| self.values.iter().any(f);
        match self.op {
            Op::Exists => {
                let wanted = self.values.first() != Some(&Literal::Bool(false));
                (*cell != Cell::Null) == wanted
            }
            Op::Eq | Op::In => any(&|v| equal(cell, v)),
            Op::Ne | Op::NotIn => !any(&|v| equal(cell, v)),
            Op::Gt | Op::Gte | Op::Lt | Op::Lte => {
                let Cell::Int(x) = cell else { return false };
                any(&|v| match v {
                    Literal::Int(y) => match self.op {
                        Op::Gt => x > y,
                        Op::Gte => x >= y,
                        Op::Lt => x < y,
                        _ => x <= y,
                    },
                    _ => false,
                })
            }
            Op::Contains | Op::StartsWith | Op::EndsWith => {
                let Cell::Text(x) = cell else { return false };
                let x = x.to_lowercase();
                any(&|v| match v {
                    Literal::Text(y) => {
                        let y = y.to_lowercase();
                        match self.op {
                            Op::Contains => x.contains(&y),
                            Op::StartsWith => x.starts_with(&y),
                            _ => x.ends_with(&y),
                        }
                    }
                    _ => false,
                })
            }
        }
    }
}

fn equal(cell: &Cell, value: &Literal) -> bool {
    match (cell, value) {
        (Cell::Text(a), Literal::Text(b)) => a.eq_ignore_ascii_case(b),
        (Cell::Int(a), Literal::Int(b)) => a == b,
        (Cell::Bool(a), Literal::Bool(b)) => a == b,
        _ => false,
    }
}

/// The body of a `state` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct StateBody {
    /// The view filtered.
    pub view: View,
    /// Groups of tests: a row matches when every test of one group holds.
    pub groups: Vec<Vec<Test>>,
    /// Columns shown in a finding's detail.
    pub detail: Vec<String>,
    /// The section as written, to compile again with other parameter values.
    pub raw: Value,
}

impl StateBody {
    /// Whether row `row` of the view matches.
    pub fn matches(&self, cells: &[Cell]) -> bool {
        self.groups.iter().any(|group| {
            group
                .iter()
                .all(|t| t.holds(cells.get(t.index).unwrap_or(&Cell::Null)))
        })
    }

    /// The body compiled again with `params`.
    pub fn with_params(&self, params: &Params, ctx: &mut Context<'_>) -> Result<Self, RuleError> {
        compile(&self.raw, &FieldPath::root().key(SECTION), params, ctx)
    }
}

/// Reads the `state:` section of rule `map`.
pub fn parse(
    map: &Mapping,
    params: &Params,
    ctx: &mut Context<'_>,
) -> Result<StateBody, RuleError> {
    let root = FieldPath::root();
    for other in ["detection", "threshold", "baseline", "correlation"] {
        if map.contains_key(other) {
            return Err(ctx.error(
                &root.key(other),
                ErrorKind::Invalid(format!(
                    "a `state` rule has no `{other}`: it filters a view (`state: {{view, where}}`)"
                )),
            ));
        }
    }
    let at = root.key(SECTION);
    let section = map
        .get(SECTION)
        .ok_or_else(|| ctx.error(&at, ErrorKind::Missing))?;
    compile(section, &at, params, ctx)
}

fn compile(
    section: &Value,
    at: &FieldPath,
    params: &Params,
    ctx: &mut Context<'_>,
) -> Result<StateBody, RuleError> {
    let Value::Mapping(section_map) = section else {
        return Err(ctx.error(
            at,
            ErrorKind::WrongType {
                expected: "a mapping (view, where, detail)",
                found: type_name(section),
            },
        ));
    };
    for key in section_map.keys() {
        let name = key.as_str().unwrap_or_default();
        if !FIELDS.contains(&name) {
            return Err(ctx.error(
                &at.key(name),
                ErrorKind::UnknownField {
                    context: "a state section",
                    expected: FIELDS.join(", "),
                },
            ));
        }
    }
    let view_at = at.key("view");
    let view_name = match section_map.get("view") {
        None => return Err(ctx.error(&view_at, ErrorKind::Missing)),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ctx.error(
                &view_at,
                ErrorKind::WrongType {
                    expected: "a view name",
                    found: type_name(other),
                },
            ))
        }
    };
    let view = View::from_name(&view_name).ok_or_else(|| {
        ctx.error(
            &view_at,
            ErrorKind::NotOneOf {
                value: view_name.clone(),
                expected: View::ALL.map(View::as_str).join(", "),
            },
        )
    })?;
    let where_at = at.key("where");
    let groups = match section_map.get("where") {
        None => return Err(ctx.error(&where_at, ErrorKind::Missing)),
        Some(Value::Mapping(entries)) => vec![group(entries, &where_at, view, params, ctx)?],
        Some(Value::Sequence(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Mapping(entries) => group(entries, &where_at.index(i), view, params, ctx),
                other => Err(ctx.error(
                    &where_at.index(i),
                    ErrorKind::WrongType {
                        expected: "a mapping of `column|op: value` tests",
                        found: type_name(other),
                    },
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ctx.error(
                &where_at,
                ErrorKind::WrongType {
                    expected: "a mapping of `column|op: value` tests, or a non-empty list of them",
                    found: type_name(other),
                },
            ))
        }
    };
    let detail_at = at.key("detail");
    let detail = match section_map.get("detail") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item.as_str() {
                Some(name) if view.column(name).is_some() => Ok(name.to_owned()),
                _ => Err(ctx.error(
                    &detail_at.index(i),
                    ErrorKind::Invalid(format!(
                        "`{}` is not a column of view `{view}`",
                        crate::rules::yaml::scalar_text(item).unwrap_or_default()
                    )),
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ctx.error(
                &detail_at,
                ErrorKind::WrongType {
                    expected: "a list of column names",
                    found: type_name(other),
                },
            ))
        }
    };
    Ok(StateBody {
        view,
        groups,
        detail,
        raw: section.clone(),
    })
}

fn group(
    entries: &Mapping,
    at: &FieldPath,
    view: View,
    params: &Params,
    ctx: &Context<'_>,
) -> Result<Vec<Test>, RuleError> {
    if entries.is_empty() {
        return Err(ctx.error(
            at,
            ErrorKind::Invalid("name at least one `column|op: value` test".to_owned()),
        ));
    }
    let mut tests = Vec::new();
    for (key, value) in entries {
        let written = key.as_str().unwrap_or_default();
        let field = at.key(written);
        let (column, op_name) = written.split_once('|').unwrap_or((written, "eq"));
        let (index, ty) = view.column(column).ok_or_else(|| {
            ctx.error(
                &field,
                ErrorKind::Invalid(format!(
                    "`{column}` is not a column of view `{view}`; columns: {}",
                    view.columns()
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            )
        })?;
        let op = Op::from_name(op_name).ok_or_else(|| {
            ctx.error(
                &field,
                ErrorKind::NotOneOf {
                    value: op_name.to_owned(),
                    expected: Op::ALL.map(Op::as_str).join(", "),
                },
            )
        })?;
        if !op.applies_to(ty) {
            return Err(ctx.error(
                &field,
                ErrorKind::Invalid(format!(
                    "`{}` does not apply to `{column}`, a {} column",
                    op.as_str(),
                    ty.as_str()
                )),
            ));
        }
        let values = literals(value, &field, params, ctx)?;
        let wanted = if op == Op::Exists {
            ColumnType::Bool
        } else {
            ty
        };
        let many = matches!(op, Op::Eq | Op::Ne | Op::In | Op::NotIn);
        if values.is_empty() && !many {
            return Err(ctx.error(&field, ErrorKind::Invalid("needs a value".to_owned())));
        }
        if values.len() > 1 && !many {
            return Err(ctx.error(
                &field,
                ErrorKind::Invalid(format!("`{}` takes one value", op.as_str())),
            ));
        }
        for v in &values {
            let ok = matches!(
                (v, wanted),
                (Literal::Text(_), ColumnType::Text)
                    | (Literal::Int(_), ColumnType::Int)
                    | (Literal::Bool(_), ColumnType::Bool)
            );
            if !ok {
                return Err(ctx.error(
                    &field,
                    ErrorKind::Invalid(format!(
                        "`{}` is not a {} value, as `{column}|{}` needs",
                        literal_text(v),
                        wanted.as_str(),
                        op.as_str()
                    )),
                ));
            }
        }
        tests.push(Test {
            column: column.to_owned(),
            index,
            op,
            values,
        });
    }
    Ok(tests)
}

fn literal_text(v: &Literal) -> String {
    match v {
        Literal::Text(t) => t.clone(),
        Literal::Int(i) => i.to_string(),
        Literal::Bool(b) => b.to_string(),
    }
}

/// The literals of a value: scalars, lists of scalars and `%param%` references.
fn literals(
    value: &Value,
    at: &FieldPath,
    params: &Params,
    ctx: &Context<'_>,
) -> Result<Vec<Literal>, RuleError> {
    match value {
        Value::Sequence(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if matches!(item, Value::Sequence(_) | Value::Mapping(_)) {
                    return Err(ctx.error(
                        &at.index(i),
                        ErrorKind::WrongType {
                            expected: "a scalar",
                            found: type_name(item),
                        },
                    ));
                }
                out.extend(literals(item, &at.index(i), params, ctx)?);
            }
            Ok(out)
        }
        Value::Bool(b) => Ok(vec![Literal::Bool(*b)]),
        Value::Number(n) => n.as_i64().map(|i| vec![Literal::Int(i)]).ok_or_else(|| {
            ctx.error(
                at,
                ErrorKind::Invalid(format!("`{n}` is not a whole number")),
            )
        }),
        Value::String(s) => expand(s, at, params, ctx),
        Value::Null => Ok(Vec::new()),
        other => Err(ctx.error(
            at,
            ErrorKind::WrongType {
                expected: "a value, a list of values or a `%parameter%`",
                found: type_name(other),
            },
        )),
    }
}

/// A text value with its `%param%` references filled in.
fn expand(
    text: &str,
    at: &FieldPath,
    params: &Params,
    ctx: &Context<'_>,
) -> Result<Vec<Literal>, RuleError> {
    let unknown = |name: &str| {
        ctx.error(
            at,
            ErrorKind::Param(format!("`%{name}%` names no parameter of the rule")),
        )
    };
    if let Some(name) = text
        .strip_prefix('%')
        .and_then(|t| t.strip_suffix('%'))
        .filter(|n| !n.is_empty() && !n.contains('%'))
    {
        return match params.get(name) {
            Some(ParamValue::Bool(b)) => Ok(vec![Literal::Bool(*b)]),
            Some(ParamValue::Int(i)) => Ok(vec![Literal::Int(*i)]),
            Some(ParamValue::Float(f)) => Err(ctx.error(
                at,
                ErrorKind::Param(format!(
                    "`%{name}%` is the number {f}; view columns hold whole numbers"
                )),
            )),
            Some(ParamValue::Text(t)) => Ok(vec![Literal::Text(t.clone())]),
            Some(ParamValue::List(items)) => {
                Ok(items.iter().map(|t| Literal::Text(t.clone())).collect())
            }
            None => Err(unknown(name)),
        };
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else { break };
        let name = &after[..end];
        let value = match params.get(name) {
            Some(ParamValue::Text(t)) => t.clone(),
            Some(ParamValue::Int(i)) => i.to_string(),
            Some(ParamValue::Bool(b)) => b.to_string(),
            Some(ParamValue::Float(f)) => f.to_string(),
            Some(ParamValue::List(_)) => {
                return Err(ctx.error(
                    at,
                    ErrorKind::Param(format!("`%{name}%` is a list: write it as the whole value")),
                ))
            }
            None => return Err(unknown(name)),
        };
        out.push_str(&rest[..start]);
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(vec![Literal::Text(out)])
}

/// Evaluates the state rules among `rules` over `views`.
pub fn evaluate_views(rules: &[&Rule], views: &Views, options: &EvalOptions) -> MatchOutcome {
    let mut outcome = MatchOutcome::default();
    for rule in rules {
        let Body::State(body) = &rule.body else {
            continue;
        };
        let table = views.table(body.view);
        let resource = body.view.resource_column();
        let principal = body.view.principal_column();
        let mut builder = FindingBuilder::new(options.max_evidence);
        let mut details: BTreeMap<(Option<String>, Option<String>), Vec<String>> = BTreeMap::new();
        let mut matched = 0u64;
        for (index, row) in table.rows.iter().enumerate() {
            if !body.matches(&row.cells) {
                continue;
            }
            matched += 1;
            let text = |column: &str| match table.get(index, column) {
                Cell::Text(t) => Some(t.clone()),
                _ => None,
            };
            let resource = text(resource);
            let principal = principal.and_then(text);
            if !body.detail.is_empty() {
                let shown: Vec<String> = body
                    .detail
                    .iter()
                    .map(|c| format!("{c}: {}", table.get(index, c).display()))
                    .collect();
                let entry = details
                    .entry((resource.clone(), principal.clone()))
                    .or_default();
                let shown = shown.join(", ");
                if !entry.contains(&shown) {
                    entry.push(shown);
                }
            }
            let mut evidence: Vec<&Evidence> = row
                .evidence
                .iter()
                .filter_map(|k| views.evidence.get(k))
                .collect();
            if evidence.is_empty() {
                builder.add(Hit {
                    resource,
                    principal,
                    time_us: views.as_of,
                    evidence: Evidence {
                        event_id: None,
                        event_time: crate::rules::finding::rfc3339(views.as_of),
                        event_name: format!("({} view)", body.view),
                        source_file: String::new(),
                        source_record: 0,
                    },
                });
                continue;
            }
            evidence.dedup();
            for e in evidence {
                let time_us = chrono::DateTime::parse_from_rfc3339(&e.event_time)
                    .map_or(views.as_of, |t| t.timestamp_micros());
                builder.add(Hit {
                    resource: resource.clone(),
                    principal: principal.clone(),
                    time_us,
                    evidence: e.clone(),
                });
            }
        }
        let mut findings = builder.finish(rule);
        for finding in &mut findings {
            if let Some(shown) = details.get(&(finding.resource.clone(), finding.principal.clone()))
            {
                finding.detail = Some(shown.join("; "));
            }
        }
        outcome.findings.extend(findings);
        outcome.matched.push((rule.id.clone(), matched));
    }
    outcome
}

/// Evaluates the state rules among `rules` over the lake's `events`, with the key inventory
/// of `options` when there is one: the views are built only when some rule needs them.
pub fn evaluate(
    rules: &[&Rule],
    events: &polars::prelude::LazyFrame,
    options: &EvalOptions,
) -> Result<MatchOutcome, EvalError> {
    let state: Vec<&Rule> = rules
        .iter()
        .copied()
        .filter(|r| r.kind == Kind::State)
        .collect();
    if state.is_empty() {
        return Ok(MatchOutcome::default());
    }
    // Only the views some rule reads are built.
    let wanted = |view: View| {
        state
            .iter()
            .any(|r| matches!(&r.body, Body::State(b) if b.view == view))
    };
    let views = Views::build_with(
        events.clone(),
        options.inventory.as_deref(),
        options.integrity.as_deref(),
        &wanted,
    )?;
    Ok(evaluate_views(&state, &views, options))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::yaml::KeyIndex;

    fn compile_text(text: &str, params: &Params) -> Result<StateBody, RuleError> {
        let index = KeyIndex::new(text);
        let mut ctx = Context::new("r.yml", 0, &index);
        let value: Value = serde_yaml_ng::from_str(text).expect("yaml");
        let Value::Mapping(map) = value else {
            panic!("mapping")
        };
        parse(&map, params, &mut ctx)
    }

    #[test]
    fn filters_compile_and_match() {
        let mut params = Params::new();
        params.insert("max_age_days".into(), ParamValue::Int(365));
        params.insert("skip".into(), ParamValue::List(vec!["Deleted".into()]));
        let body = compile_text(
            "state:\n  view: keys\n  where:\n    can_rotate: true\n    material_age_days|gt: '%max_age_days%'\n    state|not_in: '%skip%'\n",
            &params,
        )
        .expect("valid");
        assert_eq!(body.view, View::Keys);
        assert_eq!(body.groups[0].len(), 3);
        let mut cells = vec![Cell::Null; View::Keys.columns().len()];
        let set = |cells: &mut Vec<Cell>, name: &str, cell: Cell| {
            let (i, _) = View::Keys.column(name).expect("column");
            cells[i] = cell;
        };
        set(&mut cells, "can_rotate", Cell::Bool(true));
        set(&mut cells, "material_age_days", Cell::Int(400));
        assert!(body.matches(&cells), "null state passes not_in");
        set(&mut cells, "state", Cell::Text("deleted".into()));
        assert!(!body.matches(&cells), "case-insensitive");
        set(&mut cells, "state", Cell::Text("Enabled".into()));
        set(&mut cells, "material_age_days", Cell::Int(365));
        assert!(!body.matches(&cells));
    }

    #[test]
    fn mistakes_name_the_field() {
        let params = Params::new();
        let cases = [
            (
                "state:\n  view: kees\n  where: {a: 1}\n",
                "state.view",
                "kees",
            ),
            (
                "state:\n  view: keys\n  where:\n    colour: red\n",
                "state.where.colour",
                "not a column",
            ),
            (
                "state:\n  view: keys\n  where:\n    state|gt: 3\n",
                "state.where.state|gt",
                "does not apply",
            ),
            (
                "state:\n  view: keys\n  where:\n    age_days|gt: ten\n",
                "state.where.age_days|gt",
                "integer",
            ),
            (
                "state:\n  view: keys\n  where:\n    age_days|gt: '%nope%'\n",
                "state.where.age_days|gt",
                "nope",
            ),
            (
                "state:\n  view: keys\n  where:\n    age_days|around: 3\n",
                "state.where.age_days|around",
                "around",
            ),
            ("state:\n  view: keys\n", "state.where", "required"),
            (
                "state:\n  view: keys\n  when: {}\n",
                "state.when",
                "not a field",
            ),
            ("detection: {}\nstate: {}\n", "detection", "no `detection`"),
        ];
        for (text, field, needle) in cases {
            let err = compile_text(text, &params).expect_err(text);
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().contains(needle), "{err}");
            assert!(err.line >= 1);
        }
    }
}
