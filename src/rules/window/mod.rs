//! Rules over time windows — `threshold`, `baseline` and `correlation` — evaluated as Polars
//! lazy group-bys over the lake. Each rule's `detection` (the same Sigma machinery as match
//! rules, compiled by [`crate::rules::plan`]) selects the events the rule looks at; the
//! kind's own section (`threshold:`, `baseline:`, `correlation:`) says how they are grouped,
//! windowed and compared. Findings state what was observed and, for baselines, what was
//! learned ([`crate::rules::Finding::detail`]).
//!
//! Numbers and durations in a section may name a parameter (`'%learning_days%'`), so
//! configuration files and test cases tune them like any other parameter.

pub mod baseline;
pub mod correlation;
pub mod keys;
pub mod temporal;
pub mod threshold;

use std::borrow::Cow;
use std::collections::BTreeSet;

use polars::prelude::*;
use serde_yaml_ng::{Mapping, Value};

use crate::ingest::schema::{
    EVENT_ID, EVENT_NAME, EVENT_TIME, KEY_ARN, PRINCIPAL, RECIPIENT_ACCOUNT_ID, SOURCE_FILE,
    SOURCE_RECORD,
};
use crate::rules::error::{ErrorKind, EvalError, RuleError};
use crate::rules::eval::{EvalOptions, MatchOutcome};
use crate::rules::fields::{json_values, FieldSource};
use crate::rules::finding::{finding_id, rfc3339, Evidence, Finding};
use crate::rules::model::{Body, Field, Kind, MatchBody, Rule};
use crate::rules::params::{ParamValue, Params};
use crate::rules::plan::{MatchPlan, Reads};
use crate::rules::sigma::{self, Detection};
use crate::rules::yaml::{type_name, Context, FieldPath};

/// Microseconds in a second.
pub const SECOND_US: i64 = 1_000_000;
/// Microseconds in a day.
pub const DAY_US: i64 = 86_400 * SECOND_US;

/// Working column: event time, µs since the epoch.
pub const W_TIME: &str = "__kms_audit_w_time";
/// Working column: `eventID`.
pub const W_ID: &str = "__kms_audit_w_id";
/// Working column: `eventName`.
pub const W_NAME: &str = "__kms_audit_w_name";
/// Working column: source file.
pub const W_FILE: &str = "__kms_audit_w_file";
/// Working column: record position in the source file.
pub const W_RECORD: &str = "__kms_audit_w_record";
/// Working column: principal.
pub const W_PRINCIPAL: &str = "__kms_audit_w_principal";
/// Working column: key ARN.
pub const W_KEY: &str = "__kms_audit_w_key";

/// Working column `i` of a rule's group-by / entity fields.
pub fn group_column(i: usize) -> String {
    format!("__kms_audit_w_g{i}")
}

/// The section of a kind: the YAML key under which its body is written.
pub fn section_name(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Threshold => Some("threshold"),
        Kind::Baseline => Some("baseline"),
        Kind::Correlation => Some("correlation"),
        _ => None,
    }
}

/// What a window rule computes, by kind.
#[derive(Debug, Clone)]
pub enum Spec {
    /// Counts per group over a sliding window.
    Threshold(threshold::Threshold),
    /// Deviation from a learned per-entity baseline.
    Baseline(baseline::Baseline),
    /// One selection followed by another within a window.
    Correlation(correlation::Correlation),
    /// Several rules' events together (or in order) within a window (Sigma `temporal`,
    /// `temporal_ordered`; a `correlation` rule).
    Temporal(temporal::Temporal),
}

/// The body of a window rule.
#[derive(Debug, Clone)]
pub struct WindowBody {
    /// The events the rule looks at.
    pub detection: Detection,
    /// The detection as written.
    pub raw_detection: Value,
    /// The kind's section as written.
    pub raw_section: Value,
    /// The compiled section.
    pub spec: Spec,
}

/// Parses the `detection` and the kind's section of a window rule of `kind` in `map`.
pub fn parse(
    kind: Kind,
    map: &Mapping,
    params: &Params,
    ctx: &mut Context<'_>,
) -> Result<WindowBody, RuleError> {
    let root = FieldPath::root();
    let detection_value = map
        .get("detection")
        .ok_or_else(|| ctx.error(&root.key("detection"), ErrorKind::Missing))?;
    let name = section_name(kind).ok_or_else(|| {
        ctx.error(
            &root.key("kind"),
            ErrorKind::UnsupportedKind(kind.as_str().to_owned()),
        )
    })?;
    let section = map.get(name).ok_or_else(|| {
        ctx.error(
            &root.key("kind"),
            ErrorKind::Invalid(format!("a `{kind}` rule needs a `{name}` section")),
        )
    })?;
    for other in ["threshold", "baseline", "correlation"] {
        if other != name && map.contains_key(other) {
            return Err(ctx.error(
                &root.key(other),
                ErrorKind::Invalid(format!("a `{}` rule has no `{other}` section", kind)),
            ));
        }
    }
    parse_parts(kind, detection_value, section, params, ctx)
}

