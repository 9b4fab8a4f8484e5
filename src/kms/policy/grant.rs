//! Grants: standing permissions on one key for one grantee principal, limited to listed
//! operations and optionally to an encryption context.
//!
//! Facts from the KMS API reference (`GrantConstraints`): constraints apply only to
//! cryptographic operations that take an encryption context (not to `DescribeKey`,
//! `RetireGrant`, nor to asymmetric keys); in a constraint "the key in each key-value pair is
//! not case sensitive, but the value is case sensitive". The field names follow `ListGrants`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::context::{root_account, RequestContext};

/// A grant as configured in the engine or created by `CreateGrant`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Grant {
    /// The grant id (64 hex characters in AWS).
    pub grant_id: String,
    /// The key ARN the grant is on (`KeyId` in `ListGrants`).
    #[serde(rename = "KeyId")]
    pub key_arn: String,
    /// The principal the grant gives permissions to (role, user, account root or service).
    pub grantee_principal: String,
    /// The principal that may retire the grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    /// KMS operation names (`Decrypt`, `GenerateDataKey`, …) the grant allows.
    pub operations: Vec<String>,
    /// Encryption context constraints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<GrantConstraints>,
    /// The grant's friendly name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The account that created the grant: an account id or its root ARN.
    pub issuing_account: String,
    /// When the grant was created (`CreationDate` in `ListGrants`: seconds since the epoch
    /// on the wire; an RFC 3339 text is read too, as the AWS CLI prints it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "creation_date"
    )]
    pub creation_date: Option<DateTime<Utc>>,
    /// Set once the grant is retired or revoked; such a grant allows nothing.
    #[serde(skip)]
    pub retired: bool,
}

/// `GrantConstraints`: the encryption context a cryptographic request must carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GrantConstraints {
    /// The request's encryption context must be exactly this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// The request's encryption context must include these pairs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

/// Operations that take an encryption context, the only ones constraints apply to.
const CONTEXT_OPERATIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

impl Grant {
    /// Whether the grant allows the request: live, on this key, for this caller, for this
    /// operation, and its constraints (where they apply) are met.
    #[must_use]
    pub fn allows(&self, ctx: &RequestContext) -> bool {
        let operation = ctx.action.strip_prefix("kms:").unwrap_or(&ctx.action);
        !self.retired
            && self.key_arn == ctx.resource
            && names_caller(&self.grantee_principal, ctx)
            && self.operations.iter().any(|op| op == operation)
            && self.constraints_met(operation, ctx)
    }

    /// Whether the caller may retire the grant: its retiring principal, its grantee when the
    /// grant includes `RetireGrant`, or the root user of the issuing account.
    #[must_use]
    pub fn may_retire(&self, ctx: &RequestContext) -> bool {
        self.retiring_principal
            .as_deref()
            .is_some_and(|p| names_caller(p, ctx))
            || (names_caller(&self.grantee_principal, ctx)
                && self.operations.iter().any(|op| op == "RetireGrant"))
            || root_account(&ctx.principal).is_some_and(|account| {
                // `ListGrants` shows the issuing account as its root ARN; accept both forms.
                account == self.issuing_account
                    || root_account(&self.issuing_account) == Some(account)
            })
    }

    fn constraints_met(&self, operation: &str, ctx: &RequestContext) -> bool {
        let Some(c) = &self.constraints else {
            return true;
        };
        let symmetric = ctx
            .values("kms:KeySpec")
            .is_none_or(|specs| specs.iter().any(|s| s == "SYMMETRIC_DEFAULT"));
        if !CONTEXT_OPERATIONS.contains(&operation) || !symmetric {
            return true;
        }
        let request = &ctx.encryption_context;
        let has = |(k, v): (&String, &String)| {
            request
                .iter()
                .any(|(rk, rv)| rk.eq_ignore_ascii_case(k) && rv == v)
        };
        let equals_ok = c
            .encryption_context_equals
            .as_ref()
            .is_none_or(|want| want.len() == request.len() && want.iter().all(has));
        let subset_ok = c
            .encryption_context_subset
            .as_ref()
            .is_none_or(|want| want.iter().all(has));
        equals_ok && subset_ok
    }
}

/// Whether a principal named in a grant is the caller (its identity or its role session).
fn names_caller(named: &str, ctx: &RequestContext) -> bool {
    named == ctx.principal || ctx.session_arn.as_deref() == Some(named)
}

