//! Rule settings from outside the rule files: a configuration file (`--config`) that turns
//! rules off and sets their parameters, and `--param RULE.NAME=VALUE` overrides from the
//! command line. Settings are read once, checked against the loaded rules (an unknown rule
//! or parameter is an error naming it) and applied with [`Rule::with_params`].
//!
//! ```yaml
//! rules:
//!   KMS.LC.1:
//!     enabled: true
//!     params: { exempt_principals: [arn:aws:iam::111122223333:role/decommission] }
//!   KMS.LP.1:
//!     enabled: false
//! ```

use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use crate::rules::model::Rule;
use crate::rules::params::ParamValue;
use crate::rules::yaml::{type_name, FieldPath, KeyIndex};

/// A settings file or argument that cannot be used. File errors name the file, line,
/// column and field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Something wrong in a file (configuration or waivers).
    #[error("{file}:{line}:{column}: {}{message}", field_prefix(.field))]
    File {
        /// The file as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The dotted path of the field at fault; empty for the whole file.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A `--param` argument that cannot be used.
    #[error("--param {arg}: {message}")]
    Arg {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        message: String,
    },
}

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

/// Where a setting came from, to name it in errors.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    File {
        file: String,
        line: usize,
        column: usize,
        field: String,
    },
    Arg(String),
}

impl Source {
    fn error(&self, message: String) -> ConfigError {
        match self {
            Self::File {
                file,
                line,
                column,
                field,
            } => ConfigError::File {
                file: file.clone(),
                line: *line,
                column: *column,
                field: field.clone(),
                message,
            },
            Self::Arg(arg) => ConfigError::Arg {
                arg: arg.clone(),
                message,
            },
        }
    }
}

/// A parameter value as given: typed YAML from a file, text from the command line (read
/// with the type of the rule's default).
#[derive(Debug, Clone, PartialEq)]
enum Raw {
    Value(ParamValue),
    Text(String),
}

#[derive(Debug, Clone, PartialEq)]
struct ParamSetting {
    rule: String,
    name: String,
    value: Raw,
    source: Source,
}

#[derive(Debug, Clone, PartialEq)]
struct EnabledSetting {
    rule: String,
    enabled: bool,
    source: Source,
}

/// Settings for the rules, from a configuration file and the command line; later settings
/// win.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSettings {
    params: Vec<ParamSetting>,
    enabled: Vec<EnabledSetting>,
    /// Rules named in the settings, for the unknown-rule check.
    named: Vec<(String, Source)>,
}

