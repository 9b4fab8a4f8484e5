//! Sigma detection for `match` rules: named selections of field tests and a condition that
//! combines them, compiled once into a tree of [`Leaf`] tests.
//!
//! A selection is a mapping (its entries must all hold) or a list of mappings (one must
//! hold). An entry is `field|modifier|…: value` or a list of values (one must match, or all
//! with `all`). Values are case-insensitive strings with `*`/`?` wildcards unless a modifier
//! says otherwise; `null` matches a field without a value. Supported modifiers: `contains`,
//! `startswith`, `endswith`, `all`, `cased`, `re` (with `i`, `m`, `s`), `cidr`, `exists`,
//! `fieldref`, `expand` (placeholders `%name%` filled from the rule's parameters), `lt`,
//! `lte`, `gt`, `gte`, and `allows`, a kms-audit extension that reads the field as an IAM
//! policy document ([`policy`]). Keyword searches (values without a field) and the encoding
//! modifiers (`base64`, `utf16`, `windash`, …) are refused with a message: the lake keeps
//! fields, not the raw record.

pub mod condition;
pub mod correlation;
pub mod pattern;
pub mod policy;

use std::borrow::Cow;
use std::sync::Arc;

use serde_yaml_ng::{Mapping, Value};

use crate::rules::error::{ErrorKind, RuleError};
use crate::rules::fields::{Absence, FieldSource};
use crate::rules::model::Field;
use crate::rules::params::Params;
use crate::rules::yaml::{scalar_text, type_name, Context, FieldPath};

pub use condition::Cond;
use pattern::{Cidr, Compare, Position, RegexFlags, TextMatch};
use policy::Allows;

/// The `condition` key of a detection.
pub const CONDITION: &str = "condition";
/// Sigma v1's `timeframe` key, refused.
const TIMEFRAME: &str = "timeframe";

/// A compiled detection.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Selections by name, in file order.
    pub selections: Vec<(String, Tree)>,
    /// The condition over the selections.
    pub condition: Cond,
}

/// A boolean combination of field tests.
#[derive(Debug, Clone)]
pub enum Tree {
    /// One field test.
    Leaf(Arc<Leaf>),
    /// Negation.
    Not(Box<Tree>),
    /// All hold.
    And(Vec<Tree>),
    /// One holds.
    Or(Vec<Tree>),
    /// At least this many hold.
    AtLeast(usize, Vec<Tree>),
}

/// A test of one field's values.
#[derive(Debug)]
pub struct Leaf {
    /// The field tested.
    pub field: Field,
    /// The field a `fieldref` test compares with.
    pub reference: Option<Field>,
    /// The value tests; one must pass, or all with `all`. No tests never match.
    pub tests: Vec<ValueTest>,
    /// Whether every test must pass.
    pub all: bool,
    /// A canonical description: leaves with the same key test the same thing, and rules
    /// share their evaluation.
    pub key: String,
}

/// One test of a field's values. A field may have several values (an array inside
/// `requestParameters`); a test passes when one of them does.
#[derive(Debug, Clone)]
pub enum ValueTest {
    /// The field has no value (`null`).
    Null,
    /// The field has (`true`) or has not (`false`) a value (`exists`).
    Exists(bool),
    /// A string test.
    Text(TextMatch),
    /// An address in a network (`cidr`).
    Cidr(Cidr),
    /// A numeric comparison (`lt`, `lte`, `gt`, `gte`).
    Compare(Compare, f64),
    /// Equal to (or containing, starting or ending with) a value of the leaf's
    /// `reference` field (`fieldref`).
    FieldRef {
        /// Where the other field's value must occur.
        position: Position,
        /// Case-sensitive.
        cased: bool,
    },
    /// The value is an IAM policy document that allows the action on every resource of its
    /// service (`allows`).
    Allows(Allows),
}

impl Leaf {
    /// Whether the leaf holds for a field with `values` (the referenced field having
    /// `other`).
    pub fn matches(&self, values: &[Cow<'_, str>], other: &[Cow<'_, str>]) -> bool {
        if self.tests.is_empty() {
            return false;
        }
        let passes = |test: &ValueTest| test.matches(values, other);
        if self.all {
            self.tests.iter().all(passes)
        } else {
            self.tests.iter().any(passes)
        }
    }
}

