//! Condition operators, validated when a policy is parsed and evaluated against a request.
//!
//! Semantics follow the IAM User Guide ("IAM JSON policy elements: Condition operators" and
//! "Single-valued vs. multivalued context keys"):
//! - several values for one key OR together; the caller ANDs the keys and operators;
//! - a key missing from the request makes a positive operator false and a negated operator
//!   (`StringNotEquals`, `ArnNotLike`, `NotIpAddress`, …) true; `…IfExists` makes it true;
//! - without a set qualifier a multivalued request key matches when any of its values
//!   matches (a negated operator is the negation of that);
//! - `ForAnyValue:` needs at least one request value to match, so a missing or empty key is
//!   false; `ForAllValues:` needs every request value to match, so a missing or empty key is
//!   true;
//! - `Null: true` means the key is absent (an empty set counts as absent).

use std::net::IpAddr;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::wildcard;

/// How several request values of one key are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    /// `ForAnyValue:` — at least one request value must match.
    ForAnyValue,
    /// `ForAllValues:` — every request value must match.
    ForAllValues,
}

/// The order comparison of a `Numeric…`/`Date…` operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    Equal,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl Order {
    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Order::Equal => ordering == Equal,
            Order::Less => ordering == Less,
            Order::LessOrEqual => ordering != Greater,
            Order::Greater => ordering == Greater,
            Order::GreaterOrEqual => ordering != Less,
        }
    }
}

/// The comparison an operator performs, before negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    Arn,
    Bool,
    Binary,
    Null,
    Numeric(Order),
    Date(Order),
    Ip,
}

/// A policy value, typed by its operator's family when the policy is parsed.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Text(String),
    Bool(bool),
    Number(f64),
    Time(DateTime<Utc>),
    Cidr(Cidr),
}

/// One `operator: { key: values }` entry of a statement's `Condition` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// The operator as written (`ForAnyValue:StringEqualsIfExists`).
    pub operator: String,
    /// The condition key as written; keys compare case-insensitively.
    pub key: String,
    kind: Kind,
    negated: bool,
    if_exists: bool,
    set: Option<SetQualifier>,
    values: Vec<Value>,
}

impl Condition {
    /// Parses one operator/key/values triple; values arrive as strings (JSON booleans and
    /// numbers already turned into their text). The error is the reason, without location.
    pub(crate) fn parse(operator: &str, key: &str, values: &[String]) -> Result<Self, String> {
        let (set, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            (Some(SetQualifier::ForAnyValue), rest)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            (Some(SetQualifier::ForAllValues), rest)
        } else {
            (None, operator)
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) if base != "Null" => (base, true),
            _ => (rest, false),
        };
        let (kind, negated) = operator_kind(base)
            .ok_or_else(|| format!("unknown condition operator \"{operator}\""))?;
        if key.is_empty() {
            return Err("empty condition key".to_owned());
        }
        if values.is_empty() {
            return Err(format!("condition key \"{key}\" has no values"));
        }
        let values = values
            .iter()
            .map(|v| parse_value(kind, v).ok_or_else(|| bad_value(kind, v)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Condition {
            operator: operator.to_owned(),
            key: key.to_owned(),
            kind,
            negated,
            if_exists,
            set,
            values,
        })
    }

    /// Whether the condition holds, given the request's values for this key (`None` when the
    /// request does not have the key).
    #[must_use]
    pub fn holds<S: AsRef<str>>(&self, request: Option<&[S]>) -> bool {
        let present = request.filter(|v| !v.is_empty());
        if self.kind == Kind::Null {
            let absent = present.is_none();
            return self.values.contains(&Value::Bool(absent));
        }
        let one = |v: &S| self.matches_one(v.as_ref()) != self.negated;
        match (self.set, present) {
            (Some(SetQualifier::ForAnyValue), None) => self.if_exists,
            (Some(SetQualifier::ForAllValues), None) => true,
            (None, None) => self.if_exists || self.negated,
            (Some(SetQualifier::ForAnyValue), Some(vs)) => vs.iter().any(one),
            (Some(SetQualifier::ForAllValues), Some(vs)) => vs.iter().all(one),
            (None, Some(vs)) => vs.iter().any(|v| self.matches_one(v.as_ref())) != self.negated,
        }
    }