impl RuleSettings {
    /// No settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads the configuration file at `path`.
    pub fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| ConfigError::File {
            file: file.clone(),
            line: 1,
            column: 1,
            field: String::new(),
            message: format!("cannot be read: {err}"),
        })?;
        self.load_text(&file, &text)
    }

    /// Reads a configuration file's `text`; `file` names it in errors.
    pub fn load_text(&mut self, file: &str, text: &str) -> Result<(), ConfigError> {
        let index = KeyIndex::new(text);
        let at = |path: &FieldPath| {
            let (line, column) = index.locate(0, path);
            Source::File {
                file: file.to_owned(),
                line,
                column,
                field: path.to_string(),
            }
        };
        let value: Value = serde_yaml_ng::from_str(text).map_err(|err| {
            let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
            ConfigError::File {
                file: file.to_owned(),
                line,
                column,
                field: String::new(),
                message: format!("invalid YAML: {err}"),
            }
        })?;
        let root = FieldPath::root();
        let map = match &value {
            Value::Null => return Ok(()),
            Value::Mapping(map) => map,
            other => {
                return Err(at(&root).error(format!(
                    "a configuration file must be a mapping with a `rules` key, found {}",
                    type_name(other)
                )))
            }
        };
        for key in map.keys() {
            let name = key.as_str().unwrap_or_default();
            if name != "rules" {
                return Err(at(&root.key(name))
                    .error("is not a configuration setting; expected: rules".to_owned()));
            }
        }
        let Some(rules) = map.get("rules") else {
            return Ok(());
        };
        let rules_path = root.key("rules");
        let rules = match rules {
            Value::Null => return Ok(()),
            Value::Mapping(rules) => rules,
            other => {
                return Err(at(&rules_path).error(format!(
                    "must be a mapping of rule id to settings, found {}",
                    type_name(other)
                )))
            }
        };
        for (key, settings) in rules {
            let Some(rule) = key.as_str() else {
                return Err(at(&rules_path).error("rule ids must be texts".to_owned()));
            };
            let rule_path = rules_path.key(rule);
            self.named.push((rule.to_owned(), at(&rule_path)));
            let settings: &Mapping = match settings {
                Value::Null => continue,
                Value::Mapping(m) => m,
                other => {
                    return Err(at(&rule_path).error(format!(
                        "must be a mapping with `enabled` and/or `params`, found {}",
                        type_name(other)
                    )))
                }
            };
            for (key, value) in settings {
                let name = key.as_str().unwrap_or_default();
                let path = rule_path.key(name);
                match name {
                    "enabled" => {
                        let Value::Bool(enabled) = value else {
                            return Err(at(&path).error(format!(
                                "must be true or false, found {}",
                                type_name(value)
                            )));
                        };
                        self.enabled.push(EnabledSetting {
                            rule: rule.to_owned(),
                            enabled: *enabled,
                            source: at(&path),
                        });
                    }
                    "params" => {
                        let params = match value {
                            Value::Null => continue,
                            Value::Mapping(p) => p,
                            other => {
                                return Err(at(&path).error(format!(
                                    "must be a mapping of parameter name to value, found {}",
                                    type_name(other)
                                )))
                            }
                        };
                        for (param, value) in params {
                            let param = param.as_str().unwrap_or_default();
                            let param_path = path.key(param);
                            let value = ParamValue::from_yaml(value)
                                .map_err(|message| at(&param_path).error(message))?;
                            self.params.push(ParamSetting {
                                rule: rule.to_owned(),
                                name: param.to_owned(),
                                value: Raw::Value(value),
                                source: at(&param_path),
                            });
                        }
                    }
                    _ => {
                        return Err(at(&path).error(
                            "is not a rule setting; expected one of: enabled, params".to_owned(),
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// Adds a `--param RULE.NAME=VALUE` argument (the rule id is everything before the last
    /// dot of the left side; lists are comma-separated).
    pub fn add_arg(&mut self, arg: &str) -> Result<(), ConfigError> {
        let source = Source::Arg(arg.to_owned());
        let Some((target, value)) = arg.split_once('=') else {
            return Err(source.error("expected RULE.PARAM=VALUE".to_owned()));
        };
        let Some((rule, name)) = target.trim().rsplit_once('.') else {
            return Err(source.error("expected RULE.PARAM=VALUE".to_owned()));
        };
        if rule.is_empty() || name.is_empty() {
            return Err(source.error("expected RULE.PARAM=VALUE".to_owned()));
        }
        self.named.push((rule.to_owned(), source.clone()));
        self.params.push(ParamSetting {
            rule: rule.to_owned(),
            name: name.to_owned(),
            value: Raw::Text(value.to_owned()),
            source,
        });
        Ok(())
    }

    /// Whether there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.named.is_empty()
    }

    /// `rules` with the settings applied: disabled rules removed, parameters set and the
    /// rules compiled again. An unknown rule or parameter, or a value of the wrong type, is
    /// an error naming it.
    pub fn apply(&self, rules: Vec<Rule>) -> Result<Vec<Rule>, ConfigError> {
        let find = |id: &str| rules.iter().position(|r| r.id.eq_ignore_ascii_case(id));
        for (rule, source) in &self.named {
            if find(rule).is_none() {
                return Err(source.error(format!(
                    "no rule has the id `{rule}`; `kms-audit rules list` shows them"
                )));
            }
        }
        let mut out = Vec::with_capacity(rules.len());
        for rule in &rules {
            let mine = |id: &str| rule.id.eq_ignore_ascii_case(id);
            let enabled = self
                .enabled
                .iter()
                .rev()
                .find(|s| mine(&s.rule))
                .is_none_or(|s| s.enabled);
            let mut values: Vec<(String, ParamValue)> = Vec::new();
            for setting in self.params.iter().filter(|s| mine(&s.rule)) {
                let Some(current) = rule.params.get(&setting.name) else {
                    let known: Vec<&str> = rule.params.iter().map(|(n, _)| n.as_str()).collect();
                    let declared = if known.is_empty() {
                        "it declares none".to_owned()
                    } else {
                        format!("it declares: {}", known.join(", "))
                    };
                    return Err(setting.source.error(format!(
                        "rule {} has no parameter `{}`; {declared}",
                        rule.id, setting.name
                    )));
                };
                let value = match &setting.value {
                    Raw::Value(value) => current.conform(value.clone()),
                    Raw::Text(text) => current.parse_like(text),
                }
                .map_err(|message| {
                    setting
                        .source
                        .error(format!("{}.{}: {message}", rule.id, setting.name))
                })?;
                values.retain(|(n, _)| n != &setting.name);
                values.push((setting.name.clone(), value));
            }
            if !enabled {
                continue;
            }
            if values.is_empty() {
                out.push(rule.clone());
                continue;
            }
            let compiled = rule.with_params(&values).map_err(|err| {
                let source = self
                    .params
                    .iter()
                    .rev()
                    .find(|s| mine(&s.rule))
                    .map(|s| s.source.clone())
                    .unwrap_or_else(|| Source::Arg(rule.id.clone()));
                source.error(format!(
                    "rule {} cannot use these parameters: {err}",
                    rule.id
                ))
            })?;
            out.push(compiled);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_errors_name_line_and_field() {
        let mut settings = RuleSettings::new();
        let err = settings
            .load_text("c.yml", "rules:\n  KMS.LC.1:\n    enabld: false\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "c.yml:3:5: rules.KMS.LC.1.enabld: is not a rule setting; expected one of: enabled, params"
        );
        let err = settings
            .load_text("c.yml", "rules:\n  KMS.LC.1:\n    enabled: 3\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("c.yml:3:5: rules.KMS.LC.1.enabled: must be true or false"),
            "{err}"
        );
    }

    #[test]
    fn args_split_at_the_last_dot() {
        let mut settings = RuleSettings::new();
        settings.add_arg("KMS.ROT.1.max_age_days=180").unwrap();
        assert_eq!(settings.params[0].rule, "KMS.ROT.1");
        assert_eq!(settings.params[0].name, "max_age_days");
        assert_eq!(settings.params[0].value, Raw::Text("180".into()));
        let err = settings.add_arg("nodot=1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "--param nodot=1: expected RULE.PARAM=VALUE"
        );
    }

    #[test]
    fn unknown_rules_and_params_are_named() {
        let loaded = crate::rules::load_bundled();
        let mut settings = RuleSettings::new();
        settings.add_arg("KMS.NOPE.9.x=1").unwrap();
        let err = settings.apply(loaded.rules.clone()).unwrap_err();
        assert!(err.to_string().contains("`KMS.NOPE.9`"), "{err}");

        let mut settings = RuleSettings::new();
        settings.add_arg("KMS.LC.1.nope=1").unwrap();
        let err = settings.apply(loaded.rules.clone()).unwrap_err();
        assert!(err.to_string().contains("no parameter `nope`"), "{err}");

        let mut settings = RuleSettings::new();
        settings
            .load_text("c.yml", "rules:\n  kms.lp.1: { enabled: false }\n")
            .unwrap();
        let rules = settings.apply(loaded.rules.clone()).unwrap();
        assert_eq!(rules.len(), loaded.rules.len() - 1);
        assert!(rules.iter().all(|r| r.id != "KMS.LP.1"));
    }
}
