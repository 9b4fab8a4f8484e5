//! What is known about one request: who calls, what, on which key, from where, and the
//! condition keys policies can test.
//!
//! Condition key names are case-insensitive ("Context key names are not case-sensitive",
//! IAM User Guide, "IAM JSON policy elements: Condition"). That includes the `<key>` part of
//! `kms:EncryptionContext:<key>`: it is part of the condition key's name, so
//! `kms:EncryptionContext:dept` finds a request pair `Dept=…`. Values keep their case and are
//! compared as the operator says. The KMS API reference (`GrantConstraints`) points to
//! `kms:EncryptionContextKeys` for a case-sensitive test of the keys, which this gives: its
//! values are the keys exactly as sent.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};

/// One request as the authorization layer sees it. Build it with [`RequestContext::new`] and
/// fill in what the call carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The IAM action, `kms:Decrypt`.
    pub action: String,
    /// The key ARN the call acts on.
    pub resource: String,
    /// The account that owns the key.
    pub key_account: String,
    /// The caller's identity: a user ARN, a role ARN (for role sessions, the role, as
    /// `aws:PrincipalArn` reports it), an account root ARN, or a service principal such as
    /// `s3.amazonaws.com`.
    pub principal: String,
    /// For role sessions, the session ARN `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
    /// Policies naming either the role or the session match.
    pub session_arn: Option<String>,
    /// The caller's account (empty for service principals).
    pub principal_account: String,
    /// `aws:PrincipalOrgID`, when the caller's account is in an organization.
    pub principal_org_id: Option<String>,
    /// `aws:SourceIp`.
    pub source_ip: Option<IpAddr>,
    /// `kms:ViaService`: the service calling on the principal's behalf
    /// (`ec2.us-east-1.amazonaws.com`).
    pub via_service: Option<String>,
    /// The time of the request (`aws:CurrentTime`, `aws:EpochTime`), from the engine's clock.
    pub now: DateTime<Utc>,
    /// The request's encryption context (source of `kms:EncryptionContext:<key>`,
    /// `kms:EncryptionContextKeys` and grant constraints); empty when none was sent.
    pub encryption_context: BTreeMap<String, String>,
    /// Any other condition keys (`kms:GrantOperations`, `kms:GrantIsForAWSResource`,
    /// `kms:KeySpec`, …), each with its values. Entries here override the derived keys.
    pub condition_keys: BTreeMap<String, Vec<String>>,
}

impl RequestContext {
    /// A context for `action` on `key_arn` by `caller`. The key account and the caller's
    /// account come from the ARNs; an `sts` assumed-role ARN becomes `session_arn` and its
    /// role ARN the `principal` (a role with a path needs `principal` set by hand, as the
    /// session ARN does not carry the path). A caller that is not an ARN is a service
    /// principal.
    #[must_use]
    pub fn new(action: &str, key_arn: &str, caller: &str) -> RequestContext {
        let (principal, session_arn) = match role_of_session(caller) {
            Some(role) => (role, Some(caller.to_owned())),
            None => (caller.to_owned(), None),
        };
        RequestContext {
            action: action.to_owned(),
            resource: key_arn.to_owned(),
            key_account: arn_account(key_arn).unwrap_or_default().to_owned(),
            principal_account: arn_account(caller).unwrap_or_default().to_owned(),
            principal,
            session_arn,
            ..RequestContext::default()
        }
    }

    /// Whether the caller is an AWS service principal rather than an IAM identity.
    #[must_use]
    pub fn is_service(&self) -> bool {
        !self.principal.starts_with("arn:")
    }

    /// Whether the caller is the root user of its account.
    #[must_use]
    pub fn is_account_root(&self) -> bool {
        root_account(&self.principal).is_some()
    }

    /// The ARN AWS names in error messages: the session ARN for role sessions.
    #[must_use]
    pub fn caller_arn(&self) -> &str {
        self.session_arn.as_deref().unwrap_or(&self.principal)
    }

