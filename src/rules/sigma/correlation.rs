//! Sigma correlation rules (Sigma specification v2, "meta-rules"): a YAML document with a
//! `correlation:` section that names other rules — by `name` or `id`, in the same file
//! (`---`-separated documents) or in another file of the same load — and says how their
//! events relate:
//!
//! ```yaml
//! title: Many failed logins
//! correlation:
//!   type: event_count            # event_count | value_count | temporal | temporal_ordered
//!   rules: [failed_login]        # names or ids of the correlated rules
//!   group-by: [userIdentity.arn] # fields (or aliases) whose values must be equal
//!   timespan: 10m                # s, m, h, d
//!   condition: { gte: 10 }       # gt, gte, lt, lte, eq, neq (several: all hold);
//!                                # value_count adds `field:`
//!   aliases:                     # optional: one group-by name, a field per rule
//!     actor: { failed_login: userIdentity.arn, other_rule: requestParameters.userName }
//!   generate: false              # whether the named rules also report on their own
//! level: high
//! ```
//!
//! A document is read by [`parse_section`] when its file loads and resolved by [`resolve`]
//! once every file of the load is read, then compiled onto the window rules: `event_count`
//! and `value_count` become a `threshold` ([`crate::rules::window::threshold`]) counting
//! events or distinct values per group over the timespan; `temporal` and
//! `temporal_ordered` a `correlation` over the rules' events
//! ([`crate::rules::window::temporal`]). The correlated rules stay match rules; unless a
//! correlation naming them says `generate: true` they produce no findings of their own
//! (Sigma's default, as pySigma does: one correlation without `generate` silences them).
//!
//! Not supported, refused with a message: `value_sum`, `value_avg`, `value_percentile`,
//! `value_median`; correlations of correlations (chains); pySigma's condition expressions
//! (`condition: a and not b`); `field` naming several fields.

use std::collections::BTreeSet;

use serde_yaml_ng::{Mapping, Value};

use crate::rules::error::{ErrorKind, RuleError};
use crate::rules::fields::{Absence, FieldSource};
use crate::rules::model::{Body, Field, Format, Kind, Origin, Rule, Severity, Status};
use crate::rules::params::Params;
use crate::rules::sigma::{Cond, Detection};
use crate::rules::window::keys::RuleKeys;
use crate::rules::window::temporal::Temporal;
use crate::rules::window::threshold::Threshold;
use crate::rules::window::{parse_duration, Comparison, Op, Spec, WindowBody};
use crate::rules::yaml::{type_name, Context, FieldPath};

/// The fields of a `correlation:` section.
pub const SECTION_FIELDS: &[&str] = &[
    "type",
    "rules",
    "aliases",
    "group-by",
    "timespan",
    "condition",
    "generate",
];

/// The fields of a correlation `condition`.
const CONDITION_FIELDS: &[&str] = &["gt", "gte", "lt", "lte", "eq", "neq", "field"];

/// Correlation types of the Sigma specification this version does not evaluate.
const UNSUPPORTED_TYPES: &[&str] = &[
    "value_sum",
    "value_avg",
    "value_percentile",
    "value_median",
    "temporal_extended",
    "temporal_ordered_extended",
];

/// The correlation types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CorrelationType {
    /// Number of events per group within the timespan.
    EventCount,
    /// Number of distinct values of a field per group within the timespan.
    ValueCount,
    /// Every rule's events per group within the timespan, in any order.
    Temporal,
    /// Every rule's events per group within the timespan, in the rules' order.
    TemporalOrdered,
}

impl CorrelationType {
    /// Every type.
    pub const ALL: [CorrelationType; 4] = [
        Self::EventCount,
        Self::ValueCount,
        Self::Temporal,
        Self::TemporalOrdered,
    ];

    /// The name used in Sigma files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventCount => "event_count",
            Self::ValueCount => "value_count",
            Self::Temporal => "temporal",
            Self::TemporalOrdered => "temporal_ordered",
        }
    }

    /// The kms-audit kind it compiles to.
    pub fn kind(self) -> Kind {
        match self {
            Self::EventCount | Self::ValueCount => Kind::Threshold,
            Self::Temporal | Self::TemporalOrdered => Kind::Correlation,
        }
    }
}

/// A field alias: one group-by name, a field per correlated rule.
#[derive(Debug, Clone)]
pub struct Alias {
    /// The name used in `group-by`.
    pub name: String,
    /// (rule reference as written, field) pairs.
    pub fields: Vec<(String, Field)>,
}

