//! The JSON policy grammar shared by key policies and identity policies, parsed and
//! validated once so evaluation never meets a malformed statement.
//!
//! Grammar (IAM User Guide, "IAM JSON policy element reference"): a document has an optional
//! `Version` (`2012-10-17` or `2008-10-17`), an optional `Id` and `Statement`, one object or an
//! array of them. A statement has an optional `Sid`, `Effect` (`Allow` | `Deny`), at most one
//! of `Principal`/`NotPrincipal` (`"*"` or `{"AWS"|"Service"|"Federated"|"CanonicalUser":
//! string | array of strings}`), exactly one of `Action`/`NotAction`, exactly one of
//! `Resource`/`NotResource` (both string | array of strings) and an optional `Condition`
//! (`{operator: {key: value | [values]}}`, values strings, booleans or numbers).

use serde_json::{Map, Value};

use super::condition::Condition;
use super::error::{PolicyError, StatementRef};
use super::wildcard;

/// A parsed, validated policy. The original text is kept for `GetKeyPolicy`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDocument {
    /// `Version`, when given.
    pub version: Option<String>,
    /// `Id`, when given.
    pub id: Option<String>,
    /// The statements in document order.
    pub statements: Vec<Statement>,
    text: String,
}

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// `"Effect": "Allow"`.
    Allow,
    /// `"Effect": "Deny"`.
    Deny,
}

/// One statement of a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`, when given.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Effect,
    /// `Principal` or `NotPrincipal`; `None` in identity policies.
    pub principal: Option<PrincipalSpec>,
    /// `Action` or `NotAction`.
    pub action: Patterns,
    /// `Resource` or `NotResource`.
    pub resource: Patterns,
    /// The conditions; all must hold.
    pub conditions: Vec<Condition>,
}

/// A list of wildcard patterns, possibly negated (`NotAction`, `NotResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    /// True for the `Not…` form: the element matches what none of the patterns match.
    pub negated: bool,
    /// The patterns as written.
    pub patterns: Vec<String>,
}

impl Patterns {
    /// Whether `text` is covered by the element.
    #[must_use]
    pub fn covers(&self, text: &str, ignore_case: bool) -> bool {
        let hit = self
            .patterns
            .iter()
            .any(|p| wildcard::matches(p, text, ignore_case));
        hit != self.negated
    }
}

/// `Principal` or `NotPrincipal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalSpec {
    /// True for `NotPrincipal`.
    pub negated: bool,
    /// Who is named.
    pub principals: Principals,
}

/// The principals a statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principals {
    /// `"*"` or `{"AWS": "*"}`: everyone.
    Everyone,
    /// Named principals by type.
    Listed {
        /// `AWS`: account ids, account root ARNs, user/role/assumed-role ARNs.
        aws: Vec<String>,
        /// `Service`: service principals such as `s3.amazonaws.com`.
        service: Vec<String>,
        /// `Federated`: identity providers.
        federated: Vec<String>,
        /// `CanonicalUser`: S3 canonical user ids (never match a KMS caller).
        canonical_user: Vec<String>,
    },
}