impl ValueTest {
    fn matches(&self, values: &[Cow<'_, str>], other: &[Cow<'_, str>]) -> bool {
        match self {
            Self::Null => values.is_empty(),
            Self::Exists(expected) => values.is_empty() != *expected,
            Self::Text(text) => values.iter().any(|v| text.is_match(v)),
            Self::Cidr(net) => values.iter().any(|v| net.contains(v)),
            Self::Allows(action) => values.iter().any(|v| action.is_granted_by(v)),
            Self::Compare(op, bound) => values
                .iter()
                .filter_map(|v| v.trim().parse::<f64>().ok())
                .any(|v| op.holds(v, *bound)),
            Self::FieldRef { position, cased } => values.iter().any(|v| {
                other.iter().any(|o| {
                    let (v, o) = if *cased {
                        (Cow::Borrowed(v.as_ref()), Cow::Borrowed(o.as_ref()))
                    } else {
                        (Cow::Owned(v.to_lowercase()), Cow::Owned(o.to_lowercase()))
                    };
                    match position {
                        Position::Whole => v == o,
                        Position::Contains => v.contains(o.as_ref()),
                        Position::Start => v.starts_with(o.as_ref()),
                        Position::End => v.ends_with(o.as_ref()),
                    }
                })
            }),
        }
    }
}

impl Detection {
    /// The condition with every selection replaced by its tests.
    pub fn tree(&self) -> Tree {
        self.expand(&self.condition)
    }

    fn expand(&self, cond: &Cond) -> Tree {
        match cond {
            Cond::Selection(i) => self.selections[*i].1.clone(),
            Cond::Not(inner) => Tree::Not(Box::new(self.expand(inner))),
            Cond::And(items) => Tree::And(items.iter().map(|c| self.expand(c)).collect()),
            Cond::Or(items) => Tree::Or(items.iter().map(|c| self.expand(c)).collect()),
            Cond::AtLeast(n, items) => {
                Tree::AtLeast(*n, items.iter().map(|c| self.expand(c)).collect())
            }
        }
    }

    /// Every leaf of every selection, in file order.
    pub fn leaves(&self) -> Vec<Arc<Leaf>> {
        let mut out = Vec::new();
        for (_, tree) in &self.selections {
            tree.collect_leaves(&mut out);
        }
        out
    }
}

impl Tree {
    /// Appends the tree's leaves to `out`.
    pub fn collect_leaves(&self, out: &mut Vec<Arc<Leaf>>) {
        match self {
            Self::Leaf(leaf) => out.push(Arc::clone(leaf)),
            Self::Not(inner) => inner.collect_leaves(out),
            Self::And(items) | Self::Or(items) | Self::AtLeast(_, items) => {
                for item in items {
                    item.collect_leaves(out);
                }
            }
        }
    }
}

