//! KMS's authorization decision for one request.
//!
//! The rules, from the KMS Developer Guide ("Key policies", "Allowing users in other accounts
//! to use a KMS key", "Grants"):
//! 1. An explicit `Deny` in the key policy or in the caller's identity policies wins over
//!    everything, grants included.
//! 2. Same account: the key policy allows the caller directly; or it allows the account
//!    (`arn:…:iam::<key account>:root` or the bare account id), which delegates to IAM, and an
//!    identity policy of the caller allows the action.
//! 3. Another account: the key policy allows the caller or the caller's account, and the
//!    caller's identity policy allows the action too (the external account's root user needs
//!    no identity policy).
//! 4. Service principals are allowed only directly by the key policy.
//! 5. Otherwise a live grant for the caller, operation and encryption context allows.

use super::context::{root_account, RequestContext};
use super::document::{
    is_account_id, Effect, PolicyDocument, PrincipalSpec, Principals, Statement,
};
use super::grant::Grant;

/// What authorized a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The key policy names the caller (for callers in other accounts, an identity policy
    /// allowed it as well).
    KeyPolicy,
    /// The key policy delegates to the account and an identity policy allowed it.
    IdentityPolicy,
    /// The grant with this id.
    Grant(String),
    /// The caller is its account's root user, whom IAM allows every account-level action.
    AccountRoot,
}

/// The kind of policy a denial is attributed to, as AWS names it in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyType {
    /// The key policy.
    ResourceBased,
    /// The caller's IAM policies.
    IdentityBased,
}

impl PolicyType {
    /// The words AWS uses in access-denied messages.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyType::ResourceBased => "resource-based",
            PolicyType::IdentityBased => "identity-based",
        }
    }
}

/// The outcome of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request is authorized.
    Allow {
        /// What authorized it.
        by: Source,
    },
    /// The request is refused (`AccessDeniedException`).
    Deny {
        /// True when a `Deny` statement matched; false when nothing allowed.
        explicit: bool,
        /// The `Sid` of the denying statement, when explicit and named.
        statement: Option<String>,
        /// The policy the denial is attributed to.
        policy: PolicyType,
    },
}

impl Decision {
    /// Whether the request is authorized.
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow { .. })
    }
}

/// How a statement's principal element relates to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum PrincipalMatch {
    No,
    /// The caller's account is named: delegation to the account's IAM policies.
    Account,
    /// The caller itself (or everyone) is named.
    Direct,
}

/// What a key policy says about a request.
#[derive(Debug, Default)]
pub(crate) struct KeyVerdict {
    /// A `Deny` statement matched.
    pub denied: bool,
    /// The `Sid` of the first matching `Deny` statement.
    pub deny_sid: Option<String>,
    /// An `Allow` names the caller.
    pub direct: bool,
    /// An `Allow` names the caller's account.
    pub account: bool,
}

/// Decides whether `ctx` is authorized by the key policy, the caller's identity policies and
/// the grants on the key.
#[must_use]
pub fn evaluate(
    key_policy: &PolicyDocument,
    identity_policies: &[PolicyDocument],
    grants: &[Grant],
    ctx: &RequestContext,
) -> Decision {
    let key = key_verdict(key_policy, ctx);
    if key.denied {
        return explicit_deny(key.deny_sid, PolicyType::ResourceBased);
    }
    let identity_allows = match identity_verdict(identity_policies, ctx) {
        Ok(allows) => allows,
        Err(deny) => return deny,
    };
    let same_account = !ctx.is_service() && ctx.principal_account == ctx.key_account;
    let allowed = if ctx.is_service() {
        key.direct.then_some(Source::KeyPolicy)
    } else if same_account {
        if key.direct {
            Some(Source::KeyPolicy)
        } else if key.account && identity_allows {
            Some(Source::IdentityPolicy)
        } else {
            None
        }
    } else if key.direct && (identity_allows || ctx.is_account_root()) {
        Some(Source::KeyPolicy)
    } else if key.account && identity_allows {
        Some(Source::IdentityPolicy)
    } else {
        None
    };
    if let Some(by) = allowed {
        return Decision::Allow { by };
    }
    if let Some(g) = grants.iter().find(|g| g.allows(ctx)) {
        return Decision::Allow {
            by: Source::Grant(g.grant_id.clone()),
        };
    }
    // The key policy let the caller through to IAM, so IAM is what said no.
    let iam_said_no = key.account || (key.direct && !same_account && !ctx.is_service());
    Decision::Deny {
        explicit: false,
        statement: None,
        policy: if iam_said_no {
            PolicyType::IdentityBased
        } else {
            PolicyType::ResourceBased
        },
    }
}

