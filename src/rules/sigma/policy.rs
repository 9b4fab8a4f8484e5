//! The `allows` modifier, a kms-audit extension of Sigma: whether an IAM policy document
//! held in a field (`requestParameters.policyDocument` of PutUserPolicy, CreatePolicy, …)
//! grants an action on every resource of its service.
//!
//! Sigma compares one field value at a time, so it cannot tie a statement's `Effect`,
//! `Action` and `Resource` together; this test reads the document statement by statement.
//! A statement grants `ACTION` on every resource when
//!
//! - its `Effect` is `Allow`;
//! - an `Action` pattern covers every action `ACTION` names (`kms:Decrypt` is covered by
//!   `kms:Decrypt`, `kms:De*`, `kms:*`, `*`; `kms:*` only by patterns covering all of
//!   `kms:*`), or it has a `NotAction` none of whose patterns overlaps `ACTION`;
//! - a `Resource` pattern covers every resource of the action's service: `*`, or an ARN whose
//!   Region and resource id are wildcards (`arn:aws:kms:*:111122223333:key/*`,
//!   `arn:aws:kms:*:*:*`, `arn:aws:kms:*`), whatever its account; or it has a `NotResource`
//!   none of whose patterns is such an ARN.
//!
//! Conditions are not judged (as AWS Security Hub's KMS.1 / KMS.2 and Prowler do not), and
//! patterns are compared as IAM does, case-insensitively with `*` and `?` wildcards. The
//! document may be JSON text or URL-encoded JSON text (`%7B%22Version%22…`); anything else
//! grants nothing.

use serde_json::Value;

/// A compiled `allows` value: an IAM action (or action pattern) such as `kms:Decrypt` or
/// `kms:*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allows {
    /// The action, lower-cased.
    action: String,
    /// Its service prefix (`kms`), lower-cased.
    service: String,
}

impl Allows {
    /// Parses an `allows` value: `service:action`, the service without wildcards.
    pub fn parse(text: &str) -> Result<Self, String> {
        let action = text.trim().to_ascii_lowercase();
        let service = match action.split_once(':') {
            Some((service, name))
                if !service.is_empty()
                    && !name.is_empty()
                    && service
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                service.to_owned()
            }
            _ => {
                return Err(format!(
                    "`{text}` is not an IAM action: `allows` takes `service:action`, such as kms:Decrypt or kms:*"
                ))
            }
        };
        Ok(Self { action, service })
    }

    /// Whether the policy document `document` (JSON or URL-encoded JSON) has a statement
    /// that allows the action on every resource of its service.
    pub fn is_granted_by(&self, document: &str) -> bool {
        let Some(policy) = parse_document(document) else {
            return false;
        };
        let statements = match policy.get("Statement") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(single @ Value::Object(_)) => vec![single],
            _ => Vec::new(),
        };
        statements.into_iter().any(|s| self.granted_by_statement(s))
    }

    fn granted_by_statement(&self, statement: &Value) -> bool {
        let allow = statement
            .get("Effect")
            .and_then(Value::as_str)
            .is_some_and(|e| e.eq_ignore_ascii_case("Allow"));
        if !allow {
            return false;
        }
        let actions = if let Some(action) = statement.get("Action") {
            patterns(action)
                .into_iter()
                .any(|p| covers(p, &self.action))
        } else if let Some(not_action) = statement.get("NotAction") {
            !patterns(not_action)
                .into_iter()
                .any(|p| covers(p, &self.action) || covers(&self.action, p))
        } else {
            false
        };
        if !actions {
            return false;
        }
        if let Some(resource) = statement.get("Resource") {
            patterns(resource)
                .into_iter()
                .any(|r| every_resource(r, &self.service))
        } else if let Some(not_resource) = statement.get("NotResource") {
            !patterns(not_resource)
                .into_iter()
                .any(|r| every_resource(r, &self.service))
        } else {
            false
        }
    }
}