/// `CreationDate` as the JSON protocol writes timestamps (epoch seconds), read from a
/// number or an RFC 3339 text.
mod creation_date {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Seconds(f64),
        Text(String),
    }

    // `skip_serializing_if` leaves only `Some` here.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(
        value: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        #[allow(clippy::cast_precision_loss)]
        match value {
            Some(time) => serializer.serialize_f64(time.timestamp_millis() as f64 / 1000.0),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let time = match Wire::deserialize(deserializer)? {
            #[allow(clippy::cast_possible_truncation)]
            Wire::Seconds(seconds) => {
                DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64)
            }
            Wire::Text(text) => DateTime::parse_from_rfc3339(&text)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        };
        time.map(Some)
            .ok_or_else(|| serde::de::Error::custom("CreationDate is not a valid timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";
    const APP: &str = "arn:aws:iam::111122223333:role/app";

    fn ec(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn grant(constraints: Option<GrantConstraints>) -> Grant {
        Grant {
            grant_id: "g1".to_owned(),
            key_arn: KEY.to_owned(),
            grantee_principal: APP.to_owned(),
            retiring_principal: Some("arn:aws:iam::111122223333:user/ops".to_owned()),
            operations: vec!["Decrypt".to_owned(), "GenerateDataKey".to_owned()],
            constraints,
            name: None,
            issuing_account: "111122223333".to_owned(),
            creation_date: None,
            retired: false,
        }
    }

    #[test]
    fn grant_table() {
        let equals = Some(GrantConstraints {
            encryption_context_equals: Some(ec(&[("Dept", "IT")])),
            encryption_context_subset: None,
        });
        let subset = Some(GrantConstraints {
            encryption_context_equals: None,
            encryption_context_subset: Some(ec(&[("Dept", "IT")])),
        });
        // (name, grant constraints, action, caller, request context, expected)
        let cases = [
            ("plain", None, "kms:Decrypt", APP, ec(&[]), true),
            (
                "session_of_grantee",
                None,
                "kms:Decrypt",
                "arn:aws:sts::111122223333:assumed-role/app/s",
                ec(&[]),
                true,
            ),
            (
                "other_caller",
                None,
                "kms:Decrypt",
                "arn:aws:iam::111122223333:role/other",
                ec(&[]),
                false,
            ),
            (
                "operation_not_granted",
                None,
                "kms:Encrypt",
                APP,
                ec(&[]),
                false,
            ),
            (
                "equals_exact",
                equals.clone(),
                "kms:Decrypt",
                APP,
                ec(&[("Dept", "IT")]),
                true,
            ),
            (
                "equals_key_case_insensitive",
                equals.clone(),
                "kms:Decrypt",
                APP,
                ec(&[("dept", "IT")]),
                true,
            ),
            (
                "equals_value_case_sensitive",
                equals.clone(),
                "kms:Decrypt",
                APP,
                ec(&[("Dept", "it")]),
                false,
            ),
            (
                "equals_extra_pair",
                equals.clone(),
                "kms:Decrypt",
                APP,
                ec(&[("Dept", "IT"), ("x", "y")]),
                false,
            ),
            (
                "equals_missing",
                equals.clone(),
                "kms:Decrypt",
                APP,
                ec(&[]),
                false,
            ),
            (
                "subset_extra_pair",
                subset.clone(),
                "kms:Decrypt",
                APP,
                ec(&[("Dept", "IT"), ("x", "y")]),
                true,
            ),
            (
                "subset_missing",
                subset.clone(),
                "kms:GenerateDataKey",
                APP,
                ec(&[("x", "y")]),
                false,
            ),
        ];
        for (name, constraints, action, caller, context, want) in cases {
            let mut ctx = RequestContext::new(action, KEY, caller);
            ctx.encryption_context = context;
            assert_eq!(grant(constraints).allows(&ctx), want, "case {name}");
        }
    }

    #[test]
    fn constraints_skip_non_context_operations_and_retired_grants_allow_nothing() {
        let mut g = grant(Some(GrantConstraints {
            encryption_context_equals: Some(ec(&[("Dept", "IT")])),
            encryption_context_subset: None,
        }));
        g.operations.push("DescribeKey".to_owned());
        let ctx = RequestContext::new("kms:DescribeKey", KEY, APP);
        assert!(g.allows(&ctx));
        g.retired = true;
        assert!(!g.allows(&ctx));
    }

    #[test]
    fn who_may_retire() {
        let g = grant(None);
        let may = |caller: &str| g.may_retire(&RequestContext::new("kms:RetireGrant", KEY, caller));
        assert!(may("arn:aws:iam::111122223333:user/ops"));
        assert!(may("arn:aws:iam::111122223333:root"));
        assert!(!may(APP), "grantee without RetireGrant in the operations");
        assert!(!may("arn:aws:iam::444455556666:user/ops"));
    }

    #[test]
    fn grant_reads_list_grants_shape() {
        let json = r#"{"GrantId": "g1", "KeyId": "arn:aws:kms:us-east-1:111122223333:key/k1",
            "GranteePrincipal": "arn:aws:iam::111122223333:role/app", "Operations": ["Decrypt"],
            "Constraints": {"EncryptionContextSubset": {"Dept": "IT"}}, "IssuingAccount": "111122223333"}"#;
        let g: Result<Grant, _> = serde_json::from_str(json);
        assert!(g.is_ok_and(|g| g.constraints.is_some() && g.operations == ["Decrypt"]));
        let dated = r#"{"GrantId": "g1", "KeyId": "k", "GranteePrincipal": "p",
            "Operations": ["Decrypt"], "IssuingAccount": "111122223333",
            "CreationDate": 1767225600.5}"#;
        let g: Grant = serde_json::from_str(dated).expect("epoch seconds");
        assert_eq!(
            g.creation_date.map(|t| t.timestamp_millis()),
            Some(1_767_225_600_500)
        );
        let text = serde_json::to_string(&g).expect("serialize");
        assert!(text.contains("\"CreationDate\":1767225600.5"), "{text}");
        let iso = r#"{"GrantId": "g1", "KeyId": "k", "GranteePrincipal": "p",
            "Operations": [], "IssuingAccount": "1", "CreationDate": "2026-01-01T00:00:00Z"}"#;
        let g: Grant = serde_json::from_str(iso).expect("rfc 3339");
        assert_eq!(g.creation_date.map(|t| t.timestamp()), Some(1_767_225_600));
    }
}