impl PolicyDocument {
    /// Parses and validates a policy; errors name the statement (index and `Sid`) and field.
    ///
    /// # Errors
    /// [`PolicyError`] for invalid JSON or any grammar violation.
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        let root: Value =
            serde_json::from_str(json).map_err(|e| PolicyError::Json(e.to_string()))?;
        let Value::Object(root) = root else {
            return Err(doc_error("(root)", "a policy must be a JSON object"));
        };
        let mut version = None;
        let mut id = None;
        let mut raw_statements = None;
        for (field, value) in &root {
            match field.as_str() {
                "Version" => {
                    let v = value
                        .as_str()
                        .ok_or_else(|| doc_error("Version", "must be a string"))?;
                    if v != "2012-10-17" && v != "2008-10-17" {
                        return Err(doc_error(
                            "Version",
                            &format!("\"{v}\" is not 2012-10-17 or 2008-10-17"),
                        ));
                    }
                    version = Some(v.to_owned());
                }
                "Id" => {
                    let v = value
                        .as_str()
                        .ok_or_else(|| doc_error("Id", "must be a string"))?;
                    id = Some(v.to_owned());
                }
                "Statement" => raw_statements = Some(value),
                other => return Err(doc_error(other, "unknown policy element")),
            }
        }
        let raw = raw_statements.ok_or_else(|| doc_error("Statement", "is missing"))?;
        let raw: Vec<&Value> = match raw {
            Value::Array(items) => items.iter().collect(),
            Value::Object(_) => vec![raw],
            _ => return Err(doc_error("Statement", "must be an object or an array")),
        };
        if raw.is_empty() {
            return Err(doc_error(
                "Statement",
                "must contain at least one statement",
            ));
        }
        let statements = raw
            .iter()
            .enumerate()
            .map(|(index, value)| parse_statement(index, value))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PolicyDocument {
            version,
            id,
            statements,
            text: json.to_owned(),
        })
    }

    /// Parses a key policy: like [`PolicyDocument::parse`], and every statement must name a
    /// `Principal` or `NotPrincipal`, as KMS requires.
    ///
    /// # Errors
    /// [`PolicyError`] as for [`PolicyDocument::parse`], or a statement without a principal.
    pub fn parse_key_policy(json: &str) -> Result<PolicyDocument, PolicyError> {
        let doc = PolicyDocument::parse(json)?;
        if let Some((index, s)) = doc
            .statements
            .iter()
            .enumerate()
            .find(|(_, s)| s.principal.is_none())
        {
            return Err(stmt_error(
                index,
                s.sid.as_deref(),
                "Principal",
                "is missing",
            ));
        }
        Ok(doc)
    }

    /// Parses an identity (IAM) policy: like [`PolicyDocument::parse`], and no statement may
    /// name a principal, as IAM requires.
    ///
    /// # Errors
    /// [`PolicyError`] as for [`PolicyDocument::parse`], or a statement with a principal.
    pub fn parse_identity_policy(json: &str) -> Result<PolicyDocument, PolicyError> {
        let doc = PolicyDocument::parse(json)?;
        if let Some((index, s)) = doc
            .statements
            .iter()
            .enumerate()
            .find(|(_, s)| s.principal.is_some())
        {
            return Err(stmt_error(
                index,
                s.sid.as_deref(),
                "Principal",
                "is not allowed in an identity policy",
            ));
        }
        Ok(doc)
    }

    /// The policy text exactly as it was given (what `GetKeyPolicy` returns).
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }
}

fn doc_error(field: &str, reason: &str) -> PolicyError {
    PolicyError::Document {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn stmt_error(index: usize, sid: Option<&str>, field: &str, reason: &str) -> PolicyError {
    PolicyError::Statement {
        statement: StatementRef {
            index,
            sid: sid.map(str::to_owned),
        },
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_statement(index: usize, value: &Value) -> Result<Statement, PolicyError> {
    let Value::Object(obj) = value else {
        return Err(stmt_error(
            index,
            None,
            "(statement)",
            "must be a JSON object",
        ));
    };
    let sid = match obj.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(stmt_error(index, None, "Sid", "must be a string")),
    };
    let err = |field: &str, reason: &str| stmt_error(index, sid.as_deref(), field, reason);
    for field in obj.keys() {
        if !matches!(
            field.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return Err(err(field, "unknown statement element"));
        }
    }
    let effect = match obj.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(Value::String(e)) => {
            return Err(err("Effect", &format!("\"{e}\" is not Allow or Deny")))
        }
        Some(_) => return Err(err("Effect", "must be a string")),
        None => return Err(err("Effect", "is missing")),
    };
    let principal = match (obj.get("Principal"), obj.get("NotPrincipal")) {
        (Some(_), Some(_)) => {
            return Err(err(
                "Principal",
                "Principal and NotPrincipal are mutually exclusive",
            ))
        }
        (Some(p), None) => Some(parse_principal(p, false).map_err(|r| err("Principal", &r))?),
        (None, Some(p)) => Some(parse_principal(p, true).map_err(|r| err("NotPrincipal", &r))?),
        (None, None) => None,
    };
    let action = parse_patterns(obj, "Action", "NotAction").map_err(|(f, r)| err(f, &r))?;
    let resource = parse_patterns(obj, "Resource", "NotResource").map_err(|(f, r)| err(f, &r))?;
    let conditions = match obj.get("Condition") {
        None => Vec::new(),
        Some(c) => parse_conditions(c).map_err(|(f, r)| err(&f, &r))?,
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        action,
        resource,
        conditions,
    })
}

/// A string or a non-empty array of strings.
fn string_list(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| "array items must be strings".to_owned())
            })
            .collect(),
        Value::Array(_) => Err("must not be an empty array".to_owned()),
        _ => Err("must be a string or an array of strings".to_owned()),
    }
}