fn explicit_deny(statement: Option<String>, policy: PolicyType) -> Decision {
    Decision::Deny {
        explicit: true,
        statement,
        policy,
    }
}

/// Evaluates the key policy alone.
pub(crate) fn key_verdict(policy: &PolicyDocument, ctx: &RequestContext) -> KeyVerdict {
    let mut verdict = KeyVerdict::default();
    for s in policy.statements.iter().filter(|s| applies(s, ctx)) {
        let matched = s
            .principal
            .as_ref()
            .map_or(PrincipalMatch::No, |p| principal_match(p, ctx));
        match (s.effect, matched) {
            (_, PrincipalMatch::No) => {}
            // A Deny naming an account covers every principal in it.
            (Effect::Deny, _) => {
                if !verdict.denied {
                    verdict.denied = true;
                    verdict.deny_sid.clone_from(&s.sid);
                }
            }
            (Effect::Allow, PrincipalMatch::Direct) => verdict.direct = true,
            (Effect::Allow, PrincipalMatch::Account) => verdict.account = true,
        }
    }
    verdict
}

/// Whether a statement's action, resource and conditions cover the request.
/// Decides an account-level action (`kms:CreateKey`, `kms:ListKeys`, `kms:GenerateRandom`,
/// …; resource `*`), where no key policy takes part and IAM alone decides: the account's
/// root user is allowed; an explicit `Deny` in the caller's identity policies wins; otherwise
/// one of them must allow the action. Services have no identity policies and are refused.
#[must_use]
pub fn evaluate_account_action(
    identity_policies: &[PolicyDocument],
    ctx: &RequestContext,
) -> Decision {
    if ctx.is_account_root() {
        return Decision::Allow {
            by: Source::AccountRoot,
        };
    }
    let allowed = match identity_verdict(identity_policies, ctx) {
        Ok(allows) => allows,
        Err(deny) => return deny,
    };
    if allowed {
        return Decision::Allow {
            by: Source::IdentityPolicy,
        };
    }
    Decision::Deny {
        explicit: false,
        statement: None,
        policy: PolicyType::IdentityBased,
    }
}

/// What the caller's identity policies say: whether one allows the request, or the explicit
/// deny of the first `Deny` statement that applies. Identity policies belong to IAM users and
/// roles; services (and root users) have none.
fn identity_verdict(
    identity_policies: &[PolicyDocument],
    ctx: &RequestContext,
) -> Result<bool, Decision> {
    let mut allows = false;
    if !ctx.is_service() {
        for s in identity_policies
            .iter()
            .flat_map(|p| &p.statements)
            .filter(|s| applies(s, ctx))
        {
            match s.effect {
                Effect::Deny => {
                    return Err(explicit_deny(s.sid.clone(), PolicyType::IdentityBased))
                }
                Effect::Allow => allows = true,
            }
        }
    }
    Ok(allows)
}

fn applies(s: &Statement, ctx: &RequestContext) -> bool {
    s.action.covers(&ctx.action, true)
        && s.resource.covers(&ctx.resource, false)
        && s.conditions
            .iter()
            .all(|c| c.holds(ctx.values(&c.key).as_deref()))
}