/// Parses a window body from its detection and section values.
pub fn parse_parts(
    kind: Kind,
    detection_value: &Value,
    section: &Value,
    params: &Params,
    ctx: &mut Context<'_>,
) -> Result<WindowBody, RuleError> {
    let root = FieldPath::root();
    let detection = sigma::compile(detection_value, &root.key("detection"), params, ctx)?;
    let at = root.key(section_name(kind).unwrap_or("threshold"));
    let Value::Mapping(section_map) = section else {
        return Err(ctx.error(
            &at,
            ErrorKind::WrongType {
                expected: "a mapping",
                found: type_name(section),
            },
        ));
    };
    let reader = Section {
        map: section_map,
        at: at.clone(),
        params,
        ctx,
    };
    let spec = match kind {
        Kind::Threshold => Spec::Threshold(threshold::parse(&reader)?),
        Kind::Baseline => Spec::Baseline(baseline::parse(&reader)?),
        Kind::Correlation => Spec::Correlation(correlation::parse(
            &reader,
            detection_value,
            ctx_clone(&reader),
        )?),
        other => {
            return Err(reader.ctx.error(
                &root.key("kind"),
                ErrorKind::UnsupportedKind(other.as_str().to_owned()),
            ))
        }
    };
    Ok(WindowBody {
        detection,
        raw_detection: detection_value.clone(),
        raw_section: section.clone(),
        spec,
    })
}

fn ctx_clone<'c>(reader: &Section<'_, 'c>) -> Context<'c> {
    Context::new(reader.ctx.file, reader.ctx.document, reader.ctx.index)
}

impl WindowBody {
    /// The same body compiled again with other parameter values.
    pub fn with_params(
        &self,
        kind: Kind,
        params: &Params,
        ctx: &mut Context<'_>,
    ) -> Result<WindowBody, RuleError> {
        parse_parts(kind, &self.raw_detection, &self.raw_section, params, ctx)
    }
}

/// Reads the fields of a kind's section, resolving parameter placeholders.
pub struct Section<'m, 'c> {
    /// The section.
    pub map: &'m Mapping,
    /// Its path.
    pub at: FieldPath,
    /// The rule's parameters.
    pub params: &'m Params,
    /// Where errors are located.
    pub ctx: &'m Context<'c>,
}

impl Section<'_, '_> {
    /// Errors on keys outside `allowed`.
    pub fn only(&self, allowed: &[&str], context: &'static str) -> Result<(), RuleError> {
        for key in self.map.keys() {
            let name = key.as_str().unwrap_or_default();
            if !allowed.contains(&name) {
                return Err(self.ctx.error(
                    &self.at.key(name),
                    ErrorKind::UnknownField {
                        context,
                        expected: allowed.join(", "),
                    },
                ));
            }
        }
        Ok(())
    }

    /// An error about `key`.
    pub fn error(&self, key: &str, kind: ErrorKind) -> RuleError {
        self.ctx.error(&self.at.key(key), kind)
    }