/// Compiles the detection mapping found at `path`, filling `expand` placeholders from
/// `params`.
pub fn compile(
    value: &Value,
    path: &FieldPath,
    params: &Params,
    ctx: &mut Context<'_>,
) -> Result<Detection, RuleError> {
    let Value::Mapping(map) = value else {
        return Err(ctx.error(
            path,
            ErrorKind::WrongType {
                expected: "a mapping of selections and a condition",
                found: type_name(value),
            },
        ));
    };
    let mut selections = Vec::new();
    let mut condition_value = None;
    for (key, item) in map {
        let Some(name) = key.as_str() else {
            return Err(ctx.error(
                path,
                ErrorKind::Detection(format!(
                    "selection names must be text, found {}",
                    type_name(key)
                )),
            ));
        };
        let item_path = path.key(name);
        match name {
            CONDITION => condition_value = Some((item, item_path)),
            TIMEFRAME => {
                return Err(ctx.error(
                    &item_path,
                    ErrorKind::Unsupported(
                        "`timeframe` with `| count()` is Sigma v1 syntax, dropped in Sigma v2: write a correlation rule instead".to_owned(),
                    ),
                ))
            }
            _ => {
                let tree = selection(item, &item_path, params, ctx)?;
                selections.push((name.to_owned(), tree));
            }
        }
    }
    let Some((condition_value, condition_path)) = condition_value else {
        return Err(ctx.error(&path.key(CONDITION), ErrorKind::Missing));
    };
    if selections.is_empty() {
        return Err(ctx.error(
            path,
            ErrorKind::Detection("a detection needs at least one selection".to_owned()),
        ));
    }
    let names: Vec<String> = selections.iter().map(|(n, _)| n.clone()).collect();
    let texts: Vec<(&str, FieldPath)> = match condition_value {
        Value::String(text) => vec![(text.as_str(), condition_path.clone())],
        Value::Sequence(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .map(|t| (t, condition_path.index(i)))
                    .ok_or_else(|| {
                        ctx.error(
                            &condition_path.index(i),
                            ErrorKind::WrongType {
                                expected: "a condition text",
                                found: type_name(item),
                            },
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(ctx.error(
                &condition_path,
                ErrorKind::WrongType {
                    expected: "a condition text or a list of them",
                    found: type_name(other),
                },
            ))
        }
    };
    let mut conditions = Vec::new();
    for (text, at) in texts {
        let cond = condition::parse(text, &names)
            .map_err(|message| ctx.error(&at, ErrorKind::Condition(message)))?;
        conditions.push(cond);
    }
    let condition = if conditions.len() == 1 {
        conditions.remove(0)
    } else {
        Cond::Or(conditions)
    };
    let mut used = vec![false; names.len()];
    mark_used(&condition, &mut used);
    for (name, used) in names.iter().zip(used) {
        if !used {
            ctx.warn(
                &path.key(name),
                format!("selection `{name}` is not used by the condition"),
            );
        }
    }
    Ok(Detection {
        selections,
        condition,
    })
}

fn mark_used(cond: &Cond, used: &mut [bool]) {
    match cond {
        Cond::Selection(i) => used[*i] = true,
        Cond::Not(inner) => mark_used(inner, used),
        Cond::And(items) | Cond::Or(items) | Cond::AtLeast(_, items) => {
            for item in items {
                mark_used(item, used);
            }
        }
    }
}

fn selection(
    value: &Value,
    path: &FieldPath,
    params: &Params,
    ctx: &mut Context<'_>,
) -> Result<Tree, RuleError> {
    match value {
        Value::Mapping(map) => field_map(map, path, params, ctx),
        Value::Sequence(items) if items.iter().all(|i| matches!(i, Value::Mapping(_))) => {
            if items.is_empty() {
                return Err(ctx.error(
                    path,
                    ErrorKind::Detection("an empty selection matches nothing".to_owned()),
                ));
            }
            let mut alternatives = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if let Value::Mapping(map) = item {
                    alternatives.push(field_map(map, &path.index(i), params, ctx)?);
                }
            }
            Ok(Tree::Or(alternatives))
        }
        Value::Sequence(_) | Value::String(_) | Value::Number(_) | Value::Bool(_) => Err(ctx.error(
            path,
            ErrorKind::Unsupported(
                "keyword searches (values without a field name) are not supported: the lake keeps CloudTrail fields, not the raw record; name the field".to_owned(),
            ),
        )),
        other => Err(ctx.error(
            path,
            ErrorKind::WrongType {
                expected: "a mapping of fields or a list of mappings",
                found: type_name(other),
            },
        )),
    }
}

fn field_map(
    map: &Mapping,
    path: &FieldPath,
    params: &Params,
    ctx: &mut Context<'_>,
) -> Result<Tree, RuleError> {
    if map.is_empty() {
        return Err(ctx.error(
            path,
            ErrorKind::Detection("an empty selection matches nothing".to_owned()),
        ));
    }
    let mut entries = Vec::new();
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            return Err(ctx.error(
                path,
                ErrorKind::Detection(format!(
                    "field names must be text, found {}",
                    type_name(key)
                )),
            ));
        };
        entries.push(entry(key, value, &path.key(key), params, ctx)?);
    }
    Ok(if entries.len() == 1 {
        entries.remove(0)
    } else {
        Tree::And(entries)
    })
}

