//! The text of `AccessDeniedException` for a denied call.
//!
//! Form, from the IAM User Guide ("Troubleshooting access denied error messages"): "User
//! *user* is not authorized to perform *action* on resource *resource* because *context*",
//! where context is "with an explicit deny in a(n) *type* policy" or "because no *type* policy
//! allows the *action* action". A real KMS message quoted in the reference
//! (`cloudtrail-and-kms-formats.md`, the `CloudTrail` notes, item 8) shows the punctuation and that
//! role sessions are named by their `assumed-role` session ARN: "User:
//! `arn:aws:sts::462498369025:assumed-role/…/GitHubActions` is not authorized to perform:
//! kms:Decrypt on resource: `arn:aws:kms:us-west-2:…:key/…` because no identity-based policy
//! allows the kms:Decrypt action". The permission a request parameter needs besides the
//! operation's own (`kms:TagResource` for `CreateKey`'s `Tags`) is reported without a
//! resource: "User: `arn:aws:sts::…:assumed-role/…/GitHubActions` is not authorized to
//! perform: kms:TagResource because no identity-based policy allows the kms:TagResource
//! action" (a 2026 Terraform error quoted in LeanerCloud/CUDly issue 1670); such a request
//! context has an empty resource.

use super::context::RequestContext;
use super::evaluate::Decision;

/// AWS's message for a denied request; `None` when the decision allows it.
#[must_use]
pub fn access_denied_message(ctx: &RequestContext, decision: &Decision) -> Option<String> {
    let Decision::Deny {
        explicit, policy, ..
    } = decision
    else {
        return None;
    };
    let (user, action, resource, kind) = (
        ctx.caller_arn(),
        &ctx.action,
        &ctx.resource,
        policy.as_str(),
    );
    let why = if *explicit {
        let article = if kind.starts_with('i') { "an" } else { "a" };
        format!("with an explicit deny in {article} {kind} policy")
    } else {
        format!("because no {kind} policy allows the {action} action")
    };
    let on = if resource.is_empty() {
        String::new()
    } else {
        format!(" on resource: {resource}")
    };
    Some(format!(
        "User: {user} is not authorized to perform: {action}{on} {why}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::policy::evaluate::{PolicyType, Source};

    #[test]
    fn message_forms() {
        let key = "arn:aws:kms:us-west-2:111122223333:key/k1";
        let ctx = RequestContext::new(
            "kms:Decrypt",
            key,
            "arn:aws:sts::111122223333:assumed-role/app/s1",
        );
        let deny = |explicit, policy| Decision::Deny {
            explicit,
            statement: None,
            policy,
        };
        let cases = [
            (
                "implicit_resource",
                deny(false, PolicyType::ResourceBased),
                "because no resource-based policy allows the kms:Decrypt action",
            ),
            (
                "implicit_identity",
                deny(false, PolicyType::IdentityBased),
                "because no identity-based policy allows the kms:Decrypt action",
            ),
            (
                "explicit_resource",
                deny(true, PolicyType::ResourceBased),
                "with an explicit deny in a resource-based policy",
            ),
            (
                "explicit_identity",
                deny(true, PolicyType::IdentityBased),
                "with an explicit deny in an identity-based policy",
            ),
        ];
        for (name, decision, tail) in cases {
            let want = format!(
                "User: arn:aws:sts::111122223333:assumed-role/app/s1 is not authorized to perform: kms:Decrypt on resource: {key} {tail}"
            );
            assert_eq!(
                access_denied_message(&ctx, &decision),
                Some(want),
                "case {name}"
            );
        }
        let allow = Decision::Allow {
            by: Source::KeyPolicy,
        };
        assert_eq!(access_denied_message(&ctx, &allow), None);

        let tagging = RequestContext::new(
            "kms:TagResource",
            "",
            "arn:aws:sts::111122223333:assumed-role/app/s1",
        );
        assert_eq!(
            access_denied_message(&tagging, &deny(false, PolicyType::IdentityBased)).as_deref(),
            Some(
                "User: arn:aws:sts::111122223333:assumed-role/app/s1 is not authorized to perform: \
                 kms:TagResource because no identity-based policy allows the kms:TagResource action"
            )
        );
    }
}