    /// The value of `key`, with `%name%` resolved to the parameter's value.
    fn resolved(&self, key: &str) -> Result<Option<Cow<'_, Value>>, RuleError> {
        let Some(value) = self.map.get(key) else {
            return Ok(None);
        };
        if let Some(name) = value
            .as_str()
            .and_then(|s| s.strip_prefix('%'))
            .and_then(|s| s.strip_suffix('%'))
        {
            let param = self.params.get(name).ok_or_else(|| {
                self.error(
                    key,
                    ErrorKind::Param(format!("`%{name}%` names no parameter of this rule")),
                )
            })?;
            let value = match param {
                ParamValue::Int(i) => Value::from(*i),
                ParamValue::Float(f) => Value::from(*f),
                ParamValue::Text(t) => Value::from(t.clone()),
                ParamValue::Bool(b) => Value::from(*b),
                ParamValue::List(items) => {
                    Value::Sequence(items.iter().map(|s| Value::from(s.clone())).collect())
                }
            };
            return Ok(Some(Cow::Owned(value)));
        }
        Ok(Some(Cow::Borrowed(value)))
    }

    /// A number (or a parameter holding one); `None` when absent.
    pub fn number(&self, key: &str) -> Result<Option<f64>, RuleError> {
        match self.resolved(key)?.as_deref() {
            None => Ok(None),
            Some(Value::Number(n)) => n.as_f64().map(Some).ok_or_else(|| {
                self.error(key, ErrorKind::Invalid(format!("`{n}` is not a number")))
            }),
            Some(other) => Err(self.error(
                key,
                ErrorKind::WrongType {
                    expected: "a number or a `%parameter%`",
                    found: type_name(other),
                },
            )),
        }
    }

    /// A number ≥ 0 that must be present.
    pub fn required_number(&self, key: &str) -> Result<f64, RuleError> {
        let n = self
            .number(key)?
            .ok_or_else(|| self.error(key, ErrorKind::Missing))?;
        if n < 0.0 {
            return Err(self.error(key, ErrorKind::Invalid(format!("{n} is negative"))));
        }
        Ok(n)
    }

    /// Text (or a parameter holding text); `None` when absent.
    pub fn text(&self, key: &str) -> Result<Option<String>, RuleError> {
        match self.resolved(key)?.as_deref() {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.error(
                key,
                ErrorKind::WrongType {
                    expected: "text",
                    found: type_name(other),
                },
            )),
        }
    }

    /// A duration (`30s`, `10m`, `1h`, `7d`), in microseconds; `None` when absent.
    pub fn duration(&self, key: &str) -> Result<Option<i64>, RuleError> {
        let Some(text) = self.text(key)? else {
            return Ok(None);
        };
        parse_duration(&text)
            .map(Some)
            .ok_or_else(|| {
                self.error(
                    key,
                    ErrorKind::Invalid(format!(
                        "`{text}` is not a duration: write a positive number followed by s, m, h or d (`10m`)"
                    )),
                )
            })
    }

    /// A list of lake fields (a single text is a list of one); `None` when absent.
    pub fn fields(&self, key: &str) -> Result<Option<Vec<Field>>, RuleError> {
        let items: Vec<(FieldPath, String)> = match self.map.get(key) {
            None => return Ok(None),
            Some(Value::String(s)) => vec![(self.at.key(key), s.clone())],
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .map(|(i, item)| match item {
                    Value::String(s) => Ok((self.at.key(key).index(i), s.clone())),
                    other => Err(self.ctx.error(
                        &self.at.key(key).index(i),
                        ErrorKind::WrongType {
                            expected: "a field name",
                            found: type_name(other),
                        },
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(self.error(
                    key,
                    ErrorKind::WrongType {
                        expected: "a field name or a list of them",
                        found: type_name(other),
                    },
                ))
            }
        };
        if items.is_empty() {
            return Err(self.error(
                key,
                ErrorKind::Invalid("name at least one field".to_owned()),
            ));
        }
        items
            .into_iter()
            .map(|(path, name)| {
                let field = Field::new(&name);
                if matches!(field.source, FieldSource::Absent(_)) {
                    Err(self.ctx.error(
                        &path,
                        ErrorKind::Invalid(format!("`{name}` is not a field the lake keeps")),
                    ))
                } else {
                    Ok(field)
                }
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A comparison mapping such as `{ gte: 20 }` at `path` below the section.
    pub fn comparison(&self, value: &Value, path: &FieldPath) -> Result<Comparison, RuleError> {
        let Value::Mapping(map) = value else {
            return Err(self.ctx.error(
                path,
                ErrorKind::WrongType {
                    expected: "a comparison like { gte: 20 }",
                    found: type_name(value),
                },
            ));
        };
        if map.len() != 1 {
            return Err(self.ctx.error(
                path,
                ErrorKind::Invalid("write exactly one of gt, gte, lt, lte, eq".to_owned()),
            ));
        }
        let (op_value, bound_value) = map.iter().next().ok_or_else(|| {
            self.ctx
                .error(path, ErrorKind::Invalid("empty comparison".to_owned()))
        })?;
        let op_name = op_value.as_str().unwrap_or_default();
        let op = Op::from_name(op_name).ok_or_else(|| {
            self.ctx.error(
                &path.key(op_name),
                ErrorKind::NotOneOf {
                    value: op_name.to_owned(),
                    expected: "gt, gte, lt, lte, eq".to_owned(),
                },
            )
        })?;
        let sub = Section {
            map,
            at: path.clone(),
            params: self.params,
            ctx: self.ctx,
        };
        let bound = sub.required_number(op_name)?;
        let _ = bound_value;
        Ok(Comparison { op, bound })
    }
}

/// `10m` → microseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: i64 = number.parse().ok().filter(|n| *n > 0)?;
    let unit_us = match unit {
        "s" => SECOND_US,
        "m" => 60 * SECOND_US,
        "h" => 3_600 * SECOND_US,
        "d" => DAY_US,
        _ => return None,
    };
    n.checked_mul(unit_us)
}

/// A duration in words (`10m`, `1h`, `30d`).
pub fn show_duration(us: i64) -> String {
    for (unit, size) in [
        ("d", DAY_US),
        ("h", 3_600 * SECOND_US),
        ("m", 60 * SECOND_US),
    ] {
        if us % size == 0 {
            return format!("{}{unit}", us / size);
        }
    }
    format!("{}s", us / SECOND_US)
}

/// A comparison operator of `having` / correlation conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `==`
    Eq,
    /// `!=` (Sigma correlations' `neq`).
    Neq,
}

impl Op {
    /// The operator called `name` (`gte`).
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "gt" => Self::Gt,
            "gte" => Self::Gte,
            "lt" => Self::Lt,
            "lte" => Self::Lte,
            "eq" => Self::Eq,
            _ => return None,
        })
    }

    /// The operator's symbol.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Gte => "≥",
            Self::Lt => "<",
            Self::Lte => "≤",
            Self::Eq => "=",
            Self::Neq => "≠",
        }
    }
}