/// A `correlation:` section, read and checked but not yet resolved.
#[derive(Debug, Clone)]
pub struct Section {
    /// The type.
    pub kind: CorrelationType,
    /// The correlated rules, by `name` or `id`, in order.
    pub rules: Vec<String>,
    /// The group-by fields or aliases.
    pub group_by: Vec<String>,
    /// Field aliases.
    pub aliases: Vec<Alias>,
    /// The timespan, µs.
    pub timespan: i64,
    /// Conditions on the count; all must hold. Empty only for temporal types (every rule).
    pub condition: Vec<Comparison>,
    /// The field whose distinct values `value_count` counts.
    pub field: Option<Field>,
    /// `generate` of the section, when written there (pySigma's place for it).
    pub generate: Option<bool>,
    /// The section as written.
    pub raw: Value,
}

/// A Sigma correlation document waiting for the rules it names to be loaded.
#[derive(Debug, Clone)]
pub struct Pending {
    /// `id`, when given.
    pub id: Option<String>,
    /// `name`, else the file name.
    pub name: String,
    /// `title`.
    pub title: String,
    /// `level`, when given.
    pub level: Option<Severity>,
    /// `status`.
    pub status: Option<Status>,
    /// `description`, else the title.
    pub what: String,
    /// `references`.
    pub references: Vec<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
    /// Whether the correlated rules also report on their own (`generate`, default false).
    pub generate: bool,
    /// The `correlation:` section.
    pub section: Section,
    /// Where the document is.
    pub origin: Origin,
    /// The number of rules loaded before this document (to keep file order).
    pub position: usize,
}

impl Pending {
    /// Whether `reference` names this correlation (by id, case-insensitively, or name).
    pub fn is_named(&self, reference: &str) -> bool {
        self.id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(reference))
            || self.name == reference
    }
}

/// Reads the `correlation:` section of the document `map`, reporting fields the lake does
/// not keep as warnings.
pub fn parse_section(map: &Mapping, ctx: &mut Context<'_>) -> Result<Section, RuleError> {
    let at = FieldPath::root().key("correlation");
    let raw = map.get("correlation").cloned().unwrap_or(Value::Null);
    let Value::Mapping(section) = &raw else {
        return Err(ctx.error(
            &at,
            ErrorKind::WrongType {
                expected: "a mapping (type, rules, group-by, timespan, condition)",
                found: type_name(&raw),
            },
        ));
    };
    for key in section.keys() {
        let name = key.as_str().unwrap_or_default();
        if !SECTION_FIELDS.contains(&name) {
            return Err(ctx.error(
                &at.key(name),
                ErrorKind::UnknownField {
                    context: "a Sigma correlation",
                    expected: SECTION_FIELDS.join(", "),
                },
            ));
        }
    }
    let kind = correlation_type(section, &at, ctx)?;
    let rules = texts(section, "rules", &at, ctx)?
        .ok_or_else(|| ctx.error(&at.key("rules"), ErrorKind::Missing))?;
    if rules.is_empty() {
        return Err(ctx.error(
            &at.key("rules"),
            ErrorKind::Invalid("name at least one rule".to_owned()),
        ));
    }
    let group_by = texts(section, "group-by", &at, ctx)?.unwrap_or_default();
    let timespan = match section.get("timespan") {
        None | Some(Value::Null) => return Err(ctx.error(&at.key("timespan"), ErrorKind::Missing)),
        Some(Value::String(text)) => parse_duration(text).ok_or_else(|| {
            ctx.error(
                &at.key("timespan"),
                ErrorKind::Invalid(format!(
                    "`{text}` is not a timespan: write a positive whole number followed by s, m, h or d (`90m`)"
                )),
            )
        })?,
        Some(other) => {
            return Err(ctx.error(
                &at.key("timespan"),
                ErrorKind::WrongType {
                    expected: "a timespan such as `5m` (s, m, h or d)",
                    found: type_name(other),
                },
            ))
        }
    };
    let (condition, field) = condition(section, kind, &at, ctx)?;
    if kind.kind() == Kind::Correlation
        && !condition.is_empty()
        && !(1..=rules.len()).any(|n| condition.iter().all(|c| c.holds(n as f64)))
    {
        ctx.warn(
            &at.key("condition"),
            format!(
                "no number of rules seen (1 to {}) satisfies this condition: the correlation never fires",
                rules.len()
            ),
        );
    }
    let aliases = aliases(section, &at, ctx)?;
    for (i, name) in group_by.iter().enumerate() {
        if !aliases.iter().any(|a| &a.name == name) {
            warn_if_absent(&Field::new(name), &at.key("group-by").index(i), ctx);
        }
    }
    for alias in &aliases {
        if !group_by.contains(&alias.name) {
            ctx.warn(
                &at.key("aliases").key(&alias.name),
                format!("alias `{}` is not used by `group-by`", alias.name),
            );
        }
    }
    let generate = match section.get("generate") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(ctx.error(
                &at.key("generate"),
                ErrorKind::WrongType {
                    expected: "true or false",
                    found: type_name(other),
                },
            ))
        }
    };
    Ok(Section {
        kind,
        rules,
        group_by,
        aliases,
        timespan,
        condition,
        field,
        generate,
        raw: raw.clone(),
    })
}