/// Modifiers of one field entry.
#[derive(Debug, Default)]
struct Modifiers {
    position: Option<Position>,
    all: bool,
    cased: bool,
    regex: Option<RegexFlags>,
    cidr: bool,
    exists: bool,
    fieldref: bool,
    expand: bool,
    compare: Option<Compare>,
    allows: bool,
}

fn modifiers(names: &[&str]) -> Result<Modifiers, ErrorKind> {
    let mut m = Modifiers::default();
    let mut seen_re = false;
    for name in names {
        match *name {
            "contains" | "startswith" | "endswith" => {
                let position = match *name {
                    "contains" => Position::Contains,
                    "startswith" => Position::Start,
                    _ => Position::End,
                };
                if m.position.is_some_and(|p| p != position) {
                    return Err(ErrorKind::Modifier(
                        "only one of contains, startswith, endswith may be used".to_owned(),
                    ));
                }
                m.position = Some(position);
            }
            "all" => m.all = true,
            "cased" => m.cased = true,
            "re" => {
                seen_re = true;
                m.regex = Some(RegexFlags::default());
            }
            "i" | "m" | "s" => {
                let Some(flags) = m.regex.as_mut().filter(|_| seen_re) else {
                    return Err(ErrorKind::Modifier(format!(
                        "`{name}` is a sub-modifier of `re` and must follow it"
                    )));
                };
                match *name {
                    "i" => flags.ignore_case = true,
                    "m" => flags.multi_line = true,
                    _ => flags.dot_all = true,
                }
            }
            "cidr" => m.cidr = true,
            "exists" => m.exists = true,
            "fieldref" => m.fieldref = true,
            "expand" => m.expand = true,
            "lt" => m.compare = Some(Compare::Less),
            "lte" => m.compare = Some(Compare::LessOrEqual),
            "gt" => m.compare = Some(Compare::Greater),
            "gte" => m.compare = Some(Compare::GreaterOrEqual),
            "allows" => m.allows = true,
            "base64" | "base64offset" | "utf16le" | "utf16be" | "utf16" | "wide" | "windash"
            | "neq" | "minute" | "hour" | "day" | "week" | "month" | "year" => {
                return Err(ErrorKind::Unsupported(format!(
                    "the `{name}` modifier is not supported by kms-audit"
                )))
            }
            "" => return Err(ErrorKind::Modifier("empty modifier (`||`)".to_owned())),
            other => {
                return Err(ErrorKind::Modifier(format!(
                    "`{other}` is not a Sigma modifier"
                )))
            }
        }
    }
    let kinds = [
        m.regex.is_some(),
        m.cidr,
        m.exists,
        m.fieldref,
        m.compare.is_some(),
        m.allows,
    ]
    .iter()
    .filter(|k| **k)
    .count();
    if kinds > 1 {
        return Err(ErrorKind::Modifier(
            "re, cidr, exists, fieldref, allows and the comparisons cannot be combined".to_owned(),
        ));
    }
    let special = m.regex.is_some() || m.cidr || m.exists || m.compare.is_some() || m.allows;
    if m.position.is_some() && special {
        return Err(ErrorKind::Modifier(
            "contains, startswith and endswith apply to plain and fieldref values only".to_owned(),
        ));
    }
    if m.cased && special {
        return Err(ErrorKind::Modifier(
            "cased applies to plain and fieldref values only (use re without i for a case-sensitive regex)".to_owned(),
        ));
    }
    Ok(m)
}

/// A value of an entry: text, or `null`.
enum EntryValue {
    Text(String),
    Null,
    Bool(bool),
}