/// `value op bound`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// The operator.
    pub op: Op,
    /// The bound.
    pub bound: f64,
}

impl Comparison {
    /// Whether `value` satisfies the comparison.
    pub fn holds(&self, value: f64) -> bool {
        match self.op {
            Op::Gt => value > self.bound,
            Op::Gte => value >= self.bound,
            Op::Lt => value < self.bound,
            Op::Lte => value <= self.bound,
            Op::Eq => (value - self.bound).abs() < f64::EPSILON,
            Op::Neq => (value - self.bound).abs() >= f64::EPSILON,
        }
    }

    /// The comparison as a Polars expression over `expr`.
    pub fn expr(&self, expr: Expr) -> Expr {
        let bound = lit(self.bound);
        let expr = expr.cast(DataType::Float64);
        match self.op {
            Op::Gt => expr.gt(bound),
            Op::Gte => expr.gt_eq(bound),
            Op::Lt => expr.lt(bound),
            Op::Lte => expr.lt_eq(bound),
            Op::Eq => expr.eq(bound),
            Op::Neq => expr.neq(bound),
        }
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.bound)
    }
}

/// How a field's value is bucketed before it is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// The value as it is.
    Exact,
    /// An IP address's network: public IPv4 /24, private IPv4 /16, IPv6 /48; other text
    /// (an AWS service name) as it is.
    Network,
    /// The hour of the day (UTC) of the event.
    HourOfDay,
    /// The 12-digit account of an ARN or account id.
    Account,
}

impl Bucket {
    /// Every bucket name.
    pub const NAMES: &'static str = "exact, network, hour-of-day, account";

    /// The bucket called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "exact" => Self::Exact,
            "network" => Self::Network,
            "hour-of-day" => Self::HourOfDay,
            "account" => Self::Account,
            _ => return None,
        })
    }
}

/// The network of an address: public IPv4 /24, private IPv4 /16, IPv6 /48; other text
/// unchanged.
pub fn network_of(text: &str) -> String {
    if let Ok(ip) = text.parse::<std::net::Ipv4Addr>() {
        let [a, b, c, _] = ip.octets();
        return if ip.is_private() {
            format!("{a}.{b}.0.0/16")
        } else {
            format!("{a}.{b}.{c}.0/24")
        };
    }
    if let Ok(ip) = text.parse::<std::net::Ipv6Addr>() {
        let s = ip.segments();
        return format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2]);
    }
    text.to_owned()
}

/// The 12-digit account named by an ARN (`arn:aws:kms:us-east-1:111122223333:key/…`) or an
/// account id; `None` for anything else.
pub fn account_of(text: &str) -> Option<&str> {
    let candidate = if text.starts_with("arn:") {
        text.split(':').nth(4)?
    } else {
        text
    };
    (candidate.len() == 12 && candidate.bytes().all(|b| b.is_ascii_digit())).then_some(candidate)
}

/// The start of the `size`-long bucket holding `time` (µs, not before the epoch), by integer
/// arithmetic only (Polars' `/` divides as floats, and floor division needs a feature this
/// build leaves out).
pub fn bucket_start(time: Expr, size: i64) -> Expr {
    time.clone() - (time % lit(size))
}

/// The first non-empty value of `field` on each row, as text (null when it has none),
/// bucketed.
pub fn value_expr(field: &Field, bucket: Bucket) -> Expr {
    if bucket == Bucket::HourOfDay {
        let hour_us = 3_600 * SECOND_US;
        let time = col(EVENT_TIME).cast(DataType::Int64);
        return ((bucket_start(time, hour_us) % lit(DAY_US)) / lit(hour_us))
            .cast(DataType::Int64)
            .cast(DataType::String);
    }
    let base = match &field.source {
        FieldSource::Column { name, .. } => col(*name).cast(DataType::String),
        FieldSource::Json { column, path } => {
            let path = path.clone();
            col(*column).cast(DataType::String).map(
                move |c: Column| {
                    let ca = c.str()?;
                    let mut values: Vec<Cow<'_, str>> = Vec::new();
                    let out: StringChunked = ca
                        .iter()
                        .map(|text| {
                            let text = text?;
                            values.clear();
                            json_values(text, &path, &mut values);
                            values
                                .iter()
                                .find(|v| !v.is_empty())
                                .map(|v| v.clone().into_owned())
                        })
                        .collect();
                    Ok(out.with_name(c.name().clone()).into_column())
                },
                |_, f: &polars::prelude::Field| {
                    Ok(polars::prelude::Field::new(
                        f.name().clone(),
                        DataType::String,
                    ))
                },
            )
        }
        FieldSource::Absent(_) => lit(NULL).cast(DataType::String),
    };
    match bucket {
        Bucket::Exact | Bucket::HourOfDay => base,
        Bucket::Network => map_text(base, |t| Some(network_of(t))),
        Bucket::Account => map_text(base, |t| account_of(t).map(str::to_owned)),
    }
}