fn correlation_type(
    section: &Mapping,
    at: &FieldPath,
    ctx: &Context<'_>,
) -> Result<CorrelationType, RuleError> {
    let path = at.key("type");
    let text = match section.get("type") {
        None | Some(Value::Null) => return Err(ctx.error(&path, ErrorKind::Missing)),
        Some(Value::String(text)) => text.as_str(),
        Some(other) => {
            return Err(ctx.error(
                &path,
                ErrorKind::WrongType {
                    expected: "a correlation type",
                    found: type_name(other),
                },
            ))
        }
    };
    if let Some(kind) = CorrelationType::ALL
        .into_iter()
        .find(|k| k.as_str() == text)
    {
        return Ok(kind);
    }
    if UNSUPPORTED_TYPES.contains(&text) {
        return Err(ctx.error(
            &path,
            ErrorKind::Unsupported(format!(
                "`{text}` correlations are not supported by this version of kms-audit (event_count, value_count, temporal and temporal_ordered are)"
            )),
        ));
    }
    Err(ctx.error(
        &path,
        ErrorKind::NotOneOf {
            value: text.to_owned(),
            expected: CorrelationType::ALL.map(CorrelationType::as_str).join(", "),
        },
    ))
}

/// A text or a list of texts at `key`; `None` when absent.
fn texts(
    section: &Mapping,
    key: &str,
    at: &FieldPath,
    ctx: &Context<'_>,
) -> Result<Option<Vec<String>>, RuleError> {
    let path = at.key(key);
    let items: Vec<String> = match section.get(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                other => Err(ctx.error(
                    &path.index(i),
                    ErrorKind::WrongType {
                        expected: "a non-empty text",
                        found: type_name(other),
                    },
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ctx.error(
                &path,
                ErrorKind::WrongType {
                    expected: "a text or a list of texts",
                    found: type_name(other),
                },
            ))
        }
    };
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(ctx.error(
                &path.index(i),
                ErrorKind::Invalid(format!("`{item}` is listed twice")),
            ));
        }
    }
    Ok(Some(items))
}

fn condition(
    section: &Mapping,
    kind: CorrelationType,
    at: &FieldPath,
    ctx: &mut Context<'_>,
) -> Result<(Vec<Comparison>, Option<Field>), RuleError> {
    let path = at.key("condition");
    let temporal = matches!(
        kind,
        CorrelationType::Temporal | CorrelationType::TemporalOrdered
    );
    let map = match section.get("condition") {
        None | Some(Value::Null) if temporal => return Ok((Vec::new(), None)),
        None | Some(Value::Null) => return Err(ctx.error(&path, ErrorKind::Missing)),
        Some(Value::Mapping(map)) => map,
        Some(Value::String(_)) => {
            return Err(ctx.error(
                &path,
                ErrorKind::Unsupported(
                    "a condition expression over rule names is a pySigma extension, not Sigma v2, and is not supported: write a mapping such as { gte: 2 }".to_owned(),
                ),
            ))
        }
        Some(other) => {
            return Err(ctx.error(
                &path,
                ErrorKind::WrongType {
                    expected: "a mapping such as { gte: 10 }",
                    found: type_name(other),
                },
            ))
        }
    };
    let mut comparisons = Vec::new();
    let mut field = None;
    for (key, value) in map {
        let name = key.as_str().unwrap_or_default();
        let here = path.key(name);
        if !CONDITION_FIELDS.contains(&name) {
            return Err(ctx.error(
                &here,
                ErrorKind::UnknownField {
                    context: "a correlation condition",
                    expected: CONDITION_FIELDS.join(", "),
                },
            ));
        }
        if name == "field" {
            field = Some(value_field(value, &here, ctx)?);
            continue;
        }
        let op = match name {
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "eq" => Op::Eq,
            _ => Op::Neq,
        };
        let bound = match value {
            Value::Number(n) if n.as_u64().is_some() => n.as_u64().unwrap_or_default(),
            other => {
                return Err(ctx.error(
                    &here,
                    ErrorKind::WrongType {
                        expected: "a whole number (0 or more)",
                        found: type_name(other),
                    },
                ))
            }
        };
        comparisons.push(Comparison {
            op,
            bound: bound as f64,
        });
    }
    if comparisons.is_empty() {
        return Err(ctx.error(
            &path,
            ErrorKind::Invalid(
                "state a count: one of gt, gte, lt, lte, eq, neq (several: all must hold)"
                    .to_owned(),
            ),
        ));
    }
    match (kind, &field) {
        (CorrelationType::ValueCount, None) => {
            return Err(ctx.error(&path.key("field"), ErrorKind::Missing))
        }
        (CorrelationType::ValueCount, Some(_)) | (_, None) => {}
        (_, Some(_)) => {
            return Err(ctx.error(
                &path.key("field"),
                ErrorKind::Invalid(format!(
                    "only `value_count` correlations count the values of a field; this one is `{}`",
                    kind.as_str()
                )),
            ))
        }
    }
    Ok((comparisons, field))
}