fn parse_patterns(
    obj: &Map<String, Value>,
    positive: &'static str,
    negative: &'static str,
) -> Result<Patterns, (&'static str, String)> {
    let (field, value, negated) = match (obj.get(positive), obj.get(negative)) {
        (Some(_), Some(_)) => {
            return Err((
                positive,
                format!("{positive} and {negative} are mutually exclusive"),
            ))
        }
        (Some(v), None) => (positive, v, false),
        (None, Some(v)) => (negative, v, true),
        (None, None) => {
            return Err((
                positive,
                format!("one of {positive} or {negative} is required"),
            ))
        }
    };
    let patterns = string_list(value).map_err(|r| (field, r))?;
    Ok(Patterns { negated, patterns })
}

fn parse_principal(value: &Value, negated: bool) -> Result<PrincipalSpec, String> {
    let principals = match value {
        Value::String(s) if s == "*" => Principals::Everyone,
        Value::Object(map) => {
            let (mut aws, mut service, mut federated, mut canonical_user) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for (kind, ids) in map {
                let ids = string_list(ids).map_err(|r| format!("{kind}: {r}"))?;
                match kind.as_str() {
                    "AWS" => aws.extend(ids),
                    "Service" => service.extend(ids),
                    "Federated" => federated.extend(ids),
                    "CanonicalUser" => canonical_user.extend(ids),
                    other => return Err(format!("unknown principal type \"{other}\"")),
                }
            }
            if map.is_empty() {
                return Err("names no principal".to_owned());
            }
            if let Some(bad) = aws.iter().find(|a| !valid_aws_principal(a)) {
                return Err(format!(
                    "AWS principal \"{bad}\" is not \"*\", an account id or an ARN"
                ));
            }
            if aws.iter().any(|a| a == "*") {
                Principals::Everyone
            } else {
                Principals::Listed {
                    aws,
                    service,
                    federated,
                    canonical_user,
                }
            }
        }
        _ => return Err("must be \"*\" or an object of principal types".to_owned()),
    };
    Ok(PrincipalSpec {
        negated,
        principals,
    })
}

fn valid_aws_principal(p: &str) -> bool {
    p == "*" || is_account_id(p) || p.starts_with("arn:")
}

/// Whether `text` is a 12-digit AWS account id.
#[must_use]
pub fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

fn parse_conditions(value: &Value) -> Result<Vec<Condition>, (String, String)> {
    let Value::Object(ops) = value else {
        return Err(("Condition".to_owned(), "must be an object".to_owned()));
    };
    let mut out = Vec::new();
    for (op, keys) in ops {
        let field = format!("Condition.{op}");
        let Value::Object(keys) = keys else {
            return Err((field, "must be an object of condition keys".to_owned()));
        };
        if keys.is_empty() {
            return Err((field, "names no condition key".to_owned()));
        }
        for (key, values) in keys {
            let values = condition_values(values).map_err(|r| (format!("{field}.{key}"), r))?;
            out.push(Condition::parse(op, key, &values).map_err(|r| (field.clone(), r))?);
        }
    }
    Ok(out)
}