    /// The values of a condition key (matched case-insensitively), or `None` when the
    /// request does not have it.
    #[must_use]
    pub fn values(&self, key: &str) -> Option<Vec<Cow<'_, str>>> {
        if let Some((_, v)) = self
            .condition_keys
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
        {
            return Some(v.iter().map(|s| Cow::Borrowed(s.as_str())).collect());
        }
        let lower = key.to_ascii_lowercase();
        let one = |v: &str| Some(vec![Cow::Owned(v.to_owned())]);
        let iam = !self.is_service();
        match lower.as_str() {
            "kms:calleraccount" | "aws:principalaccount" if !self.principal_account.is_empty() => {
                one(&self.principal_account)
            }
            "kms:viaservice" => self.via_service.as_deref().and_then(one),
            "aws:principalarn" if iam => one(&self.principal),
            "aws:principalorgid" => self.principal_org_id.as_deref().and_then(one),
            "aws:sourceip" => self.source_ip.and_then(|ip| one(&ip.to_string())),
            "aws:currenttime" => one(&self.now.to_rfc3339_opts(SecondsFormat::Secs, true)),
            "aws:epochtime" => one(&self.now.timestamp().to_string()),
            "aws:principalisawsservice" => one(if iam { "false" } else { "true" }),
            "aws:principalservicename" if !iam => one(&self.principal),
            "kms:encryptioncontextkeys" if !self.encryption_context.is_empty() => Some(
                self.encryption_context
                    .keys()
                    .map(|k| Cow::Borrowed(k.as_str()))
                    .collect(),
            ),
            _ => {
                let wanted = lower.strip_prefix("kms:encryptioncontext:")?;
                let found: Vec<Cow<'_, str>> = self
                    .encryption_context
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(wanted))
                    .map(|(_, v)| Cow::Borrowed(v.as_str()))
                    .collect();
                (!found.is_empty()).then_some(found)
            }
        }
    }
}

/// The account field of an ARN (`arn:partition:service:region:account:resource`).
#[must_use]
pub fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next() == Some("arn"))
        .then(|| parts.nth(3))
        .flatten()
        .filter(|a| !a.is_empty())
}

/// The partition field of an ARN (`aws`, `aws-cn`, `aws-us-gov`).
#[must_use]
pub fn arn_partition(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next() == Some("arn"))
        .then(|| parts.next())
        .flatten()
}

/// The account of an account root ARN `arn:<partition>:iam::<account>:root`.
#[must_use]
pub fn root_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", _, "iam", "", account, "root"] => Some(account),
        _ => None,
    }
}

/// The role ARN behind an assumed-role session ARN.
fn role_of_session(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    match parts.as_slice() {
        ["arn", partition, "sts", "", account, resource] => {
            let rest = resource.strip_prefix("assumed-role/")?;
            let (role, _session) = rest.split_once('/')?;
            Some(format!("arn:{partition}:iam::{account}:role/{role}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn strings(v: Option<Vec<Cow<'_, str>>>) -> Option<Vec<String>> {
        v.map(|v| v.into_iter().map(Cow::into_owned).collect())
    }

    #[test]
    fn new_splits_role_sessions_and_accounts() {
        let ctx = RequestContext::new(
            "kms:Decrypt",
            KEY,
            "arn:aws:sts::444455556666:assumed-role/app/s1",
        );
        assert_eq!(ctx.principal, "arn:aws:iam::444455556666:role/app");
        assert_eq!(
            ctx.caller_arn(),
            "arn:aws:sts::444455556666:assumed-role/app/s1"
        );
        assert_eq!(ctx.principal_account, "444455556666");
        assert_eq!(ctx.key_account, "111122223333");
        let svc = RequestContext::new("kms:Decrypt", KEY, "s3.amazonaws.com");
        assert!(svc.is_service());
        assert_eq!(svc.principal_account, "");
    }

    #[test]
    fn derived_condition_keys() {
        let mut ctx =
            RequestContext::new("kms:Decrypt", KEY, "arn:aws:iam::111122223333:user/alice");
        ctx.via_service = Some("ec2.us-east-1.amazonaws.com".to_owned());
        ctx.encryption_context
            .insert("Dept".to_owned(), "IT".to_owned());
        ctx.encryption_context
            .insert("app".to_owned(), "web".to_owned());
        let cases: [(&str, Option<&[&str]>); 9] = [
            ("kms:CallerAccount", Some(&["111122223333"])),
            ("KMS:CALLERACCOUNT", Some(&["111122223333"])),
            (
                "aws:PrincipalArn",
                Some(&["arn:aws:iam::111122223333:user/alice"]),
            ),
            ("kms:ViaService", Some(&["ec2.us-east-1.amazonaws.com"])),
            ("kms:EncryptionContext:Dept", Some(&["IT"])),
            ("kms:EncryptionContext:dept", Some(&["IT"])),
            ("kms:EncryptionContext:missing", None),
            ("kms:EncryptionContextKeys", Some(&["Dept", "app"])),
            ("aws:PrincipalOrgID", None),
        ];
        for (key, want) in cases {
            let want = want.map(|w| w.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
            assert_eq!(strings(ctx.values(key)), want, "key {key}");
        }
        ctx.condition_keys.insert(
            "kms:CallerAccount".to_owned(),
            vec!["999999999999".to_owned()],
        );
        assert_eq!(
            strings(ctx.values("kms:calleraccount")),
            Some(vec!["999999999999".to_owned()])
        );
    }
}