/// The `field` of a value_count condition: one field (a list of one is accepted).
fn value_field(value: &Value, path: &FieldPath, ctx: &mut Context<'_>) -> Result<Field, RuleError> {
    let name = match value {
        Value::String(s) if !s.trim().is_empty() => s.clone(),
        Value::Sequence(items) if items.len() == 1 => match &items[0] {
            Value::String(s) if !s.trim().is_empty() => s.clone(),
            other => {
                return Err(ctx.error(
                    &path.index(0),
                    ErrorKind::WrongType {
                        expected: "a field name",
                        found: type_name(other),
                    },
                ))
            }
        },
        Value::Sequence(items) if items.len() > 1 => {
            return Err(ctx.error(
                path,
                ErrorKind::Unsupported(
                    "counting combinations of several fields is not supported: name one field"
                        .to_owned(),
                ),
            ))
        }
        other => {
            return Err(ctx.error(
                path,
                ErrorKind::WrongType {
                    expected: "a field name",
                    found: type_name(other),
                },
            ))
        }
    };
    let field = Field::new(&name);
    warn_if_absent(&field, path, ctx);
    Ok(field)
}

fn aliases(
    section: &Mapping,
    at: &FieldPath,
    ctx: &mut Context<'_>,
) -> Result<Vec<Alias>, RuleError> {
    let path = at.key("aliases");
    let map = match section.get("aliases") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Mapping(map)) => map,
        Some(other) => {
            return Err(ctx.error(
                &path,
                ErrorKind::WrongType {
                    expected: "a mapping of alias names to { rule: field }",
                    found: type_name(other),
                },
            ))
        }
    };
    let mut out = Vec::new();
    for (key, value) in map {
        let name = key.as_str().unwrap_or_default().to_owned();
        let here = path.key(&name);
        let Value::Mapping(fields) = value else {
            return Err(ctx.error(
                &here,
                ErrorKind::WrongType {
                    expected: "a mapping of rule names to field names",
                    found: type_name(value),
                },
            ));
        };
        let mut pairs = Vec::new();
        for (rule, field) in fields {
            let rule = rule.as_str().unwrap_or_default().to_owned();
            let field_path = here.key(&rule);
            let Value::String(field) = field else {
                return Err(ctx.error(
                    &field_path,
                    ErrorKind::WrongType {
                        expected: "a field name",
                        found: type_name(field),
                    },
                ));
            };
            let field = Field::new(field);
            warn_if_absent(&field, &field_path, ctx);
            pairs.push((rule, field));
        }
        out.push(Alias {
            name,
            fields: pairs,
        });
    }
    Ok(out)
}

fn warn_if_absent(field: &Field, path: &FieldPath, ctx: &mut Context<'_>) {
    let why = match field.source {
        FieldSource::Absent(Absence::NotKept) => "a CloudTrail field the lake does not keep",
        FieldSource::Absent(Absence::Unknown) => {
            "neither a CloudTrail record field nor a lake column"
        }
        _ => return,
    };
    ctx.warn(
        path,
        format!(
            "`{}` is {why}: it never has a value, so no event is grouped or counted by it",
            field.path
        ),
    );
}

/// The index in `rules` of the rule `reference` names: by id (case-insensitively), else by
/// name. The first of several wins (duplicates are reported by the loader).
fn find(rules: &[Rule], reference: &str) -> Option<usize> {
    rules
        .iter()
        .position(|r| r.id.eq_ignore_ascii_case(reference))
        .or_else(|| rules.iter().position(|r| r.name == reference))
}