fn map_text(expr: Expr, f: fn(&str) -> Option<String>) -> Expr {
    expr.map(
        move |c: Column| {
            let ca = c.str()?;
            let out: StringChunked = ca.iter().map(|t| t.and_then(f)).collect();
            Ok(out.with_name(c.name().clone()).into_column())
        },
        |_, f: &polars::prelude::Field| {
            Ok(polars::prelude::Field::new(
                f.name().clone(),
                DataType::String,
            ))
        },
    )
}

/// True where one of `fields` names an account (an ARN's or an account id) that is not
/// among `accounts` — the accounts whose trails are in the lake.
pub fn foreign_expr(fields: &[Field], accounts: &BTreeSet<String>) -> Expr {
    let tests: Vec<Expr> = fields
        .iter()
        .map(|field| {
            let accounts = accounts.clone();
            value_expr(field, Bucket::Account).map(
                move |c: Column| {
                    let ca = c.str()?;
                    let out: BooleanChunked = ca
                        .iter()
                        .map(|t| Some(t.is_some_and(|a| !accounts.contains(a))))
                        .collect();
                    Ok(out.with_name(c.name().clone()).into_column())
                },
                |_, f: &polars::prelude::Field| {
                    Ok(polars::prelude::Field::new(
                        f.name().clone(),
                        DataType::Boolean,
                    ))
                },
            )
        })
        .collect();
    tests.into_iter().reduce(Expr::or).unwrap_or(lit(false))
}

/// [`foreign_expr`] computed only on the rows where `mask` holds (false elsewhere): a field
/// inside a raw JSON column is parsed on those rows alone.
pub fn foreign_where(fields: &[Field], accounts: &BTreeSet<String>, mask: Expr) -> Expr {
    let sources: Vec<(Expr, Option<Vec<String>>)> = fields
        .iter()
        .filter_map(|field| match &field.source {
            FieldSource::Column { name, .. } => Some((col(*name).cast(DataType::String), None)),
            FieldSource::Json { column, path } => {
                Some((col(*column).cast(DataType::String), Some(path.clone())))
            }
            FieldSource::Absent(_) => None,
        })
        .collect();
    if sources.is_empty() {
        return lit(false);
    }
    let (arguments, paths): (Vec<Expr>, Vec<_>) = sources.into_iter().unzip();
    let accounts = accounts.clone();
    mask.map_many(
        move |columns: &mut [Column]| {
            let name = columns[0].name().clone();
            let mask = columns[0].bool()?;
            let texts: Vec<&StringChunked> = columns[1..]
                .iter()
                .map(|c| c.str())
                .collect::<PolarsResult<_>>()?;
            let mut values: Vec<Cow<'_, str>> = Vec::new();
            let out: BooleanChunked = (0..mask.len())
                .map(|row| {
                    if mask.get(row) != Some(true) {
                        return Some(false);
                    }
                    let foreign = texts.iter().zip(&paths).any(|(column, path)| {
                        let Some(text) = column.get(row) else {
                            return false;
                        };
                        let value = match path {
                            Some(path) => {
                                values.clear();
                                json_values(text, path, &mut values);
                                values.iter().find(|v| !v.is_empty()).cloned()
                            }
                            None => Some(Cow::Borrowed(text)),
                        };
                        value
                            .as_deref()
                            .and_then(account_of)
                            .is_some_and(|a| !accounts.contains(a))
                    });
                    Some(foreign)
                })
                .collect();
            Ok(out.with_name(name).into_column())
        },
        &arguments,
        |_, fields: &[polars::prelude::Field]| {
            Ok(polars::prelude::Field::new(
                fields[0].name().clone(),
                DataType::Boolean,
            ))
        },
    )
}

/// The accounts whose trails are in the lake (`recipientAccountId` values).
pub fn trail_accounts(events: &LazyFrame) -> Result<BTreeSet<String>, EvalError> {
    let frame = events
        .clone()
        .select([col(RECIPIENT_ACCOUNT_ID).cast(DataType::String).unique()])
        .collect()?;
    Ok(frame
        .column(RECIPIENT_ACCOUNT_ID)?
        .str()?
        .iter()
        .flatten()
        .map(str::to_owned)
        .collect())
}

/// The earliest event time in the lake, µs.
pub fn lake_start(events: &LazyFrame) -> Result<Option<i64>, EvalError> {
    let frame = events
        .clone()
        .select([col(EVENT_TIME).cast(DataType::Int64).min()])
        .collect()?;
    Ok(frame.column(EVENT_TIME)?.i64()?.get(0))
}

/// The columns every window evaluation keeps, plus `extra`.
pub fn base_columns(extra: Vec<Expr>) -> Vec<Expr> {
    let mut keep = vec![
        col(EVENT_TIME).cast(DataType::Int64).alias(W_TIME),
        col(EVENT_ID).cast(DataType::String).alias(W_ID),
        col(EVENT_NAME).cast(DataType::String).alias(W_NAME),
        col(SOURCE_FILE).cast(DataType::String).alias(W_FILE),
        col(SOURCE_RECORD).cast(DataType::UInt32).alias(W_RECORD),
        col(PRINCIPAL).cast(DataType::String).alias(W_PRINCIPAL),
        col(KEY_ARN).cast(DataType::String).alias(W_KEY),
    ];
    keep.extend(extra);
    keep
}

