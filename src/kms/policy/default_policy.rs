//! The key policy KMS writes when `CreateKey` gets none, and the policy lockout safety check
//! `CreateKey`/`PutKeyPolicy` run unless `BypassPolicyLockoutSafetyCheck` is true.

use super::context::RequestContext;
use super::document::PolicyDocument;
use super::error::PolicyError;
use super::evaluate::key_verdict;

/// The default key policy, byte for byte as `GetKeyPolicy` returns it: Jackson-style
/// `" : "` separators, two-space indent, `Id` `key-default-1` and one statement
/// "Enable IAM User Permissions" allowing the account root `kms:*` (reference §4.8, KMS
/// Developer Guide `ct-put-key-policy`).
#[must_use]
pub fn default_key_policy(account_id: &str, partition: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:{partition}:iam::{account_id}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// The policy lockout safety check: the caller must still be able to call
/// `kms:PutKeyPolicy` under `new_policy`, either because the policy names the caller or
/// because it delegates to the caller's account (whose IAM policies can then grant it).
/// An explicit `Deny` of `kms:PutKeyPolicy` for the caller fails the check. The engine skips
/// this call when the request sets `BypassPolicyLockoutSafetyCheck`.
///
/// Simplification: when the policy delegates to the caller's account, the caller's identity
/// policies are not consulted here (user reports suggest AWS also requires them to allow
/// `kms:PutKeyPolicy`); the account can always repair access through IAM.
///
/// # Errors
/// [`PolicyError::Lockout`], whose message is KMS's own.
pub fn lockout_check(
    new_policy: &PolicyDocument,
    ctx_of_caller: &RequestContext,
) -> Result<(), PolicyError> {
    let mut ctx = ctx_of_caller.clone();
    "kms:PutKeyPolicy".clone_into(&mut ctx.action);
    let verdict = key_verdict(new_policy, &ctx);
    if !verdict.denied && (verdict.direct || verdict.account) {
        Ok(())
    } else {
        Err(PolicyError::Lockout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/k1";
    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

    #[test]
    fn default_policy_is_awss_text() {
        let want = "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::111122223333:root\"\n    },\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}";
        assert_eq!(default_key_policy("111122223333", "aws"), want);
        assert!(PolicyDocument::parse_key_policy(want).is_ok());
        assert!(default_key_policy("111122223333", "aws-cn").contains("arn:aws-cn:iam::"));
    }

    #[test]
    fn lockout_table() {
        let alice_decrypt = format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{ALICE}"}}, "Action": "kms:Decrypt", "Resource": "*"}}"#
        );
        let alice_put = format!(
            r#"{{"Effect": "Allow", "Principal": {{"AWS": "{ALICE}"}}, "Action": "kms:Put*", "Resource": "*"}}"#
        );
        let bob_all = r#"{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/bob"}, "Action": "kms:*", "Resource": "*"}"#.to_owned();
        let deny_put = r#"{"Effect": "Deny", "Principal": "*", "Action": "kms:PutKeyPolicy", "Resource": "*"}"#;
        let cases = [
            (
                "default_policy_keeps_account",
                default_key_policy("111122223333", "aws"),
                true,
            ),
            (
                "caller_named",
                format!(r#"{{"Statement": [{alice_put}]}}"#),
                true,
            ),
            (
                "caller_dropped",
                format!(r#"{{"Statement": [{bob_all}]}}"#),
                false,
            ),
            (
                "caller_only_decrypt",
                format!(r#"{{"Statement": [{alice_decrypt}]}}"#),
                false,
            ),
            (
                "explicit_deny",
                format!(r#"{{"Statement": [{alice_put}, {deny_put}]}}"#),
                false,
            ),
        ];
        let ctx = RequestContext::new("kms:CreateKey", KEY, ALICE);
        for (name, json, want) in cases {
            let doc = match PolicyDocument::parse(&json) {
                Ok(d) => d,
                Err(e) => panic!("case {name}: {e}"),
            };
            let got = lockout_check(&doc, &ctx);
            assert_eq!(got.is_ok(), want, "case {name}: {got:?}");
            if let Err(e) = got {
                assert_eq!(
                    e.to_string(),
                    "The new key policy will not allow you to update the key policy in the future."
                );
                assert_eq!(e.aws_error_code(), "MalformedPolicyDocumentException");
            }
        }
    }
}