/// Resolves `pending` against the rules loaded with it and compiles it into a window rule.
/// Returns the rule and the indices in `rules` of the rules it correlates. `correlations`
/// are every correlation of the load, to explain a reference to one.
pub fn resolve(
    pending: &Pending,
    rules: &[Rule],
    correlations: &[Pending],
) -> Result<(Rule, Vec<usize>), RuleError> {
    let origin = &pending.origin;
    let ctx = Context::new(&origin.file, origin.document, &origin.index);
    let at = FieldPath::root().key("correlation");
    let section = &pending.section;

    let mut used: Vec<usize> = Vec::new();
    for (i, reference) in section.rules.iter().enumerate() {
        let path = at.key("rules").index(i);
        let Some(index) = find(rules, reference) else {
            if correlations.iter().any(|c| c.is_named(reference)) {
                return Err(ctx.error(
                    &path,
                    ErrorKind::Unsupported(format!(
                        "`{reference}` is a correlation rule: correlations of correlations are not supported by this version of kms-audit"
                    )),
                ));
            }
            return Err(ctx.error(
                &path,
                ErrorKind::Invalid(format!(
                    "`{reference}` names no rule: no rule loaded with this file has that `name` or `id`"
                )),
            ));
        };
        let rule = &rules[index];
        if rule.kind != Kind::Match {
            return Err(ctx.error(
                &path,
                ErrorKind::Invalid(format!(
                    "`{reference}` is a `{}` rule; a correlation correlates event rules (Sigma rules or `match` rules)",
                    rule.kind
                )),
            ));
        }
        if used.contains(&index) {
            return Err(ctx.error(
                &path,
                ErrorKind::Invalid(format!(
                    "`{reference}` names the same rule as an earlier entry ({})",
                    rule.name
                )),
            ));
        }
        used.push(index);
    }
    let base: Vec<&Rule> = used.iter().map(|i| &rules[*i]).collect();

    // Each alias gives, per correlated rule, the field its events are grouped by.
    let mut alias_fields: Vec<(&str, Vec<Option<Field>>)> = Vec::new();
    for alias in &section.aliases {
        let mut per_rule: Vec<Option<Field>> = vec![None; base.len()];
        for (reference, field) in &alias.fields {
            let path = at.key("aliases").key(&alias.name).key(reference);
            let position = find(rules, reference).and_then(|i| used.iter().position(|u| *u == i));
            let Some(position) = position else {
                return Err(ctx.error(
                    &path,
                    ErrorKind::Invalid(format!(
                        "`{reference}` is not one of the rules this correlation names"
                    )),
                ));
            };
            per_rule[position] = Some(field.clone());
        }
        alias_fields.push((alias.name.as_str(), per_rule));
    }
    let mut group_by: Vec<Vec<Field>> = Vec::new();
    for (i, name) in section.group_by.iter().enumerate() {
        let column = match alias_fields.iter().find(|(a, _)| a == name) {
            None => vec![Field::new(name); base.len()],
            Some((_, per_rule)) => per_rule
                .iter()
                .zip(&base)
                .map(|(field, rule)| {
                    field.clone().ok_or_else(|| {
                        ctx.error(
                            &at.key("group-by").index(i),
                            ErrorKind::Invalid(format!(
                                "alias `{name}` gives no field for rule `{}`",
                                rule.name
                            )),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        group_by.push(column);
    }

    let mut detections = Vec::new();
    for (rule, reference) in base.iter().zip(&section.rules) {
        let Some(detection) = rule.detection() else {
            return Err(ctx.error(
                &at.key("rules"),
                ErrorKind::Invalid(format!("`{reference}` has no detection")),
            ));
        };
        detections.push(detection.clone());
    }
    let names: Vec<String> = base.iter().map(|r| r.name.clone()).collect();
    let keys = RuleKeys {
        names,
        detections: detections.clone(),
        group_by,
        labels: section.group_by.clone(),
    };
    let spec = match section.kind {
        CorrelationType::EventCount | CorrelationType::ValueCount => {
            let mut counts = section.condition.clone();
            let (events, more_events, distinct) = match &section.field {
                Some(field) if section.kind == CorrelationType::ValueCount => (
                    None,
                    Vec::new(),
                    counts.into_iter().map(|c| (field.clone(), c)).collect(),
                ),
                _ => {
                    let first = (!counts.is_empty()).then(|| counts.remove(0));
                    (first, counts, Vec::new())
                }
            };
            Spec::Threshold(Threshold {
                group_by: section.group_by.iter().map(|g| Field::new(g)).collect(),
                window: section.timespan,
                events,
                distinct,
                foreign: Vec::new(),
                more_events,
                keys: Some(keys),
            })
        }
        CorrelationType::Temporal | CorrelationType::TemporalOrdered => Spec::Temporal(Temporal {
            keys,
            window: section.timespan,
            ordered: section.kind == CorrelationType::TemporalOrdered,
            condition: section.condition.clone(),
        }),
    };
    let severity = pending.level.unwrap_or_else(|| {
        base.iter()
            .map(|r| r.severity)
            .max()
            .unwrap_or(Severity::Medium)
    });
    let rule = Rule {
        id: pending.id.clone().unwrap_or_else(|| pending.name.clone()),
        name: pending.name.clone(),
        title: pending.title.clone(),
        severity,
        kind: section.kind.kind(),
        status: pending.status,
        what: pending.what.clone(),
        why: None,
        remediation: None,
        references: pending.references.clone(),
        tags: pending.tags.clone(),
        falsepositives: pending.falsepositives.clone(),
        params: Params::new(),
        resource: crate::rules::loader::DEFAULT_RESOURCE
            .iter()
            .map(|p| Field::new(p))
            .collect(),
        body: Body::Window(WindowBody {
            detection: union(&detections, &base),
            raw_detection: Value::Null,
            raw_section: section.raw.clone(),
            spec,
        }),
        tests: Vec::new(),
        format: Format::Sigma,
        origin: pending.origin.clone(),
    };
    Ok((rule, used))
}

/// One detection matching the events any of `detections` matches (the selections of each,
/// renamed `rule/selection`).
fn union(detections: &[Detection], rules: &[&Rule]) -> Detection {
    let mut selections = Vec::new();
    let mut conditions = Vec::new();
    for (detection, rule) in detections.iter().zip(rules) {
        let offset = selections.len();
        selections.extend(
            detection
                .selections
                .iter()
                .map(|(name, tree)| (format!("{}/{name}", rule.name), tree.clone())),
        );
        conditions.push(shift(&detection.condition, offset));
    }
    let condition = if conditions.len() == 1 {
        conditions.remove(0)
    } else {
        Cond::Or(conditions)
    };
    Detection {
        selections,
        condition,
    }
}

/// `cond` with its selection indices moved by `offset`.
fn shift(cond: &Cond, offset: usize) -> Cond {
    match cond {
        Cond::Selection(i) => Cond::Selection(i + offset),
        Cond::Not(inner) => Cond::Not(Box::new(shift(inner, offset))),
        Cond::And(items) => Cond::And(items.iter().map(|c| shift(c, offset)).collect()),
        Cond::Or(items) => Cond::Or(items.iter().map(|c| shift(c, offset)).collect()),
        Cond::AtLeast(n, items) => {
            Cond::AtLeast(*n, items.iter().map(|c| shift(c, offset)).collect())
        }
    }
}

/// The rules of `rules` at `silenced` removed; `compiled` rules inserted before the rule
/// at their position (after every rule when beyond the end).
pub fn merge(
    rules: Vec<Rule>,
    compiled: Vec<(usize, Rule)>,
    silenced: &BTreeSet<usize>,
) -> Vec<Rule> {
    let mut out = Vec::with_capacity(rules.len() + compiled.len());
    let mut compiled = compiled.into_iter().peekable();
    for (i, rule) in rules.into_iter().enumerate() {
        while let Some((_, next)) = compiled.next_if(|(position, _)| *position <= i) {
            out.push(next);
        }
        if !silenced.contains(&i) {
            out.push(rule);
        }
    }
    out.extend(compiled.map(|(_, r)| r));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::loader::{finish, load_text, Loaded};

    const BASE: &str = "\
title: Bucket listing
id: f305fd62-beca-47da-ad95-7690a0620084
name: bucket_listing
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: s3.amazonaws.com
    eventName: ListBuckets
  condition: selection
level: low
---
title: Key listing
name: key_listing
logsource:
  product: aws
  service: cloudtrail
detection:
  selection:
    eventSource: kms.amazonaws.com
    eventName: ListKeys
  condition: selection
level: medium
";

    fn load(files: &[(&str, &str)]) -> Loaded {
        let mut loaded = Loaded::default();
        for (file, text) in files {
            load_text(file, None, text, &mut loaded);
        }
        finish(&mut loaded);
        loaded
    }

    fn correlation(body: &str) -> String {
        format!("title: Correlated\nid: 0e95725d-7320-415d-80f7-004da920fc11\nname: correlated\ncorrelation:\n{body}")
    }

    #[test]
    fn each_type_compiles_onto_a_window_rule() {
        let cases = [
            ("  type: event_count\n  rules: [bucket_listing]\n  group-by: [userIdentity.arn]\n  timespan: 1h\n  condition: { gte: 5 }\n", Kind::Threshold),
            ("  type: value_count\n  rules: bucket_listing\n  group-by: userIdentity.arn\n  timespan: 1d\n  condition: { field: awsRegion, gt: 2, lte: 9 }\n", Kind::Threshold),
            ("  type: temporal\n  rules: [bucket_listing, key_listing]\n  group-by: [userIdentity.arn]\n  timespan: 5m\n", Kind::Correlation),
            ("  type: temporal_ordered\n  rules: [f305fd62-beca-47da-ad95-7690a0620084, key_listing]\n  group-by: [userIdentity.arn]\n  timespan: 5m\n", Kind::Correlation),
        ];
        for (body, kind) in cases {
            let text = format!("{}---\n{BASE}", correlation(body));
            let loaded = load(&[("mr.yml", &text)]);
            assert!(loaded.is_ok(), "{body}: {:?}", loaded.errors);
            // The correlated rules do not report on their own (generate: false); the
            // others do.
            let names: Vec<&str> = loaded.rules.iter().map(|r| r.name.as_str()).collect();
            let expected: &[&str] = if kind == Kind::Threshold {
                &["correlated", "key_listing"]
            } else {
                &["correlated"]
            };
            assert_eq!(names, expected, "{body}");
            let rule = &loaded.rules[0];
            assert_eq!(rule.kind, kind);
            assert_eq!(rule.format, Format::Sigma);
            assert_eq!(rule.id, "0e95725d-7320-415d-80f7-004da920fc11");
            let Body::Window(body) = &rule.body else {
                panic!("not a window rule");
            };
            match &body.spec {
                Spec::Threshold(t) => {
                    let keys = t.keys.as_ref().expect("keys");
                    assert_eq!(keys.names, ["bucket_listing"]);
                    assert_eq!(
                        t.window,
                        3_600_000_000 * if t.distinct.is_empty() { 1 } else { 24 }
                    );
                    if t.distinct.is_empty() {
                        assert_eq!(t.events.map(|c| c.bound), Some(5.0));
                    } else {
                        assert_eq!(t.distinct.len(), 2, "a range is two conditions");
                        assert_eq!(t.distinct[0].0.path, "awsRegion");
                    }
                    // No level: the highest of the correlated rules'.
                    assert_eq!(rule.severity, Severity::Low);
                }
                Spec::Temporal(t) => {
                    assert_eq!(t.keys.names, ["bucket_listing", "key_listing"]);
                    assert_eq!(
                        t.ordered,
                        body.raw_section.get("type").and_then(Value::as_str)
                            == Some("temporal_ordered")
                    );
                    assert!(t.condition.is_empty());
                    assert_eq!(rule.severity, Severity::Medium);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn generate_keeps_the_correlated_rules_and_level_sets_the_severity() {
        let text = format!(
            "{}level: critical\n---\n{BASE}",
            correlation("  type: event_count\n  rules: [bucket_listing]\n  timespan: 1h\n  condition: { gte: 5 }\n  generate: true\n")
        );
        let loaded = load(&[("mr.yml", &text)]);
        assert!(loaded.is_ok(), "{:?}", loaded.errors);
        let names: Vec<&str> = loaded.rules.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["correlated", "bucket_listing", "key_listing"]);
        assert_eq!(loaded.rules[0].severity, Severity::Critical);
        // Top-level `generate` (the JSON schema's place) is read too.
        let text = format!(
            "{}generate: true\n---\n{BASE}",
            correlation("  type: event_count\n  rules: [bucket_listing]\n  timespan: 1h\n  condition: { gte: 5 }\n")
        );
        assert_eq!(load(&[("mr.yml", &text)]).rules.len(), 3);
    }

    #[test]
    fn references_resolve_across_files_and_aliases_per_rule() {
        let text = correlation(
            "  type: temporal\n  rules: [bucket_listing, key_listing]\n  group-by: [actor]\n  timespan: 5m\n  aliases:\n    actor:\n      bucket_listing: userIdentity.arn\n      key_listing: requestParameters.userName\n",
        );
        let loaded = load(&[("mr.yml", &text), ("base.yml", BASE)]);
        assert!(loaded.is_ok(), "{:?}", loaded.errors);
        assert_eq!(loaded.rules.len(), 1);
        let Body::Window(body) = &loaded.rules[0].body else {
            panic!("not a window rule");
        };
        let Spec::Temporal(t) = &body.spec else {
            panic!("not temporal");
        };
        let paths: Vec<&str> = t.keys.group_by[0].iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["userIdentity.arn", "requestParameters.userName"]);
        assert_eq!(t.keys.labels, ["actor"]);
        // The union detection holds both rules' selections.
        assert_eq!(body.detection.selections.len(), 2);
        assert_eq!(body.detection.selections[1].0, "key_listing/selection");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases: &[(&str, usize, &str, &str)] = &[
            (
                "  type: event_count\n  rules: [bucket_listing, nowhere]\n  timespan: 1h\n  condition: { gte: 5 }\n",
                6, "correlation.rules[1]", "`nowhere` names no rule",
            ),
            (
                "  type: event_count\n  rules: [bucket_listing]\n  timespan: 5x\n  condition: { gte: 5 }\n",
                7, "correlation.timespan", "`5x` is not a timespan",
            ),
            (
                "  type: event_count\n  rules: [bucket_listing]\n  timespan: 1h\n",
                4, "correlation.condition", "is required",
            ),
            (
                "  type: value_count\n  rules: [bucket_listing]\n  timespan: 1h\n  condition: { gte: 5 }\n",
                8, "correlation.condition.field", "is required",
            ),
            (
                "  type: value_sum\n  rules: [bucket_listing]\n  timespan: 1h\n  condition: { gte: 5, field: x }\n",
                5, "correlation.type", "not supported",
            ),
            (
                "  type: event_count\n  rules: [bucket_listing]\n  timespan: 1h\n  condition: { gte: 5 }\n  groupby: [x]\n",
                9, "correlation.groupby", "not a field of a Sigma correlation",
            ),
            (
                "  type: temporal\n  rules: [bucket_listing, key_listing]\n  group-by: [actor]\n  timespan: 1h\n  aliases:\n    actor:\n      bucket_listing: userIdentity.arn\n",
                7, "correlation.group-by[0]", "gives no field for rule `key_listing`",
            ),
            (
                "  type: temporal\n  rules: [bucket_listing]\n  timespan: 1h\n  condition: bucket_listing and key_listing\n",
                8, "correlation.condition", "pySigma extension",
            ),
        ];
        for (body, line, field, needle) in cases {
            let text = format!("{}---\n{BASE}", correlation(body));
            let loaded = load(&[("mr.yml", &text)]);
            let err = loaded
                .errors
                .first()
                .unwrap_or_else(|| panic!("{body}: no error"));
            assert_eq!((err.line, err.field.as_str()), (*line, *field), "{err}");
            assert!(
                err.to_string().starts_with(&format!("mr.yml:{line}:")),
                "{err}"
            );
            assert!(err.to_string().contains(needle), "{err}");
        }
        // A temporal condition no number of rules satisfies is worth a warning.
        let text = format!(
            "{}---\n{BASE}",
            correlation("  type: temporal\n  rules: [bucket_listing, key_listing]\n  timespan: 1h\n  condition: { gte: 3 }\n")
        );
        let loaded = load(&[("mr.yml", &text)]);
        assert!(loaded.is_ok(), "{:?}", loaded.errors);
        assert!(
            loaded.warnings[0]
                .to_string()
                .starts_with("mr.yml:8:3: correlation.condition: no number of rules seen (1 to 2)"),
            "{:?}",
            loaded.warnings
        );
        // A correlation of a correlation.
        let chained = format!(
            "{}---\ntitle: Outer\nname: outer\ncorrelation:\n  type: temporal\n  rules: [correlated, key_listing]\n  timespan: 1h\n---\n{BASE}",
            correlation("  type: event_count\n  rules: [bucket_listing]\n  timespan: 1h\n  condition: { gte: 5 }\n")
        );
        let loaded = load(&[("mr.yml", &chained)]);
        assert!(
            loaded.errors[0]
                .to_string()
                .contains("correlations of correlations"),
            "{:?}",
            loaded.errors
        );
    }

    #[test]
    fn merge_keeps_file_order() {
        let loaded = load(&[("base.yml", BASE)]);
        let rules = loaded.rules;
        let mut extra = rules[0].clone();
        extra.name = "inserted".into();
        let silenced: BTreeSet<usize> = [1].into_iter().collect();
        let merged = merge(rules, vec![(1, extra)], &silenced);
        let names: Vec<&str> = merged.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["bucket_listing", "inserted"]);
    }
}