/// The rows of `events` selected by `detections` (one boolean column per detection,
/// [`rule_column`]), keeping the [`base_columns`] and `extra`.
pub fn select(
    rule: &Rule,
    detections: &[Detection],
    events: LazyFrame,
    extra: Vec<Expr>,
) -> LazyFrame {
    let synthetic: Vec<Rule> = detections
        .iter()
        .map(|detection| {
            let mut r = rule.clone();
            r.kind = Kind::Match;
            r.body = Body::Match(MatchBody {
                detection: detection.clone(),
                raw: Value::Null,
            });
            r
        })
        .collect();
    let refs: Vec<&Rule> = synthetic.iter().collect();
    MatchPlan::new(&refs).apply(events, base_columns(extra))
}

/// The selected events, collected, sorted by time.
#[derive(Debug)]
pub struct Events {
    /// The frame.
    pub frame: DataFrame,
    /// Event times, µs.
    pub times: Vec<i64>,
}

impl Events {
    /// Collects `frame`, sorted by time (rows read from the time-sorted [`SharedRead`] are
    /// in order already, and are not sorted again).
    pub fn collect(frame: LazyFrame) -> Result<Self, EvalError> {
        let mut frame = frame.collect()?;
        let in_order = {
            let time = frame.column(W_TIME)?.i64()?;
            let mut previous: Option<Option<i64>> = None;
            time.iter().all(|t| {
                // Nulls first, then ascending: the order of the sort below.
                let fine = match (previous, t) {
                    (None, _) | (Some(None), _) => true,
                    (Some(Some(_)), None) => false,
                    (Some(Some(a)), Some(b)) => a <= b,
                };
                previous = Some(t);
                fine
            })
        };
        if !in_order {
            frame = frame
                .lazy()
                .sort([W_TIME], SortMultipleOptions::default())
                .collect()?;
        }
        let times = frame
            .column(W_TIME)?
            .i64()?
            .iter()
            .map(Option::unwrap_or_default)
            .collect();
        Ok(Self { frame, times })
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Text column `name`, row by row.
    pub fn text(&self, name: &str) -> Result<Vec<Option<String>>, EvalError> {
        Ok(self
            .frame
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect())
    }

    /// The group key of each row (values of `columns` joined).
    pub fn keys(&self, columns: usize) -> Result<Vec<Vec<Option<String>>>, EvalError> {
        let cols: Vec<Vec<Option<String>>> = (0..columns)
            .map(|i| self.text(&group_column(i)))
            .collect::<Result<_, _>>()?;
        Ok((0..self.len())
            .map(|row| cols.iter().map(|c| c[row].clone()).collect())
            .collect())
    }

    /// The evidence of `row`.
    pub fn evidence(&self, row: usize) -> Result<Evidence, EvalError> {
        let text = |name: &str| -> Result<Option<String>, EvalError> {
            Ok(self.frame.column(name)?.str()?.get(row).map(str::to_owned))
        };
        Ok(Evidence {
            event_id: text(W_ID)?,
            event_time: rfc3339(self.times[row]),
            event_name: text(W_NAME)?.unwrap_or_default(),
            source_file: text(W_FILE)?.unwrap_or_default(),
            source_record: self
                .frame
                .column(W_RECORD)?
                .u32()?
                .get(row)
                .unwrap_or_default(),
        })
    }
}

/// A finding of a window rule over the events at `rows` of `events`.
pub fn finding(
    rule: &Rule,
    events: &Events,
    rows: &[usize],
    detail: String,
    options: &EvalOptions,
) -> Result<Option<Finding>, EvalError> {
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok(None);
    };
    let principals = events.text(W_PRINCIPAL)?;
    let keys = events.text(W_KEY)?;
    let principal = principals[*first].clone();
    let distinct_keys: BTreeSet<&Option<String>> = rows.iter().map(|r| &keys[*r]).collect();
    let resource = if distinct_keys.len() == 1 {
        keys[*first].clone()
    } else {
        None
    };
    let evidence = rows
        .iter()
        .take(options.max_evidence)
        .map(|r| events.evidence(*r))
        .collect::<Result<Vec<_>, _>>()?;
    let first_seen = rfc3339(events.times[*first]);
    let scoped = format!("{}@{first_seen}", principal.as_deref().unwrap_or_default());
    Ok(Some(Finding {
        id: finding_id(&rule.id, resource.as_deref(), Some(&scoped)),
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        title: rule.title.clone(),
        severity: rule.severity,
        resource,
        principal,
        first_seen,
        last_seen: rfc3339(events.times[*last]),
        count: rows.len() as u64,
        evidence,
        what: rule.what.clone(),
        why: rule.why.clone(),
        remediation: rule.remediation.clone(),
        detail: Some(detail),
    }))
}