/// Condition values: a scalar or an array of scalars (strings, booleans, numbers).
fn condition_values(value: &Value) -> Result<Vec<String>, String> {
    fn scalar(v: &Value) -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            _ => Err("values must be strings, booleans or numbers".to_owned()),
        }
    }
    match value {
        Value::Array(items) => items.iter().map(scalar).collect(),
        other => Ok(vec![scalar(other)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_object_and_array_statements() {
        let one = r#"{"Statement": {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#;
        let doc = PolicyDocument::parse(one).map_err(|e| e.to_string());
        assert_eq!(doc.as_ref().map(|d| d.statements.len()), Ok(1));
        assert_eq!(doc.as_ref().map(PolicyDocument::text), Ok(one));

        let two = r#"{"Version": "2012-10-17", "Id": "p", "Statement": [
            {"Sid": "A", "Effect": "Allow", "Principal": {"AWS": ["111122223333"], "Service": "s3.amazonaws.com"},
             "NotAction": ["kms:Delete*"], "Resource": "*",
             "Condition": {"Bool": {"kms:GrantIsForAWSResource": true}, "NumericLessThan": {"k:n": 5}}},
            {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "NotResource": "arn:aws:kms:*"}]}"#;
        let doc = match PolicyDocument::parse(two) {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(doc.id.as_deref(), Some("p"));
        let s = &doc.statements[0];
        assert!(s.action.negated);
        assert_eq!(s.conditions.len(), 2);
        assert!(matches!(
            &s.principal,
            Some(PrincipalSpec { negated: false, principals: Principals::Listed { aws, service, .. } })
                if aws == &["111122223333"] && service == &["s3.amazonaws.com"]
        ));
        assert!(doc.statements[1].resource.negated);
        assert_eq!(
            doc.statements[1].principal.as_ref().map(|p| &p.principals),
            Some(&Principals::Everyone)
        );
    }

    #[test]
    fn errors_name_statement_and_field() {
        let cases = [
            ("not_json", "{", "policy is not valid JSON"),
            (
                "no_statement",
                r#"{"Version": "2012-10-17"}"#,
                "policy element Statement: is missing",
            ),
            (
                "bad_version",
                r#"{"Version": "2020-01-01", "Statement": []}"#,
                "Version: \"2020-01-01\"",
            ),
            (
                "unknown_top",
                r#"{"Statment": []}"#,
                "policy element Statment: unknown",
            ),
            ("empty", r#"{"Statement": []}"#, "at least one statement"),
            (
                "bad_effect",
                r#"{"Statement": [{"Effect": "Allow", "Action": "a", "Resource": "*"},
                   {"Sid": "Second", "Effect": "allow", "Action": "a", "Resource": "*"}]}"#,
                "statement 1 (Sid \"Second\"): Effect: \"allow\" is not Allow or Deny",
            ),
            (
                "action_and_not_action",
                r#"{"Statement": {"Effect": "Allow", "Action": "a", "NotAction": "b", "Resource": "*"}}"#,
                "statement 0: Action: Action and NotAction are mutually exclusive",
            ),
            (
                "no_action",
                r#"{"Statement": {"Effect": "Allow", "Resource": "*"}}"#,
                "statement 0: Action: one of Action or NotAction is required",
            ),
            (
                "no_resource",
                r#"{"Statement": {"Effect": "Allow", "Action": "a"}}"#,
                "statement 0: Resource: one of Resource or NotResource is required",
            ),
            (
                "unknown_operator",
                r#"{"Statement": {"Sid": "C", "Effect": "Allow", "Action": "a", "Resource": "*",
                   "Condition": {"StringEqualz": {"k:k": "v"}}}}"#,
                "statement 0 (Sid \"C\"): Condition.StringEqualz: unknown condition operator",
            ),
            (
                "bad_principal",
                r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "alice"}, "Action": "a", "Resource": "*"}}"#,
                "statement 0: Principal: AWS principal \"alice\"",
            ),
            (
                "principal_type",
                r#"{"Statement": {"Effect": "Allow", "Principal": {"Robot": "x"}, "Action": "a", "Resource": "*"}}"#,
                "unknown principal type \"Robot\"",
            ),
            (
                "unknown_element",
                r#"{"Statement": {"Effect": "Allow", "Actions": "a", "Resource": "*"}}"#,
                "statement 0: Actions: unknown statement element",
            ),
            (
                "empty_action_list",
                r#"{"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}"#,
                "statement 0: Action: must not be an empty array",
            ),
            (
                "nested_condition_value",
                r#"{"Statement": {"Effect": "Allow", "Action": "a", "Resource": "*",
                   "Condition": {"StringEquals": {"k:k": {"x": 1}}}}}"#,
                "Condition.StringEquals.k:k: values must be",
            ),
        ];
        for (name, json, want) in cases {
            let got = PolicyDocument::parse(json)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert!(
                got.as_ref().is_err_and(|e| e.contains(want)),
                "case {name}: got {got:?}, want {want}"
            );
        }
    }

    #[test]
    fn key_and_identity_policies_check_principals() {
        let no_principal =
            r#"{"Statement": {"Sid": "S", "Effect": "Allow", "Action": "kms:*", "Resource": "*"}}"#;
        let err = PolicyDocument::parse_key_policy(no_principal).map_err(|e| e.to_string());
        assert_eq!(
            err.err().as_deref(),
            Some("statement 0 (Sid \"S\"): Principal: is missing")
        );
        assert!(PolicyDocument::parse_identity_policy(no_principal).is_ok());
        let with_principal = r#"{"Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}}"#;
        assert!(PolicyDocument::parse_identity_policy(with_principal).is_err());
    }
}