/// The policy document as JSON: the text itself, or the text URL-decoded when it starts
/// with a percent escape.
fn parse_document(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.starts_with('%') {
        let decoded = percent_decode(text)?;
        serde_json::from_str(&decoded).ok()
    } else {
        serde_json::from_str(text).ok()
    }
}

/// Decodes `%XX` escapes (and `+` as a space, as in form encoding); `None` for a broken
/// escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The strings of a policy element that is a string or a list of strings.
fn patterns(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Whether the IAM pattern `pattern` matches every string the pattern `target` matches,
/// case-insensitively: `*` in `pattern` matches any run of characters (the `*` of `target`
/// included), `?` one character other than `target`'s `*`, and `target`'s `*` is matched
/// only by `pattern`'s `*`. Exact for a `target` without wildcards; otherwise a sufficient
/// test (it never says a pattern covers what it does not).
fn covers(pattern: &str, target: &str) -> bool {
    let p: Vec<u8> = pattern.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let t: Vec<u8> = target.bytes().map(|b| b.to_ascii_lowercase()).collect();
    // reach[j]: the pattern read so far can match the first j bytes of the target.
    let mut reach = vec![false; t.len() + 1];
    if let Some(start) = reach.first_mut() {
        *start = true;
    }
    for &pc in &p {
        let mut next = vec![false; t.len() + 1];
        if pc == b'*' {
            let mut any = false;
            for (slot, &reached) in next.iter_mut().zip(&reach) {
                any = any || reached;
                *slot = any;
            }
        } else {
            for ((slot, &reached), &tc) in next.iter_mut().skip(1).zip(&reach).zip(&t) {
                let one = if pc == b'?' { tc != b'*' } else { tc == pc };
                *slot = reached && one;
            }
        }
        reach = next;
    }
    reach.last().copied().unwrap_or(false)
}

/// Whether the `Resource` pattern covers every resource of `service`, in any Region and
/// whatever the account: `*`; or `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` with a
/// service part covering `service`, a Region part of only `*`, and a resource part that is
/// `*` or `TYPE/*`; an ARN cut short by a trailing `*` part (`arn:aws:kms:*`) spans the
/// parts after it.
fn every_resource(pattern: &str, service: &str) -> bool {
    let all_stars = |s: &str| !s.is_empty() && s.bytes().all(|b| b == b'*');
    if all_stars(pattern) {
        return true;
    }
    let parts: Vec<&str> = pattern.splitn(6, ':').collect();
    if !parts.first().is_some_and(|head| covers(head, "arn")) {
        return false;
    }
    for (i, part) in parts.iter().enumerate().skip(1) {
        let last = i + 1 == parts.len();
        if last && parts.len() < 6 {
            return all_stars(part);
        }
        let ok = match i {
            2 => covers(part, service),
            3 => all_stars(part),
            5 => {
                all_stars(part)
                    || part.strip_suffix("/*").is_some_and(|kind| {
                        !kind.is_empty() && !kind.contains(['*', '?', ':', '/'])
                    })
            }
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    parts.len() == 6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(action: &str, document: &str) -> bool {
        Allows::parse(action)
            .expect("action")
            .is_granted_by(document)
    }

    #[test]
    fn action_patterns_cover_like_iam() {
        for p in [
            "kms:Decrypt",
            "KMS:decrypt",
            "kms:De*",
            "kms:*",
            "*",
            "kms:?ecrypt",
            "k*t",
        ] {
            assert!(covers(p, "kms:decrypt"), "{p}");
        }
        for p in [
            "kms:Encrypt",
            "kms:Decrypt2",
            "kms:ReEncrypt*",
            "s3:*",
            "kms:D",
            "",
        ] {
            assert!(!covers(p, "kms:decrypt"), "{p}");
        }
        for p in ["kms:*", "*", "k*", "kms*"] {
            assert!(covers(p, "kms:*"), "{p}");
        }
        for p in ["kms:Decrypt", "kms:D*", "kms:?*", "kms:Re*"] {
            assert!(!covers(p, "kms:*"), "{p}");
        }
        assert!(covers("kms:ReEncrypt*", "kms:reencryptfrom"));
    }

    #[test]
    fn resources_covering_every_key() {
        for r in [
            "*",
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:*:*:*",
            "arn:aws-us-gov:kms:*:111122223333:*",
            "arn:*:*:*:*:*",
            "arn:aws:kms:*",
            "arn:aws:*",
            "arn:*",
        ] {
            assert!(every_resource(r, "kms"), "{r}");
        }
        for r in [
            "arn:aws:kms:us-east-1:111122223333:key/*",
            "arn:aws:kms:*:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:*:111122223333:key/12*",
            "arn:aws:s3:::*",
            "arn:aws:kms:us-*:111122223333:*",
            "arn:aws:kms",
            "arn:aws:kms:*:111122223333",
            "",
        ] {
            assert!(!every_resource(r, "kms"), "{r}");
        }
    }

    #[test]
    fn statements_tie_effect_action_and_resource_together() {
        let all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}"#;
        assert!(allows("kms:Decrypt", all));
        assert!(!allows("kms:ReEncryptFrom", all));
        assert!(!allows("kms:*", all));
        // One key only.
        assert!(!allows(
            "kms:Decrypt",
            r#"{"Statement":{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}}"#
        ));
        // Allowed on one key, everything denied: nothing grants decrypt on all keys.
        let split = r#"{"Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*"},{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/k"},{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        assert!(!allows("kms:Decrypt", split));
        // Full access, in another member order, with a condition that is not judged.
        let full = r#"{"Statement":[{"Resource":["arn:aws:kms:*:111122223333:key/*"],"Condition":{"StringEquals":{"aws:RequestedRegion":"us-east-1"}},"Action":"kms:*","Effect":"Allow"}]}"#;
        assert!(allows("kms:*", full));
        assert!(allows("kms:Decrypt", full));
        assert!(allows(
            "kms:Decrypt",
            r#"{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
        ));
    }

    #[test]
    fn not_action_and_not_resource() {
        let not_action = r#"{"Statement":[{"Effect":"Allow","NotAction":["iam:*","organizations:*"],"Resource":"*"}]}"#;
        assert!(allows("kms:Decrypt", not_action));
        assert!(allows("kms:*", not_action));
        let not_decrypt =
            r#"{"Statement":[{"Effect":"Allow","NotAction":"kms:Decrypt","Resource":"*"}]}"#;
        assert!(!allows("kms:Decrypt", not_decrypt));
        assert!(!allows("kms:*", not_decrypt));
        assert!(allows("kms:ReEncryptFrom", not_decrypt));
        let not_resource = r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"arn:aws:kms:us-east-1:111122223333:key/k"}]}"#;
        assert!(allows("kms:Decrypt", not_resource));
        let nothing =
            r#"{"Statement":[{"Effect":"Allow","Action":"kms:Decrypt","NotResource":"*"}]}"#;
        assert!(!allows("kms:Decrypt", nothing));
    }

    #[test]
    fn url_encoded_and_malformed_documents() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22kms%3ADecrypt%22%2C%22Resource%22%3A%22*%22%7D%5D%7D";
        assert!(allows("kms:Decrypt", encoded));
        let form = "%7B%22Statement%22%3A+%5B%7B%22Effect%22%3A+%22Allow%22%2C+%22Action%22%3A+%22kms%3A*%22%2C+%22Resource%22%3A+%22*%22%7D%5D%7D";
        assert!(allows("kms:*", form));
        for bad in [
            "",
            "not json",
            "%7",
            "%ZZ",
            "[]",
            "{}",
            r#"{"Statement":"x"}"#,
            "null",
        ] {
            assert!(!allows("kms:Decrypt", bad), "{bad}");
        }
    }

    #[test]
    fn values_must_be_actions() {
        assert!(Allows::parse("kms:Decrypt").is_ok());
        assert!(Allows::parse("kms:*").is_ok());
        for bad in ["Decrypt", "*", "k*:Decrypt", ":Decrypt", "kms:"] {
            let err = Allows::parse(bad).expect_err(bad);
            assert!(err.contains("IAM action"), "{err}");
        }
    }
}