/// Evaluates the window rules among `rules` over `events`, those that can from `shared`.
pub fn evaluate(
    rules: &[&Rule],
    events: &LazyFrame,
    shared: Option<&SharedRead>,
    options: &EvalOptions,
) -> Result<MatchOutcome, EvalError> {
    let mut outcome = MatchOutcome::default();
    let mut accounts: Option<BTreeSet<String>> = None;
    let window: Vec<(&Rule, &WindowBody)> = rules
        .iter()
        .filter_map(|rule| match &rule.body {
            Body::Window(body) => Some((*rule, body)),
            _ => None,
        })
        .collect();
    let mut start: Option<Option<i64>> = None;
    for (rule, body) in window {
        // Rules that say what they read select from the shared read; the others, and facts
        // about the whole lake, read `events`.
        let input = match shared.and_then(|s| s.window.as_ref()) {
            Some(frame) if window_reads(body, &mut Reads::default()).is_some() => frame,
            _ => events,
        };
        let needs_accounts = match &body.spec {
            Spec::Threshold(t) => !t.foreign.is_empty(),
            Spec::Correlation(c) => !c.foreign.is_empty(),
            Spec::Baseline(_) | Spec::Temporal(_) => false,
        };
        if needs_accounts && accounts.is_none() {
            accounts = Some(trail_accounts(events)?);
        }
        let trail = accounts.clone().unwrap_or_default();
        let (findings, matched) = match &body.spec {
            Spec::Threshold(spec) => threshold::evaluate(rule, body, spec, input, &trail, options)?,
            Spec::Baseline(spec) => {
                let from_trail = matches!(
                    spec.method,
                    baseline::Method::NewValue {
                        from_trail: true,
                        ..
                    }
                );
                let lake_start = match start {
                    _ if !from_trail => None,
                    Some(known) => known,
                    None => *start.insert(lake_start(events)?),
                };
                baseline::evaluate(rule, body, spec, input, lake_start, options)?
            }
            Spec::Correlation(spec) => {
                correlation::evaluate(rule, body, spec, input, &trail, options)?
            }
            Spec::Temporal(spec) => temporal::evaluate(rule, spec, input, options)?,
        };
        outcome.findings.extend(findings);
        outcome.matched.push((rule.id.clone(), matched));
    }
    Ok(outcome)
}

/// What a window rule reads from the lake — its detections' tests, its section's fields and
/// [`base_columns`] — or `None` when its kind is not listed here: such a rule reads the lake
/// itself.
fn window_reads(body: &WindowBody, reads: &mut Reads) -> Option<()> {
    let mut fields: Vec<&Field> = Vec::new();
    let mut detections = vec![&body.detection];
    match &body.spec {
        // Selected through other rules' detections: their columns are not listed here.
        Spec::Threshold(spec) if spec.keys.is_some() => return None,
        Spec::Threshold(spec) => {
            fields.extend(&spec.group_by);
            fields.extend(spec.distinct.iter().map(|(field, _)| field));
            fields.extend(&spec.foreign);
        }
        Spec::Baseline(spec) => {
            fields.extend(&spec.entity);
            if let baseline::Method::NewValue { value, .. } = &spec.method {
                fields.push(value);
            }
        }
        Spec::Correlation(spec) => {
            detections = vec![&spec.first, &spec.then];
            fields.extend(&spec.group_by);
            // The foreign account is read on `then` events only (`foreign_where`).
            reads.add(&[&spec.then], &spec.foreign.iter().collect::<Vec<_>>(), &[]);
        }
        #[allow(unreachable_patterns)]
        _ => return None,
    }
    reads.add(
        &detections,
        &fields,
        &[
            EVENT_TIME,
            EVENT_ID,
            EVENT_NAME,
            SOURCE_FILE,
            SOURCE_RECORD,
            PRINCIPAL,
            KEY_ARN,
        ],
    );
    Some(())
}

/// One read of the lake that the window and match rules share, when two or more readers
/// can say what they read ([`Reads`]): each window rule of a kind listed here, and the match
/// rules together.
pub struct SharedRead {
    /// Every column the readers read (raw JSON columns on the rows where they are read),
    /// sorted by time.
    pub frame: DataFrame,
    /// Whether the match rules read from it.
    pub matches: bool,
    /// The same frame, for the window rules (until [`SharedRead::release_window`]).
    window: Option<LazyFrame>,
}