fn entry(
    key: &str,
    value: &Value,
    path: &FieldPath,
    params: &Params,
    ctx: &mut Context<'_>,
) -> Result<Tree, RuleError> {
    let mut parts = key.split('|');
    let field_path = parts.next().unwrap_or_default();
    if field_path.is_empty() {
        return Err(ctx.error(
            path,
            ErrorKind::Unsupported(
                "keyword searches (modifiers without a field name) are not supported: the lake keeps CloudTrail fields, not the raw record".to_owned(),
            ),
        ));
    }
    let names: Vec<&str> = parts.collect();
    let m = modifiers(&names).map_err(|kind| ctx.error(path, kind))?;
    let field = Field::new(field_path);
    warn_if_absent(&field, path, ctx);

    let mut values = Vec::new();
    let raw_values: Vec<(&Value, FieldPath)> = match value {
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (v, path.index(i)))
            .collect(),
        single => vec![(single, path.clone())],
    };
    for (raw, at) in raw_values {
        match raw {
            Value::Null => values.push(EntryValue::Null),
            Value::Bool(b) => values.push(EntryValue::Bool(*b)),
            other => match scalar_text(other) {
                Some(text) if m.expand => {
                    for expanded in expand(&text, params).map_err(|kind| ctx.error(&at, kind))? {
                        values.push(EntryValue::Text(expanded));
                    }
                }
                Some(text) => values.push(EntryValue::Text(text)),
                None => {
                    return Err(ctx.error(
                        &at,
                        ErrorKind::WrongType {
                            expected: "a text, number, boolean or null",
                            found: type_name(other),
                        },
                    ))
                }
            },
        }
    }

    if m.fieldref {
        let mut leaves = Vec::new();
        for value in values {
            let EntryValue::Text(name) = value else {
                return Err(ctx.error(
                    path,
                    ErrorKind::Detection("fieldref values must be field names".to_owned()),
                ));
            };
            let reference = Field::new(&name);
            warn_if_absent(&reference, path, ctx);
            let test = ValueTest::FieldRef {
                position: m.position.unwrap_or(Position::Whole),
                cased: m.cased,
            };
            leaves.push(Tree::Leaf(Arc::new(leaf(
                field.clone(),
                Some(reference),
                vec![test],
                false,
            ))));
        }
        return Ok(match leaves.len() {
            1 => leaves.remove(0),
            _ if m.all => Tree::And(leaves),
            _ => Tree::Or(leaves),
        });
    }

    let mut tests = Vec::new();
    for value in values {
        let test = match value {
            EntryValue::Null
                if m.exists || m.cidr || m.compare.is_some() || m.regex.is_some() || m.allows =>
            {
                return Err(ctx.error(
                    path,
                    ErrorKind::Detection("null cannot be used with this modifier".to_owned()),
                ))
            }
            EntryValue::Null => ValueTest::Null,
            EntryValue::Bool(b) if m.exists => ValueTest::Exists(b),
            EntryValue::Text(t) if m.exists && (t == "true" || t == "false") => {
                ValueTest::Exists(t == "true")
            }
            _ if m.exists => {
                return Err(ctx.error(
                    path,
                    ErrorKind::Detection("exists takes true or false".to_owned()),
                ))
            }
            EntryValue::Bool(b) => text_test(&b.to_string(), &m).map_err(|k| ctx.error(path, k))?,
            EntryValue::Text(text) => text_test(&text, &m).map_err(|k| ctx.error(path, k))?,
        };
        tests.push(test);
    }
    Ok(Tree::Leaf(Arc::new(leaf(field, None, tests, m.all))))
}

fn text_test(text: &str, m: &Modifiers) -> Result<ValueTest, ErrorKind> {
    if let Some(flags) = m.regex {
        return pattern::regex(text, flags)
            .map(ValueTest::Text)
            .map_err(ErrorKind::Regex);
    }
    if m.allows {
        return Allows::parse(text)
            .map(ValueTest::Allows)
            .map_err(ErrorKind::Detection);
    }
    if m.cidr {
        return Cidr::parse(text)
            .map(ValueTest::Cidr)
            .map_err(ErrorKind::Detection);
    }
    if let Some(op) = m.compare {
        return text
            .trim()
            .parse::<f64>()
            .map(|bound| ValueTest::Compare(op, bound))
            .map_err(|_| ErrorKind::Detection(format!("`{text}` is not a number")));
    }
    pattern::wildcard(text, m.position.unwrap_or(Position::Whole), m.cased)
        .map(ValueTest::Text)
        .map_err(ErrorKind::Regex)
}