    /// Whether one request value matches any policy value (the positive comparison).
    fn matches_one(&self, request: &str) -> bool {
        self.values.iter().any(|policy| match (self.kind, policy) {
            (Kind::StringEquals | Kind::Binary, Value::Text(p)) => p == request,
            (Kind::StringEqualsIgnoreCase, Value::Text(p)) => {
                p.to_lowercase() == request.to_lowercase()
            }
            (Kind::StringLike, Value::Text(p)) => wildcard::matches(p, request, false),
            (Kind::Arn, Value::Text(p)) => wildcard::arn_matches(p, request),
            (Kind::Bool, Value::Bool(p)) => parse_bool(request) == Some(*p),
            (Kind::Numeric(order), Value::Number(p)) => request
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(|r| r.partial_cmp(p))
                .is_some_and(|o| order.holds(o)),
            (Kind::Date(order), Value::Time(p)) => {
                parse_time(request).is_some_and(|r| order.holds(r.cmp(p)))
            }
            (Kind::Ip, Value::Cidr(p)) => request.parse::<IpAddr>().is_ok_and(|ip| p.contains(ip)),
            _ => false,
        })
    }
}

/// Maps an operator name without qualifier or `IfExists` to its comparison and negation.
fn operator_kind(base: &str) -> Option<(Kind, bool)> {
    let found = match base {
        "StringEquals" => (Kind::StringEquals, false),
        "StringNotEquals" => (Kind::StringEquals, true),
        "StringEqualsIgnoreCase" => (Kind::StringEqualsIgnoreCase, false),
        "StringNotEqualsIgnoreCase" => (Kind::StringEqualsIgnoreCase, true),
        "StringLike" => (Kind::StringLike, false),
        "StringNotLike" => (Kind::StringLike, true),
        // ArnEquals and ArnLike behave identically (the IAM User Guide documents both as
        // component-wise, wildcard-aware and case-sensitive).
        "ArnEquals" | "ArnLike" => (Kind::Arn, false),
        "ArnNotEquals" | "ArnNotLike" => (Kind::Arn, true),
        "Bool" => (Kind::Bool, false),
        "BinaryEquals" => (Kind::Binary, false),
        "Null" => (Kind::Null, false),
        "NumericEquals" => (Kind::Numeric(Order::Equal), false),
        "NumericNotEquals" => (Kind::Numeric(Order::Equal), true),
        "NumericLessThan" => (Kind::Numeric(Order::Less), false),
        "NumericLessThanEquals" => (Kind::Numeric(Order::LessOrEqual), false),
        "NumericGreaterThan" => (Kind::Numeric(Order::Greater), false),
        "NumericGreaterThanEquals" => (Kind::Numeric(Order::GreaterOrEqual), false),
        "DateEquals" => (Kind::Date(Order::Equal), false),
        "DateNotEquals" => (Kind::Date(Order::Equal), true),
        "DateLessThan" => (Kind::Date(Order::Less), false),
        "DateLessThanEquals" => (Kind::Date(Order::LessOrEqual), false),
        "DateGreaterThan" => (Kind::Date(Order::Greater), false),
        "DateGreaterThanEquals" => (Kind::Date(Order::GreaterOrEqual), false),
        "IpAddress" => (Kind::Ip, false),
        "NotIpAddress" => (Kind::Ip, true),
        _ => return None,
    };
    Some(found)
}

fn parse_value(kind: Kind, text: &str) -> Option<Value> {
    match kind {
        Kind::Bool | Kind::Null => parse_bool(text).map(Value::Bool),
        Kind::Numeric(_) => text.trim().parse::<f64>().ok().map(Value::Number),
        Kind::Date(_) => parse_time(text).map(Value::Time),
        Kind::Ip => Cidr::parse(text).map(Value::Cidr),
        Kind::StringEquals
        | Kind::StringEqualsIgnoreCase
        | Kind::StringLike
        | Kind::Arn
        | Kind::Binary => Some(Value::Text(text.to_owned())),
    }
}

fn bad_value(kind: Kind, text: &str) -> String {
    let expected = match kind {
        Kind::Bool | Kind::Null => "true or false",
        Kind::Numeric(_) => "a number",
        Kind::Date(_) => "an ISO 8601 date or epoch seconds",
        Kind::Ip => "an IP address or CIDR block",
        _ => "a string",
    };
    format!("value \"{text}\" is not {expected}")
}

fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Parses the date forms IAM accepts: ISO 8601 date-time (with `Z` or an offset, optional
/// fraction), a date-time without zone (taken as UTC), a bare date, or epoch seconds.
#[must_use]
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    }
    text.parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
}