fn principal_match(spec: &PrincipalSpec, ctx: &RequestContext) -> PrincipalMatch {
    let found = match &spec.principals {
        Principals::Everyone => PrincipalMatch::Direct,
        Principals::Listed {
            aws,
            service,
            federated,
            ..
        } => {
            let by_aws = aws
                .iter()
                .map(|p| aws_principal_match(p, ctx))
                .max()
                .unwrap_or(PrincipalMatch::No);
            let named = |list: &[String]| list.contains(&ctx.principal);
            if (ctx.is_service() && named(service)) || named(federated) {
                PrincipalMatch::Direct
            } else {
                by_aws
            }
        }
    };
    if spec.negated {
        // NotPrincipal: everyone except those named (and their accounts' principals).
        if found == PrincipalMatch::No {
            PrincipalMatch::Direct
        } else {
            PrincipalMatch::No
        }
    } else {
        found
    }
}

fn aws_principal_match(named: &str, ctx: &RequestContext) -> PrincipalMatch {
    if ctx.is_service() {
        return PrincipalMatch::No;
    }
    let account = if is_account_id(named) {
        Some(named)
    } else {
        root_account(named)
    };
    match account {
        Some(account) if root_account(&ctx.principal) == Some(account) => PrincipalMatch::Direct,
        Some(account) if ctx.principal_account == account => PrincipalMatch::Account,
        None if named == ctx.principal || ctx.session_arn.as_deref() == Some(named) => {
            PrincipalMatch::Direct
        }
        Some(_) | None => PrincipalMatch::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::policy::default_key_policy;
    use crate::kms::policy::grant::GrantConstraints;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
    const APP: &str = "arn:aws:iam::111122223333:role/app";
    const APP_SESSION: &str = "arn:aws:sts::111122223333:assumed-role/app/s1";
    const EXTERNAL: &str = "arn:aws:iam::444455556666:role/partner";
    const ROOT: &str = "arn:aws:iam::111122223333:root";

    fn doc(json: &str) -> PolicyDocument {
        match PolicyDocument::parse(json) {
            Ok(d) => d,
            Err(e) => panic!("{e}: {json}"),
        }
    }

    /// A key policy with the given statements (JSON objects, comma-separated).
    fn key_policy(statements: &str) -> PolicyDocument {
        doc(&format!(
            r#"{{"Version": "2012-10-17", "Statement": [{statements}]}}"#
        ))
    }

    fn identity(actions: &str) -> PolicyDocument {
        doc(&format!(
            r#"{{"Statement": {{"Effect": "Allow", "Action": {actions}, "Resource": "{KEY}"}}}}"#
        ))
    }

    const ROOT_STMT: &str = r#"{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"}"#;

    fn allow(principal: &str, action: &str, condition: &str) -> String {
        format!(
            r#"{{"Effect": "Allow", "Principal": {principal}, "Action": {action}, "Resource": "*"{condition}}}"#
        )
    }

    fn ctx(action: &str, caller: &str) -> RequestContext {
        RequestContext::new(action, KEY, caller)
    }

    fn key_allowed() -> Decision {
        Decision::Allow {
            by: Source::KeyPolicy,
        }
    }

    fn implicit(policy: PolicyType) -> Decision {
        Decision::Deny {
            explicit: false,
            statement: None,
            policy,
        }
    }

    /// Adjusts a request context before evaluation.
    type Setup = fn(&mut RequestContext);

    /// (name, key policy statements, identity policies, action, caller, expected)
    type DelegationCase = (
        &'static str,
        String,
        Vec<PolicyDocument>,
        &'static str,
        &'static str,
        Decision,
    );

    #[test]
    #[allow(clippy::too_many_lines)] // one table of named cases
    fn key_policy_table() {
        let alice = r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#;
        let deny_decrypt = r#"{"Sid": "NoDecrypt", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}"#;
        let caller_account =
            r#", "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"}}"#;
        let via_ec2 = r#", "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}}"#;
        let office_ip = r#", "Condition": {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}"#;
        let ec_dept = r#", "Condition": {"StringEquals": {"kms:EncryptionContext:Dept": "IT"}}"#;
        let ec_keys = r#", "Condition": {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["Dept", "Project"]}}"#;
        let ec_required =
            r#", "Condition": {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "Dept"}}"#;
        let org = r#", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}"#;
        let principal_arn =
            r#", "Condition": {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/app"}}"#;
        let aws_resource = r#", "Condition": {"Bool": {"kms:GrantIsForAWSResource": true}}"#;
        let grant_ops = r#", "Condition": {"ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]}}"#;

        // (name, statements, action, caller, setup, expected)
        let none: Setup = |_| {};
        let cases: Vec<(&str, String, &str, &str, Setup, Decision)> = vec![
            ("direct_user", allow(alice, r#""kms:Decrypt""#, ""), "kms:Decrypt", ALICE, none, key_allowed()),
            ("direct_other_action", allow(alice, r#""kms:Decrypt""#, ""), "kms:Encrypt", ALICE, none, implicit(PolicyType::ResourceBased)),
            ("action_case_insensitive", allow(alice, r#""KMS:decrypt""#, ""), "kms:Decrypt", ALICE, none, key_allowed()),
            ("action_wildcard", allow(alice, r#""kms:Generate*""#, ""), "kms:GenerateDataKey", ALICE, none, key_allowed()),
            (
                "deny_over_allow",
                format!("{}, {deny_decrypt}", allow(alice, r#""kms:*""#, "")),
                "kms:Decrypt", ALICE, none,
                Decision::Deny { explicit: true, statement: Some("NoDecrypt".to_owned()), policy: PolicyType::ResourceBased },
            ),
            (
                "not_action",
                r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "NotAction": ["kms:Delete*", "kms:ScheduleKeyDeletion"], "Resource": "*"}"#.to_owned(),
                "kms:Decrypt", ALICE, none, key_allowed(),
            ),
            (
                "not_action_excluded",
                r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}, "NotAction": ["kms:Delete*", "kms:ScheduleKeyDeletion"], "Resource": "*"}"#.to_owned(),
                "kms:ScheduleKeyDeletion", ALICE, none, implicit(PolicyType::ResourceBased),
            ),
            (
                "resource_mismatch",
                r#"{"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "arn:aws:kms:us-east-1:111122223333:key/other"}"#.to_owned(),
                "kms:Decrypt", ALICE, none, implicit(PolicyType::ResourceBased),
            ),
            ("role_arn_matches_session", allow(r#"{"AWS": "arn:aws:iam::111122223333:role/app"}"#, r#""kms:*""#, ""), "kms:Decrypt", APP_SESSION, none, key_allowed()),
            ("session_arn_named", allow(r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/app/s1"}"#, r#""kms:*""#, ""), "kms:Decrypt", APP_SESSION, none, key_allowed()),
            ("other_session_not_named", allow(r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/app/s2"}"#, r#""kms:*""#, ""), "kms:Decrypt", APP_SESSION, none, implicit(PolicyType::ResourceBased)),
            ("star_with_caller_account", allow(r#""*""#, r#""kms:Decrypt""#, caller_account), "kms:Decrypt", ALICE, none, key_allowed()),
            ("star_with_caller_account_other", allow(r#""*""#, r#""kms:Decrypt""#, caller_account), "kms:Decrypt", "arn:aws:iam::999999999999:user/eve", none, implicit(PolicyType::ResourceBased)),
            ("via_service", allow(alice, r#""kms:Decrypt""#, via_ec2), "kms:Decrypt", ALICE, |c| c.via_service = Some("ec2.us-east-1.amazonaws.com".to_owned()), key_allowed()),
            ("via_service_missing", allow(alice, r#""kms:Decrypt""#, via_ec2), "kms:Decrypt", ALICE, none, implicit(PolicyType::ResourceBased)),
            ("source_ip_v4", allow(alice, r#""kms:Decrypt""#, office_ip), "kms:Decrypt", ALICE, |c| c.source_ip = "203.0.113.7".parse().ok(), key_allowed()),
            ("source_ip_v6", allow(alice, r#""kms:Decrypt""#, office_ip), "kms:Decrypt", ALICE, |c| c.source_ip = "2001:db8::7".parse().ok(), key_allowed()),
            ("source_ip_outside", allow(alice, r#""kms:Decrypt""#, office_ip), "kms:Decrypt", ALICE, |c| c.source_ip = "198.51.100.1".parse().ok(), implicit(PolicyType::ResourceBased)),
            ("ec_value", allow(alice, r#""kms:Decrypt""#, ec_dept), "kms:Decrypt", ALICE, |c| { c.encryption_context.insert("Dept".into(), "IT".into()); }, key_allowed()),
            ("ec_value_case", allow(alice, r#""kms:Decrypt""#, ec_dept), "kms:Decrypt", ALICE, |c| { c.encryption_context.insert("Dept".into(), "it".into()); }, implicit(PolicyType::ResourceBased)),
            ("ec_key_name_case_insensitive", allow(alice, r#""kms:Decrypt""#, ec_dept), "kms:Decrypt", ALICE, |c| { c.encryption_context.insert("dept".into(), "IT".into()); }, key_allowed()),
            ("ec_keys_all_allowed", allow(alice, r#""kms:Decrypt""#, ec_keys), "kms:Decrypt", ALICE, |c| { c.encryption_context.insert("Dept".into(), "IT".into()); }, key_allowed()),
            ("ec_keys_all_empty_context", allow(alice, r#""kms:Decrypt""#, ec_keys), "kms:Decrypt", ALICE, none, key_allowed()),
            ("ec_keys_all_extra_key", allow(alice, r#""kms:Decrypt""#, ec_keys), "kms:Decrypt", ALICE, |c| { c.encryption_context.insert("Other".into(), "x".into()); }, implicit(PolicyType::ResourceBased)),
            ("ec_keys_any_empty_context", allow(alice, r#""kms:Decrypt""#, ec_required), "kms:Decrypt", ALICE, none, implicit(PolicyType::ResourceBased)),
            ("org_id", allow(r#""*""#, r#""kms:Decrypt""#, org), "kms:Decrypt", ALICE, |c| c.principal_org_id = Some("o-abc".into()), key_allowed()),
            ("principal_arn_of_session", allow(r#""*""#, r#""kms:Decrypt""#, principal_arn), "kms:Decrypt", APP_SESSION, none, key_allowed()),
            ("grant_for_aws_resource", allow(alice, r#""kms:CreateGrant""#, aws_resource), "kms:CreateGrant", ALICE, |c| { c.condition_keys.insert("kms:GrantIsForAWSResource".into(), vec!["true".into()]); }, key_allowed()),
            ("grant_for_aws_resource_missing", allow(alice, r#""kms:CreateGrant""#, aws_resource), "kms:CreateGrant", ALICE, none, implicit(PolicyType::ResourceBased)),
            ("grant_operations_subset", allow(alice, r#""kms:CreateGrant""#, grant_ops), "kms:CreateGrant", ALICE, |c| { c.condition_keys.insert("kms:GrantOperations".into(), vec!["Decrypt".into()]); }, key_allowed()),
            ("grant_operations_too_wide", allow(alice, r#""kms:CreateGrant""#, grant_ops), "kms:CreateGrant", ALICE, |c| { c.condition_keys.insert("kms:GrantOperations".into(), vec!["Decrypt".into(), "RetireGrant".into()]); }, implicit(PolicyType::ResourceBased)),
            ("service_principal", allow(r#"{"Service": "s3.amazonaws.com"}"#, r#""kms:GenerateDataKey""#, ""), "kms:GenerateDataKey", "s3.amazonaws.com", none, key_allowed()),
            ("service_not_root_delegated", ROOT_STMT.to_owned(), "kms:GenerateDataKey", "s3.amazonaws.com", none, implicit(PolicyType::ResourceBased)),
            ("root_user_direct", ROOT_STMT.to_owned(), "kms:PutKeyPolicy", ROOT, none, key_allowed()),
            ("bare_account_id_delegates", allow(r#"{"AWS": "111122223333"}"#, r#""kms:*""#, ""), "kms:Decrypt", ALICE, none, implicit(PolicyType::IdentityBased)),
            (
                "not_principal_deny",
                format!(r#"{}, {{"Effect": "Deny", "NotPrincipal": {{"AWS": "{ALICE}"}}, "Action": "kms:*", "Resource": "*"}}"#, allow(r#""*""#, r#""kms:*""#, "")),
                "kms:Decrypt", APP, none,
                Decision::Deny { explicit: true, statement: None, policy: PolicyType::ResourceBased },
            ),
            (
                "not_principal_spares_named",
                format!(r#"{}, {{"Effect": "Deny", "NotPrincipal": {{"AWS": "{ALICE}"}}, "Action": "kms:*", "Resource": "*"}}"#, allow(r#""*""#, r#""kms:*""#, "")),
                "kms:Decrypt", ALICE, none, key_allowed(),
            ),
        ];
        for (name, statements, action, caller, setup, want) in cases {
            let mut c = ctx(action, caller);
            setup(&mut c);
            let got = evaluate(&key_policy(&statements), &[], &[], &c);
            assert_eq!(got, want, "case {name}");
        }
    }

    #[test]
    #[allow(clippy::too_many_lines)] // one table of named cases
    fn root_delegation_and_cross_account_table() {
        let decrypt_only = identity(r#""kms:Decrypt""#);
        let deny_all = doc(
            r#"{"Statement": {"Sid": "Stop", "Effect": "Deny", "Action": "kms:*", "Resource": "*"}}"#,
        );
        let external = allow(
            r#"{"AWS": "arn:aws:iam::444455556666:root"}"#,
            r#""kms:Decrypt""#,
            "",
        );
        let external_role = allow(
            &format!(r#"{{"AWS": "{EXTERNAL}"}}"#),
            r#""kms:Decrypt""#,
            "",
        );
        let direct_alice = allow(&format!(r#"{{"AWS": "{ALICE}"}}"#), r#""kms:*""#, "");
        let iam = Decision::Allow {
            by: Source::IdentityPolicy,
        };
        let cases: Vec<DelegationCase> = vec![
            (
                "root_with_identity_policy",
                ROOT_STMT.to_owned(),
                vec![decrypt_only.clone()],
                "kms:Decrypt",
                ALICE,
                iam.clone(),
            ),
            (
                "root_without_identity_policy",
                ROOT_STMT.to_owned(),
                vec![],
                "kms:Decrypt",
                ALICE,
                implicit(PolicyType::IdentityBased),
            ),
            (
                "root_identity_other_action",
                ROOT_STMT.to_owned(),
                vec![decrypt_only.clone()],
                "kms:Encrypt",
                ALICE,
                implicit(PolicyType::IdentityBased),
            ),
            (
                "root_identity_session",
                ROOT_STMT.to_owned(),
                vec![decrypt_only.clone()],
                "kms:Decrypt",
                APP_SESSION,
                iam.clone(),
            ),
            (
                "no_root_identity_ignored",
                direct_alice.clone(),
                vec![decrypt_only.clone()],
                "kms:Decrypt",
                APP,
                implicit(PolicyType::ResourceBased),
            ),
            (
                "identity_deny_wins",
                direct_alice.clone(),
                vec![deny_all.clone()],
                "kms:Decrypt",
                ALICE,
                Decision::Deny {
                    explicit: true,
                    statement: Some("Stop".to_owned()),
                    policy: PolicyType::IdentityBased,
                },
            ),
            (
                "cross_account_both",
                external.clone(),
                vec![decrypt_only.clone()],
                "kms:Decrypt",
                EXTERNAL,
                iam.clone(),
            ),
            (
                "cross_account_no_identity",
                external.clone(),
                vec![],
                "kms:Decrypt",
                EXTERNAL,
                implicit(PolicyType::IdentityBased),
            ),
            (
                "cross_account_role_named",
                external_role.clone(),
                vec![decrypt_only.clone()],
                "kms:Decrypt",
                EXTERNAL,
                key_allowed(),
            ),
            (
                "cross_account_role_no_identity",
                external_role,
                vec![],
                "kms:Decrypt",
                EXTERNAL,
                implicit(PolicyType::IdentityBased),
            ),
            (
                "cross_account_not_in_key_policy",
                ROOT_STMT.to_owned(),
                vec![decrypt_only.clone()],
                "kms:Decrypt",
                EXTERNAL,
                implicit(PolicyType::ResourceBased),
            ),
            (
                "cross_account_root_user",
                external,
                vec![],
                "kms:Decrypt",
                "arn:aws:iam::444455556666:root",
                key_allowed(),
            ),
        ];
        for (name, statements, identities, action, caller, want) in cases {
            let got = evaluate(
                &key_policy(&statements),
                &identities,
                &[],
                &ctx(action, caller),
            );
            assert_eq!(got, want, "case {name}");
        }
    }

    #[test]
    fn default_key_policy_allows_admin_with_identity_policy() {
        let policy = doc(&default_key_policy("111122223333", "aws"));
        let admin = identity(r#""kms:*""#);
        let c = ctx(
            "kms:ScheduleKeyDeletion",
            "arn:aws:iam::111122223333:user/admin",
        );
        assert_eq!(
            evaluate(&policy, std::slice::from_ref(&admin), &[], &c),
            Decision::Allow {
                by: Source::IdentityPolicy
            }
        );
        assert_eq!(
            evaluate(&policy, &[], &[], &c),
            implicit(PolicyType::IdentityBased)
        );
    }

    #[test]
    fn grants_allow_unless_explicitly_denied() {
        let g = Grant {
            grant_id: "g-1".to_owned(),
            key_arn: KEY.to_owned(),
            grantee_principal: APP.to_owned(),
            operations: vec!["Decrypt".to_owned()],
            constraints: Some(GrantConstraints {
                encryption_context_subset: Some([("Dept".to_owned(), "IT".to_owned())].into()),
                encryption_context_equals: None,
            }),
            issuing_account: "111122223333".to_owned(),
            ..Grant::default()
        };
        let policy = key_policy(ROOT_STMT);
        let mut c = ctx("kms:Decrypt", APP_SESSION);
        c.encryption_context
            .insert("Dept".to_owned(), "IT".to_owned());
        let grants = std::slice::from_ref(&g);
        assert_eq!(
            evaluate(&policy, &[], grants, &c),
            Decision::Allow {
                by: Source::Grant("g-1".to_owned())
            }
        );
        let mut encrypt = c.clone();
        encrypt.action = "kms:Encrypt".to_owned();
        assert!(
            !evaluate(&policy, &[], grants, &encrypt).is_allowed(),
            "operation not granted"
        );
        let mut wrong = c.clone();
        wrong
            .encryption_context
            .insert("Dept".to_owned(), "HR".to_owned());
        assert!(
            !evaluate(&policy, &[], grants, &wrong).is_allowed(),
            "constraint not met"
        );
        let denying = key_policy(&format!(
            r#"{ROOT_STMT}, {{"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}}"#
        ));
        assert!(
            !evaluate(&denying, &[], grants, &c).is_allowed(),
            "explicit deny beats grants"
        );
    }

    #[test]
    fn account_deny_covers_its_principals() {
        let policy = key_policy(&format!(
            r#"{}, {{"Effect": "Deny", "Principal": {{"AWS": "111122223333"}}, "Action": "kms:Disable*", "Resource": "*"}}"#,
            allow(&format!(r#"{{"AWS": "{ALICE}"}}"#), r#""kms:*""#, "")
        ));
        assert!(!evaluate(&policy, &[], &[], &ctx("kms:DisableKey", ALICE)).is_allowed());
        assert!(evaluate(&policy, &[], &[], &ctx("kms:EnableKey", ALICE)).is_allowed());
    }

    #[test]
    fn account_level_actions_are_decided_by_identity_policies_alone() {
        let account_ctx = |action: &str, caller: &str| RequestContext::new(action, "*", caller);
        let create =
            r#"{"Statement": {"Effect": "Allow", "Action": "kms:CreateKey", "Resource": "*"}}"#;
        let only_symmetric = r#"{"Statement": {"Effect": "Allow", "Action": "kms:Create*", "Resource": "*",
            "Condition": {"StringEquals": {"kms:KeySpec": "SYMMETRIC_DEFAULT"}}}}"#;
        let key_scoped = format!(
            r#"{{"Statement": {{"Effect": "Allow", "Action": "kms:*", "Resource": "{KEY}"}}}}"#
        );
        let deny = r#"{"Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Sid": "NoNewKeys", "Effect": "Deny", "Action": "kms:CreateKey", "Resource": "*"}]}"#;
        let allowed = |by| Decision::Allow { by };
        let cases: Vec<(&str, Vec<&str>, &str, &str, Option<&str>, Decision)> = vec![
            (
                "root needs no policy",
                vec![],
                "kms:CreateKey",
                ROOT,
                None,
                allowed(Source::AccountRoot),
            ),
            (
                "no policy",
                vec![],
                "kms:CreateKey",
                ALICE,
                None,
                implicit(PolicyType::IdentityBased),
            ),
            (
                "allowed",
                vec![create],
                "kms:CreateKey",
                ALICE,
                None,
                allowed(Source::IdentityPolicy),
            ),
            (
                "role session",
                vec![create],
                "kms:CreateKey",
                APP_SESSION,
                None,
                allowed(Source::IdentityPolicy),
            ),
            (
                "other action",
                vec![create],
                "kms:ListKeys",
                ALICE,
                None,
                implicit(PolicyType::IdentityBased),
            ),
            (
                "key-scoped resource does not cover *",
                vec![&key_scoped],
                "kms:CreateKey",
                ALICE,
                None,
                implicit(PolicyType::IdentityBased),
            ),
            (
                "condition met",
                vec![only_symmetric],
                "kms:CreateKey",
                ALICE,
                Some("SYMMETRIC_DEFAULT"),
                allowed(Source::IdentityPolicy),
            ),
            (
                "condition not met",
                vec![only_symmetric],
                "kms:CreateKey",
                ALICE,
                Some("RSA_2048"),
                implicit(PolicyType::IdentityBased),
            ),
            (
                "explicit deny",
                vec![deny],
                "kms:CreateKey",
                ALICE,
                None,
                explicit_deny(Some("NoNewKeys".to_owned()), PolicyType::IdentityBased),
            ),
            (
                "service",
                vec![create],
                "kms:CreateKey",
                "s3.amazonaws.com",
                None,
                implicit(PolicyType::IdentityBased),
            ),
        ];
        for (name, policies, action, caller, spec, want) in cases {
            let policies: Vec<PolicyDocument> = policies.into_iter().map(doc).collect();
            let mut c = account_ctx(action, caller);
            if let Some(spec) = spec {
                c.condition_keys
                    .insert("kms:KeySpec".to_owned(), vec![spec.to_owned()]);
            }
            let got = evaluate_account_action(&policies, &c);
            assert_eq!(got, want, "case {name}");
        }
    }
}