fn leaf(field: Field, reference: Option<Field>, tests: Vec<ValueTest>, all: bool) -> Leaf {
    let key = format!(
        "{}|{:?}|{tests:?}|{all}",
        field.path,
        reference.as_ref().map(|r| &r.path)
    );
    Leaf {
        field,
        reference,
        tests,
        all,
        key,
    }
}

fn warn_if_absent(field: &Field, path: &FieldPath, ctx: &mut Context<'_>) {
    match field.source {
        FieldSource::Absent(Absence::NotKept) => ctx.warn(
            path,
            format!(
                "`{}` is a CloudTrail field the lake does not keep: it never has a value here",
                field.path
            ),
        ),
        FieldSource::Absent(Absence::Unknown) => ctx.warn(
            path,
            format!(
                "`{}` is neither a CloudTrail record field nor a lake column: it never has a value",
                field.path
            ),
        ),
        _ => {}
    }
}

/// Fills the `%name%` placeholders of `text` from `params`. A value that is exactly one
/// placeholder of a list parameter becomes one value per item (none for an empty list).
fn expand(text: &str, params: &Params) -> Result<Vec<String>, ErrorKind> {
    let lookup = |name: &str| {
        params.get(name).ok_or_else(|| {
            ErrorKind::Param(format!(
                "placeholder %{name}% names no parameter of this rule; declare it under `params`"
            ))
        })
    };
    if let Some(name) = text
        .strip_prefix('%')
        .and_then(|t| t.strip_suffix('%'))
        .filter(|n| !n.is_empty() && !n.contains('%'))
    {
        return Ok(lookup(name)?.expansions());
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else {
            break;
        };
        let name = &after[..end];
        let value = lookup(name)?;
        if matches!(value, crate::rules::params::ParamValue::List(_)) {
            return Err(ErrorKind::Param(format!(
                "list parameter %{name}% must be the whole value to expand"
            )));
        }
        out.push_str(&rest[..start]);
        out.push_str(&value.to_string());
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(vec![out])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::params::ParamValue;
    use crate::rules::yaml::KeyIndex;

    fn compile_text(text: &str, params: &Params) -> Result<(Detection, usize), RuleError> {
        let value: Value = serde_yaml_ng::from_str(text).expect("yaml");
        let index = KeyIndex::new(text);
        let mut ctx = Context::new("t.yml", 0, &index);
        let detection = compile(&value, &FieldPath::root(), params, &mut ctx)?;
        Ok((detection, ctx.warnings.len()))
    }

    fn eval(tree: &Tree, get: &dyn Fn(&str) -> Vec<&'static str>) -> bool {
        match tree {
            Tree::Leaf(leaf) => {
                let values: Vec<Cow<str>> = get(&leaf.field.path)
                    .into_iter()
                    .map(Cow::Borrowed)
                    .collect();
                let other: Vec<Cow<str>> = leaf
                    .reference
                    .as_ref()
                    .map(|r| get(&r.path).into_iter().map(Cow::Borrowed).collect())
                    .unwrap_or_default();
                leaf.matches(&values, &other)
            }
            Tree::Not(inner) => !eval(inner, get),
            Tree::And(items) => items.iter().all(|t| eval(t, get)),
            Tree::Or(items) => items.iter().any(|t| eval(t, get)),
            Tree::AtLeast(n, items) => items.iter().filter(|t| eval(t, get)).count() >= *n,
        }
    }

    #[test]
    fn selections_lists_and_null() {
        let (d, warnings) = compile_text(
            "selection_event_name:\n  eventName: DeleteBucket\nselection_status_success:\n  errorCode: Success\nselection_status_null:\n  errorCode: null\ncondition: selection_event_name and 1 of selection_status_*\n",
            &Params::new(),
        )
        .expect("compiles");
        assert_eq!(warnings, 0);
        let tree = d.tree();
        assert!(eval(&tree, &|f| if f == "eventName" {
            vec!["deletebucket"]
        } else {
            vec![]
        }));
        assert!(!eval(&tree, &|f| match f {
            "eventName" => vec!["DeleteBucket"],
            _ => vec!["AccessDenied"],
        }));
        assert!(eval(&tree, &|f| match f {
            "eventName" => vec!["DeleteBucket"],
            _ => vec!["Success"],
        }));
    }

    #[test]
    fn list_of_maps_is_or_and_all_is_and() {
        let (d, _) = compile_text(
            "selection:\n  requestParameters|contains|all:\n    - 's3:GetObject'\n    - Allow\nfilter:\n  - eventSource: ssm.amazonaws.com\n  - sourceIPAddress: AWS Internal\ncondition: selection and not filter\n",
            &Params::new(),
        )
        .expect("compiles");
        let tree = d.tree();
        assert!(eval(&tree, &|f| match f {
            "requestParameters" => vec![r#"{"a":"s3:GetObject","e":"Allow"}"#],
            _ => vec![],
        }));
        assert!(!eval(&tree, &|f| match f {
            "requestParameters" => vec![r#"{"a":"s3:GetObject"}"#],
            _ => vec![],
        }));
        assert!(!eval(&tree, &|f| match f {
            "requestParameters" => vec![r#"{"a":"s3:GetObject","e":"Allow"}"#],
            "sourceIPAddress" => vec!["AWS Internal"],
            _ => vec![],
        }));
    }

    #[test]
    fn fieldref_exists_cidr_and_numbers() {
        let (d, _) = compile_text(
            "a:\n  userIdentity.arn|fieldref|endswith: requestParameters.userName\nb:\n  errorCode|exists: false\nc:\n  sourceIPAddress|cidr: ['10.0.0.0/8', '192.168.0.0/16']\nd:\n  requestParameters.pendingWindowInDays|lt: 10\ncondition: all of them\n",
            &Params::new(),
        )
        .expect("compiles");
        let tree = d.tree();
        let event = |f: &str| match f {
            "userIdentity.arn" => vec!["arn:aws:iam::1:user/Bob"],
            "requestParameters.userName" => vec!["bob"],
            "sourceIPAddress" => vec!["10.2.3.4"],
            "requestParameters.pendingWindowInDays" => vec!["7"],
            _ => vec![],
        };
        assert!(eval(&tree, &event));
        assert!(!eval(&tree, &|f| match f {
            "requestParameters.pendingWindowInDays" => vec!["30"],
            other => event(other),
        }));
    }

    #[test]
    fn expand_fills_placeholders_from_params() {
        let mut params = Params::new();
        params.insert(
            "roles".into(),
            ParamValue::List(vec![
                "arn:aws:iam::1:role/a".into(),
                "arn:aws:iam::1:role/b".into(),
            ]),
        );
        params.insert("account".into(), ParamValue::Text("111122223333".into()));
        let (d, _) = compile_text(
            "sel:\n  principal|expand: '%roles%'\nacct:\n  userIdentity.arn|expand|startswith: 'arn:aws:iam::%account%:'\ncondition: sel and acct\n",
            &params,
        )
        .expect("compiles");
        let tree = d.tree();
        assert!(eval(&tree, &|f| match f {
            "principal" => vec!["arn:aws:iam::1:role/b"],
            _ => vec!["arn:aws:iam::111122223333:user/x"],
        }));
        let err = compile_text(
            "sel:\n  principal|expand: '%nope%'\ncondition: sel\n",
            &params,
        )
        .expect_err("unknown placeholder");
        assert_eq!(err.field, "sel.principal|expand");
        assert_eq!(err.line, 2);
        let empty = {
            let mut p = Params::new();
            p.insert("roles".into(), ParamValue::List(vec![]));
            p
        };
        let (d, _) = compile_text(
            "sel:\n  principal|expand: '%roles%'\ncondition: sel\n",
            &empty,
        )
        .expect("compiles");
        assert!(!eval(&d.tree(), &|_| vec!["anything"]));
    }

    #[test]
    fn unsupported_constructs_are_refused_with_their_location() {
        let cases = [
            ("sel:\n  - keyword\ncondition: sel\n", "keyword"),
            ("sel:\n  f|base64: x\ncondition: sel\n", "base64"),
            (
                "sel:\n  f|bogus: x\ncondition: sel\n",
                "not a Sigma modifier",
            ),
            ("sel:\n  f|re|contains: x\ncondition: sel\n", "contains"),
            (
                "sel:\n  f|re: '(?<=a)'\ncondition: sel\n",
                "regular expression",
            ),
            (
                "sel:\n  f|cidr: 300.0.0.0/8\ncondition: sel\n",
                "IP network",
            ),
            ("sel:\n  f|exists: maybe\ncondition: sel\n", "exists"),
            ("sel:\n  f|allows: Decrypt\ncondition: sel\n", "IAM action"),
            (
                "sel:\n  f|allows|contains: kms:Decrypt\ncondition: sel\n",
                "contains",
            ),
            (
                "sel:\n  f|allows|re: kms:Decrypt\ncondition: sel\n",
                "allows",
            ),
            ("sel:\n  f|allows: null\ncondition: sel\n", "null"),
            (
                "sel:\n  f: x\ntimeframe: 5m\ncondition: sel\n",
                "correlation",
            ),
            ("sel:\n  f: x\n", "required"),
            ("sel:\n  f: x\ncondition: sel and other\n", "`other`"),
            ("sel:\n  f: {a: 1}\ncondition: sel\n", "mapping"),
        ];
        for (text, needle) in cases {
            let err = compile_text(text, &Params::new()).expect_err(text);
            assert!(err.to_string().contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn allows_reads_a_policy_document_statement_by_statement() {
        let (d, warnings) = compile_text(
            "sel:\n  requestParameters.policyDocument|allows:\n    - kms:Decrypt\n    - kms:ReEncryptFrom\ncondition: sel\n",
            &Params::new(),
        )
        .expect("compiles");
        assert_eq!(warnings, 0);
        let tree = d.tree();
        let with = |doc: &'static str| {
            move |f: &str| match f {
                "requestParameters.policyDocument" => vec![doc],
                _ => vec![],
            }
        };
        assert!(eval(
            &tree,
            &with(r#"{"Statement":[{"Effect":"Allow","Action":"kms:ReEncrypt*","Resource":"*"}]}"#)
        ));
        // Decrypt on one key and ReEncryptFrom denied everywhere: no statement grants either
        // action on all keys, though the document names both and a `*` resource.
        assert!(!eval(
            &tree,
            &with(
                r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/k"},{"Effect":"Deny","Action":"kms:ReEncryptFrom","Resource":"*"}]}"#
            )
        ));
        assert!(!eval(&tree, &|_| vec![]));
        let (all, _) = compile_text(
            "sel:\n  p|allows|all: [kms:Decrypt, kms:Encrypt]\ncondition: sel\n",
            &Params::new(),
        )
        .expect("compiles");
        let decrypt_only = |_: &str| {
            vec![r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#]
        };
        assert!(!eval(&all.tree(), &decrypt_only));
    }

    #[test]
    fn absent_fields_and_unused_selections_warn() {
        let (_, warnings) = compile_text(
            "sel:\n  status: success\n  tlsDetails.tlsVersion: x\nunused:\n  eventName: x\ncondition: sel\n",
            &Params::new(),
        )
        .expect("compiles");
        assert_eq!(warnings, 3);
    }

    #[test]
    fn equal_tests_share_a_key() {
        let (a, _) = compile_text(
            "s:\n  eventSource: kms.amazonaws.com\ncondition: s\n",
            &Params::new(),
        )
        .expect("compiles");
        let (b, _) = compile_text(
            "x:\n  eventSource: kms.amazonaws.com\ncondition: x\n",
            &Params::new(),
        )
        .expect("compiles");
        assert_eq!(a.leaves()[0].key, b.leaves()[0].key);
    }
}