/// An IPv4 or IPv6 CIDR block; a bare address is a single-address block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `203.0.113.0/24`, `2001:db8::/32` or a bare address.
    #[must_use]
    pub fn parse(text: &str) -> Option<Cidr> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    /// Whether the block contains `ip` (addresses of the other family never match).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, values: &[&str]) -> Condition {
        let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
        match Condition::parse(op, "k:key", &values) {
            Ok(c) => c,
            Err(e) => panic!("{op}: {e}"),
        }
    }

    /// (name, operator, policy values, request values (None = key absent), expected)
    type Case = (
        &'static str,
        &'static str,
        &'static [&'static str],
        Option<&'static [&'static str]>,
        bool,
    );

    const CASES: &[Case] = &[
        (
            "string_equals",
            "StringEquals",
            &["a", "b"],
            Some(&["b"]),
            true,
        ),
        (
            "string_equals_case",
            "StringEquals",
            &["A"],
            Some(&["a"]),
            false,
        ),
        ("string_equals_missing", "StringEquals", &["a"], None, false),
        (
            "string_not_equals",
            "StringNotEquals",
            &["a"],
            Some(&["b"]),
            true,
        ),
        (
            "string_not_equals_hit",
            "StringNotEquals",
            &["a"],
            Some(&["a"]),
            false,
        ),
        (
            "string_not_equals_missing",
            "StringNotEquals",
            &["a"],
            None,
            true,
        ),
        (
            "ignore_case",
            "StringEqualsIgnoreCase",
            &["ABC"],
            Some(&["abc"]),
            true,
        ),
        (
            "not_ignore_case",
            "StringNotEqualsIgnoreCase",
            &["ABC"],
            Some(&["abc"]),
            false,
        ),
        (
            "like",
            "StringLike",
            &["arn:*:role/app-?"],
            Some(&["arn:x:role/app-1"]),
            true,
        ),
        ("like_case", "StringLike", &["App*"], Some(&["app1"]), false),
        ("not_like_missing", "StringNotLike", &["a*"], None, true),
        ("not_like", "StringNotLike", &["a*"], Some(&["abc"]), false),
        (
            "if_exists_missing",
            "StringEqualsIfExists",
            &["a"],
            None,
            true,
        ),
        (
            "if_exists_present",
            "StringEqualsIfExists",
            &["a"],
            Some(&["b"]),
            false,
        ),
        (
            "arn_like",
            "ArnLike",
            &["arn:aws:iam::*:role/*"],
            Some(&["arn:aws:iam::1:role/r"]),
            true,
        ),
        (
            "arn_equals_wildcard",
            "ArnEquals",
            &["arn:aws:iam::1:role/*"],
            Some(&["arn:aws:iam::1:role/r"]),
            true,
        ),
        (
            "arn_not_like",
            "ArnNotLike",
            &["arn:aws:iam::1:*"],
            Some(&["arn:aws:iam::2:role/r"]),
            true,
        ),
        (
            "arn_not_equals_missing",
            "ArnNotEquals",
            &["arn:aws:iam::1:root"],
            None,
            true,
        ),
        ("bool_true", "Bool", &["true"], Some(&["true"]), true),
        ("bool_case", "Bool", &["true"], Some(&["TRUE"]), true),
        ("bool_false", "Bool", &["true"], Some(&["false"]), false),
        ("bool_missing", "Bool", &["false"], None, false),
        (
            "bool_if_exists_missing",
            "BoolIfExists",
            &["false"],
            None,
            true,
        ),
        ("null_true_absent", "Null", &["true"], None, true),
        ("null_true_present", "Null", &["true"], Some(&["x"]), false),
        ("null_false_present", "Null", &["false"], Some(&["x"]), true),
        (
            "null_empty_set_is_absent",
            "Null",
            &["true"],
            Some(&[]),
            true,
        ),
        (
            "numeric_eq",
            "NumericEquals",
            &["10"],
            Some(&["10.0"]),
            true,
        ),
        (
            "numeric_ne",
            "NumericNotEquals",
            &["10"],
            Some(&["11"]),
            true,
        ),
        ("numeric_lt", "NumericLessThan", &["10"], Some(&["9"]), true),
        (
            "numeric_lt_equal",
            "NumericLessThan",
            &["10"],
            Some(&["10"]),
            false,
        ),
        (
            "numeric_le",
            "NumericLessThanEquals",
            &["10"],
            Some(&["10"]),
            true,
        ),
        (
            "numeric_gt",
            "NumericGreaterThan",
            &["10"],
            Some(&["11"]),
            true,
        ),
        (
            "numeric_ge",
            "NumericGreaterThanEquals",
            &["10"],
            Some(&["9"]),
            false,
        ),
        (
            "numeric_garbage",
            "NumericEquals",
            &["10"],
            Some(&["ten"]),
            false,
        ),
        (
            "date_lt",
            "DateLessThan",
            &["2030-01-01T00:00:00Z"],
            Some(&["2025-06-01T12:00:00Z"]),
            true,
        ),
        (
            "date_gt_epoch",
            "DateGreaterThan",
            &["1700000000"],
            Some(&["2025-06-01T12:00:00Z"]),
            true,
        ),
        (
            "date_eq_forms",
            "DateEquals",
            &["2025-06-01"],
            Some(&["2025-06-01T00:00:00Z"]),
            true,
        ),
        (
            "date_ne",
            "DateNotEquals",
            &["2025-06-01"],
            Some(&["2025-06-02"]),
            true,
        ),
        (
            "date_le",
            "DateLessThanEquals",
            &["2025-06-01T00:00:00+02:00"],
            Some(&["2025-05-31T22:00:00Z"]),
            true,
        ),
        (
            "date_ge",
            "DateGreaterThanEquals",
            &["2025-06-01"],
            Some(&["2025-05-31"]),
            false,
        ),
        (
            "ip_v4",
            "IpAddress",
            &["203.0.113.0/24"],
            Some(&["203.0.113.9"]),
            true,
        ),
        (
            "ip_v4_outside",
            "IpAddress",
            &["203.0.113.0/24"],
            Some(&["203.0.114.9"]),
            false,
        ),
        (
            "ip_bare",
            "IpAddress",
            &["192.0.2.1"],
            Some(&["192.0.2.1"]),
            true,
        ),
        (
            "ip_v6",
            "IpAddress",
            &["2001:db8::/32"],
            Some(&["2001:db8:1::5"]),
            true,
        ),
        (
            "ip_family_mismatch",
            "IpAddress",
            &["0.0.0.0/0"],
            Some(&["2001:db8::1"]),
            false,
        ),
        (
            "not_ip",
            "NotIpAddress",
            &["10.0.0.0/8"],
            Some(&["192.0.2.1"]),
            true,
        ),
        (
            "not_ip_missing",
            "NotIpAddress",
            &["10.0.0.0/8"],
            None,
            true,
        ),
        (
            "ip_if_exists_missing",
            "IpAddressIfExists",
            &["10.0.0.0/8"],
            None,
            true,
        ),
        (
            "any_value_hit",
            "ForAnyValue:StringEquals",
            &["a"],
            Some(&["x", "a"]),
            true,
        ),
        (
            "any_value_miss",
            "ForAnyValue:StringEquals",
            &["a"],
            Some(&["x", "y"]),
            false,
        ),
        (
            "any_value_empty",
            "ForAnyValue:StringEquals",
            &["a"],
            Some(&[]),
            false,
        ),
        (
            "any_value_missing",
            "ForAnyValue:StringEquals",
            &["a"],
            None,
            false,
        ),
        (
            "all_values_hit",
            "ForAllValues:StringEquals",
            &["a", "b"],
            Some(&["a", "b"]),
            true,
        ),
        (
            "all_values_extra",
            "ForAllValues:StringEquals",
            &["a"],
            Some(&["a", "b"]),
            false,
        ),
        (
            "all_values_empty",
            "ForAllValues:StringEquals",
            &["a"],
            Some(&[]),
            true,
        ),
        (
            "all_values_missing",
            "ForAllValues:StringEquals",
            &["a"],
            None,
            true,
        ),
        (
            "all_values_not_equals",
            "ForAllValues:StringNotEquals",
            &["secret"],
            Some(&["a", "b"]),
            true,
        ),
        (
            "any_value_not_like",
            "ForAnyValue:StringNotLike",
            &["a*"],
            Some(&["ab", "zz"]),
            true,
        ),
        (
            "any_value_like",
            "ForAnyValue:StringLike",
            &["Dept*"],
            Some(&["Team", "DeptId"]),
            true,
        ),
        (
            "multi_value_no_qualifier",
            "StringEquals",
            &["a"],
            Some(&["x", "a"]),
            true,
        ),
    ];

    #[test]
    fn operator_table() {
        for (name, op, values, request, want) in CASES {
            let request: Option<Vec<String>> =
                request.map(|r| r.iter().map(|v| (*v).to_owned()).collect());
            let got = cond(op, values).holds(request.as_deref());
            assert_eq!(got, *want, "case {name}");
        }
    }

    #[test]
    fn parse_rejects_bad_operators_and_values() {
        let cases: [(&str, &str, &str, &str); 6] = [
            (
                "unknown_operator",
                "StringEqualz",
                "a",
                "unknown condition operator",
            ),
            (
                "bad_qualifier",
                "ForSomeValues:StringEquals",
                "a",
                "unknown condition operator",
            ),
            ("bad_number", "NumericEquals", "ten", "is not a number"),
            (
                "bad_date",
                "DateLessThan",
                "yesterday",
                "is not an ISO 8601 date",
            ),
            ("bad_ip", "IpAddress", "10.0.0.0/33", "is not an IP address"),
            ("bad_bool", "Bool", "yes", "is not true or false"),
        ];
        for (name, op, value, want) in cases {
            let err = Condition::parse(op, "k:key", &[value.to_owned()]).err();
            assert!(
                err.as_deref().is_some_and(|e| e.contains(want)),
                "case {name}: {err:?}"
            );
        }
    }
}
