//! Rule parameters: the thresholds and lists a rule declares with defaults (`params:`),
//! which a configuration file or the command line may override with values of the same
//! type. Match rules read them through Sigma's `expand` modifier (`%name%` placeholders).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_yaml_ng::Value;

/// One parameter value. The type is fixed by the rule's default: an override must have the
/// same type (an integer is accepted where a number is expected).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `true` / `false`.
    Bool(bool),
    /// A whole number (counts, days).
    Int(i64),
    /// A number with a fraction (ratios, multipliers).
    Float(f64),
    /// Text.
    Text(String),
    /// A list of texts (ARNs, account ids, CIDRs).
    List(Vec<String>),
}

impl ParamValue {
    /// The type's name, as written in messages and docs.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Bool(_) => "boolean",
            Self::Int(_) => "integer",
            Self::Float(_) => "number",
            Self::Text(_) => "text",
            Self::List(_) => "list of texts",
        }
    }

    /// Reads a value from a rule file.
    pub fn from_yaml(value: &Value) -> Result<Self, String> {
        match value {
            Value::Bool(b) => Ok(Self::Bool(*b)),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Self::Int(i))
                } else if let Some(f) = n.as_f64() {
                    Ok(Self::Float(f))
                } else {
                    Err(format!("the number {n} is out of range"))
                }
            }
            Value::String(s) => Ok(Self::Text(s.clone())),
            Value::Sequence(items) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    Value::Bool(b) => Ok(b.to_string()),
                    other => Err(format!(
                        "list items must be texts, found {}",
                        crate::rules::yaml::type_name(other)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Self::List),
            other => Err(format!(
                "a parameter must be a boolean, number, text or list of texts, found {}",
                crate::rules::yaml::type_name(other)
            )),
        }
    }

    /// Parses `text` (from the command line) as a value of this value's type. Lists are
    /// comma-separated.
    pub fn parse_like(&self, text: &str) -> Result<Self, String> {
        let wrong = || format!("`{text}` is not a {}", self.type_name());
        match self {
            Self::Bool(_) => match text {
                "true" => Ok(Self::Bool(true)),
                "false" => Ok(Self::Bool(false)),
                _ => Err(wrong()),
            },
            Self::Int(_) => text.trim().parse().map(Self::Int).map_err(|_| wrong()),
            Self::Float(_) => text.trim().parse().map(Self::Float).map_err(|_| wrong()),
            Self::Text(_) => Ok(Self::Text(text.to_owned())),
            Self::List(_) => Ok(Self::List(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            )),
        }
    }

    /// `value` converted to this value's type, or why it cannot be.
    pub fn conform(&self, value: ParamValue) -> Result<ParamValue, String> {
        match (self, value) {
            (Self::Float(_), Self::Int(i)) => Ok(Self::Float(i as f64)),
            (expected, value)
                if std::mem::discriminant(expected) == std::mem::discriminant(&value) =>
            {
                Ok(value)
            }
            (expected, value) => Err(format!(
                "must be a {}, like its default, not a {}",
                expected.type_name(),
                value.type_name()
            )),
        }
    }

    /// The values a `%name%` placeholder stands for: each item of a list, or the one value.
    pub fn expansions(&self) -> Vec<String> {
        match self {
            Self::List(items) => items.clone(),
            other => vec![other.to_string()],
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Text(s) => f.write_str(s),
            Self::List(items) => write!(f, "[{}]", items.join(", ")),
        }
    }
}

/// A rule's parameters by name, in name order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Params(BTreeMap<String, ParamValue>);

impl Params {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.get(name)
    }

    /// Declares `name` with `value` (the loader checks names before).
    pub fn insert(&mut self, name: String, value: ParamValue) {
        self.0.insert(name, value);
    }

    /// Every parameter in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &ParamValue)> {
        self.0.iter()
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Replaces the value of the declared parameter `name`; the new value must have the
    /// declared type.
    pub fn set(&mut self, name: &str, value: ParamValue) -> Result<(), String> {
        let Some(current) = self.0.get_mut(name) else {
            let known: Vec<&str> = self.0.keys().map(String::as_str).collect();
            return Err(if known.is_empty() {
                format!("the rule has no parameter `{name}` (it declares none)")
            } else {
                format!(
                    "the rule has no parameter `{name}`; it declares: {}",
                    known.join(", ")
                )
            });
        };
        *current = current.conform(value)?;
        Ok(())
    }
}

/// Whether `name` is a valid parameter name: snake_case ASCII.
pub fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_type() {
        let mut params = Params::new();
        params.insert("max_age_days".into(), ParamValue::Int(365));
        params.insert("ratio".into(), ParamValue::Float(1.5));
        params.insert("roles".into(), ParamValue::List(vec![]));
        assert!(params.set("max_age_days", ParamValue::Int(90)).is_ok());
        assert_eq!(params.get("max_age_days"), Some(&ParamValue::Int(90)));
        assert!(params.set("ratio", ParamValue::Int(2)).is_ok());
        assert_eq!(params.get("ratio"), Some(&ParamValue::Float(2.0)));
        let err = params
            .set("max_age_days", ParamValue::Text("x".into()))
            .expect_err("wrong type");
        assert!(err.contains("integer"), "{err}");
        assert!(params.set("nope", ParamValue::Int(1)).is_err());
    }

    #[test]
    fn command_line_text_is_parsed_like_the_default() {
        let list = ParamValue::List(vec![]);
        assert_eq!(
            list.parse_like("a, b,,c"),
            Ok(ParamValue::List(vec!["a".into(), "b".into(), "c".into()]))
        );
        assert!(ParamValue::Int(1).parse_like("ten").is_err());
        assert_eq!(
            ParamValue::Bool(false).parse_like("true"),
            Ok(ParamValue::Bool(true))
        );
    }

    #[test]
    fn names_are_snake_case() {
        assert!(is_param_name("max_age_days"));
        assert!(!is_param_name("MaxAge"));
        assert!(!is_param_name("_x"));
        assert!(!is_param_name(""));
    }
}