impl SharedRead {
    /// Reads `events` once for the window and match rules among `rules`, with the columns
    /// `extra_match` that the match evaluation keeps; `None` when fewer than two readers would
    /// share it.
    pub fn new(
        rules: &[&Rule],
        events: &LazyFrame,
        extra_match: &[&'static str],
    ) -> Result<Option<Self>, EvalError> {
        let mut window = Reads::default();
        let mut window_readers = 0;
        for rule in rules {
            if let Body::Window(body) = &rule.body {
                let mut reads = Reads::default();
                if window_reads(body, &mut reads).is_some() {
                    window_reads(body, &mut window);
                    window_readers += 1;
                }
            }
        }
        let mut all = window.clone();
        let match_rules: Vec<&Rule> = rules
            .iter()
            .copied()
            .filter(|r| r.kind == Kind::Match)
            .collect();
        for rule in &match_rules {
            let fields: Vec<&Field> = rule.resource.iter().collect();
            let detections: Vec<&Detection> = rule.detection().into_iter().collect();
            all.add(&detections, &fields, extra_match);
        }
        let matches = !match_rules.is_empty();
        if window_readers + usize::from(matches) < 2 {
            return Ok(None);
        }
        // Only the rows some reader may select (each selects with its detections, within
        // their bounds), sorted by time for the window rules (the match rules take any order).
        let mut read = all.read(events.clone());
        if let Some(rows) = all.rows() {
            read = read.filter(rows);
        }
        let mut frame = read
            .sort(
                [EVENT_TIME],
                SortMultipleOptions::default().with_maintain_order(true),
            )
            .collect()?;
        // A JSON column read on a few rows still holds the text of every row it was decoded
        // from; copying out the texts kept lets the rest go.
        for column in all.partial_json_columns() {
            let compact: StringChunked = frame.column(column)?.str()?.iter().collect();
            frame.with_column(compact.with_name(column.into()).into_column())?;
        }
        let window = (window_readers > 0).then(|| frame.clone().lazy());
        Ok(Some(Self {
            frame,
            matches,
            window,
        }))
    }

    /// Frees the window rules' part, once they are evaluated.
    pub fn release_window(&mut self) {
        self.window = None;
    }
}

/// Merges `[start, end]` intervals that overlap or lie at most `gap` apart.
pub fn merge_intervals(mut intervals: Vec<(i64, i64)>, gap: i64) -> Vec<(i64, i64)> {
    intervals.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (start, end) in intervals {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(gap) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::loader::{finish, load_text, Loaded};

    const RULE: &str = "\
id: KMS.TEST.9
name: denied-burst
title: Denied burst
severity: high
kind: threshold
what: w
why: y
remediation: r
params:
  min_events: 3
detection:
  selection:
    errorCode: AccessDenied
  condition: selection
threshold:
  group-by: [principal]
  window: 10m
  having:
    events: { gte: '%min_events%' }
";

    fn load(text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        load_text("w.yml", None, text, &mut loaded);
        finish(&mut loaded);
        loaded
    }

    #[test]
    fn window_sections_load_and_errors_name_line_and_field() {
        let loaded = load(RULE);
        assert!(loaded.is_ok(), "{:?}", loaded.errors);
        let Body::Window(body) = &loaded.rules[0].body else {
            panic!("not a window rule");
        };
        let Spec::Threshold(spec) = &body.spec else {
            panic!("not a threshold");
        };
        assert_eq!(spec.window, 600 * SECOND_US);
        assert_eq!(spec.events.map(|c| c.bound), Some(3.0));
        let cases = [
            (
                "window: 10m",
                "window: ten",
                17,
                "threshold.window",
                "not a duration",
            ),
            (
                "window: 10m",
                "windw: 10m",
                17,
                "threshold.windw",
                "not a field",
            ),
            (
                "gte: '%min_events%'",
                "gte: '%nope%'",
                19,
                "threshold.having.events.gte",
                "no parameter",
            ),
            (
                "gte: '%min_events%'",
                "most: 3",
                19,
                "threshold.having.events.most",
                "not allowed",
            ),
            (
                "kind: threshold",
                "kind: baseline",
                5,
                "kind",
                "needs a `baseline` section",
            ),
            (
                "group-by: [principal]",
                "group-by: [tlsDetails.x]",
                16,
                "threshold.group-by[0]",
                "lake keeps",
            ),
        ];
        for (from, to, line, field, needle) in cases {
            let loaded = load(&RULE.replacen(from, to, 1));
            let err = loaded
                .errors
                .first()
                .unwrap_or_else(|| panic!("{to}: no error"));
            assert_eq!((err.line, err.field.as_str()), (line, field), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
        }
    }

    #[test]
    fn durations_networks_and_accounts() {
        assert_eq!(parse_duration("10m"), Some(600 * SECOND_US));
        assert_eq!(parse_duration("1d"), Some(DAY_US));
        assert_eq!(parse_duration("0m"), None);
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(show_duration(3_600 * SECOND_US), "1h");
        assert_eq!(network_of("45.155.205.17"), "45.155.205.0/24");
        assert_eq!(network_of("10.20.3.4"), "10.20.0.0/16");
        assert_eq!(network_of("kms.amazonaws.com"), "kms.amazonaws.com");
        assert_eq!(
            account_of("arn:aws:kms:us-east-1:777788889999:key/x"),
            Some("777788889999")
        );
        assert_eq!(account_of("111122223333"), Some("111122223333"));
        assert_eq!(account_of("alias/x"), None);
        assert_eq!(
            merge_intervals(vec![(5, 9), (1, 3), (2, 4), (12, 13)], 0),
            vec![(1, 4), (5, 9), (12, 13)]
        );
        assert_eq!(merge_intervals(vec![(1, 2), (4, 5)], 2), vec![(1, 5)]);
    }
}
