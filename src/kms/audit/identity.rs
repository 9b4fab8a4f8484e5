//! Who made a KMS call, as CloudTrail's `userIdentity` shows it: the identity types KMS
//! records (IAM users, assumed-role sessions, the root user, AWS services, other accounts,
//! federated users) and the type-less identity of KMS's own service events.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// `invokedBy` and `sourceIPAddress` of events AWS originates itself.
pub const AWS_INTERNAL: &str = "AWS Internal";

/// `sessionContext.attributes` of a temporary-credential session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAttributes {
    /// When the session's credentials were issued (`creationDate`, ISO-8601 in the record).
    pub creation_date: DateTime<Utc>,
    /// Whether the session was authenticated with MFA (written as `"true"`/`"false"`).
    pub mfa_authenticated: bool,
}

impl SessionAttributes {
    /// A session issued at `creation_date`, without MFA.
    pub fn new(creation_date: DateTime<Utc>) -> Self {
        Self {
            creation_date,
            mfa_authenticated: false,
        }
    }
}

/// The caller of an API call, or the type-less identity of a KMS service event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerIdentity {
    /// `"type": "IAMUser"`.
    IamUser {
        /// The user's account.
        account_id: String,
        /// The user name (last part of the ARN; no path support).
        user_name: String,
        /// The unique id, `AIDA…`.
        principal_id: String,
        /// The access key that signed the request, `AKIA…`.
        access_key_id: String,
        /// The service acting for the user, if any: a service calling KMS on the user's
        /// behalf, or KMS itself in the record it writes in the new primary Region of
        /// `UpdatePrimaryRegion` (`kms.amazonaws.com`, KMS Developer Guide example).
        invoked_by: Option<String>,
    },
    /// `"type": "AssumedRole"`: a role session.
    AssumedRole {
        /// The role's account.
        account_id: String,
        /// The role name.
        role_name: String,
        /// The role's unique id, `AROA…` (the session's `principalId` is `<role id>:<session>`).
        role_id: String,
        /// The session name.
        session_name: String,
        /// The temporary access key, `ASIA…`.
        access_key_id: String,
        /// Session attributes.
        session: SessionAttributes,
        /// The service acting for the session (`lambda.amazonaws.com`, `AWS Internal`), if any.
        invoked_by: Option<String>,
    },
    /// `"type": "Root"`: the account root user.
    Root {
        /// The account.
        account_id: String,
        /// The access key used, if any.
        access_key_id: Option<String>,
        /// Session attributes for a console session.
        session: Option<SessionAttributes>,
    },
    /// `"type": "AWSService"`: a service calling with its own service principal.
    AwsService {
        /// The service, `cloudtrail.amazonaws.com`.
        invoked_by: String,
    },
    /// `"type": "AWSAccount"`: a caller from another account, known only by account.
    AwsAccount {
        /// The calling account.
        account_id: String,
        /// Its principal id.
        principal_id: String,
        /// The service acting for it, if any.
        invoked_by: Option<String>,
    },
    /// `"type": "FederatedUser"`: a `GetFederationToken` session of an IAM user.
    FederatedUser {
        /// The account.
        account_id: String,
        /// The federated user name.
        user_name: String,
        /// The IAM user that issued the session.
        issuer_user_name: String,
        /// That user's unique id, `AIDA…`.
        issuer_principal_id: String,
        /// The temporary access key, `ASIA…`.
        access_key_id: String,
        /// Session attributes.
        session: SessionAttributes,
    },
    /// KMS acting on its own (`RotateKey`, `DeleteKey`, `DeleteExpiredKeyMaterial`): no
    /// `type`, only `{"accountId": …, "invokedBy": "AWS Internal"}`.
    KmsService {
        /// The key owner's account.
        account_id: String,
    },
}

impl CallerIdentity {
    /// An IAM user with ids derived from the account and name, so that simulations are
    /// reproducible.
    pub fn iam_user(account_id: &str, user_name: &str) -> Self {
        Self::IamUser {
            account_id: account_id.to_owned(),
            user_name: user_name.to_owned(),
            principal_id: derived_id("AIDA", 17, &["user", account_id, user_name]),
            access_key_id: derived_id("AKIA", 16, &["user-key", account_id, user_name]),
            invoked_by: None,
        }
    }

    /// A session of role `role_name` named `session_name`, issued at `creation_date`, with
    /// derived ids.
    pub fn assumed_role(
        account_id: &str,
        role_name: &str,
        session_name: &str,
        creation_date: DateTime<Utc>,
    ) -> Self {
        Self::AssumedRole {
            account_id: account_id.to_owned(),
            role_name: role_name.to_owned(),
            role_id: derived_id("AROA", 17, &["role", account_id, role_name]),
            session_name: session_name.to_owned(),
            access_key_id: derived_id(
                "ASIA",
                16,
                &["session", account_id, role_name, session_name],
            ),
            session: SessionAttributes::new(creation_date),
            invoked_by: None,
        }
    }

    /// The root user of `account_id`, signing with an access key.
    pub fn root(account_id: &str) -> Self {
        Self::Root {
            account_id: account_id.to_owned(),
            access_key_id: Some(derived_id("AKIA", 16, &["root-key", account_id])),
            session: None,
        }
    }

    /// A service calling with its own service principal.
    pub fn aws_service(invoked_by: &str) -> Self {
        Self::AwsService {
            invoked_by: invoked_by.to_owned(),
        }
    }

    /// Another account, known only by account id.
    pub fn aws_account(account_id: &str, principal_id: &str) -> Self {
        Self::AwsAccount {
            account_id: account_id.to_owned(),
            principal_id: principal_id.to_owned(),
            invoked_by: None,
        }
    }

    /// Federated user `user_name` issued by IAM user `issuer_user_name` at `creation_date`.
    pub fn federated_user(
        account_id: &str,
        user_name: &str,
        issuer_user_name: &str,
        creation_date: DateTime<Utc>,
    ) -> Self {
        Self::FederatedUser {
            account_id: account_id.to_owned(),
            user_name: user_name.to_owned(),
            issuer_user_name: issuer_user_name.to_owned(),
            issuer_principal_id: derived_id("AIDA", 17, &["user", account_id, issuer_user_name]),
            access_key_id: derived_id("ASIA", 16, &["federated", account_id, user_name]),
            session: SessionAttributes::new(creation_date),
        }
    }

    /// KMS itself, for service events on keys of `account_id`.
    pub fn kms_service(account_id: &str) -> Self {
        Self::KmsService {
            account_id: account_id.to_owned(),
        }
    }

    /// The same identity with a service acting for it (`invokedBy`). IAM users, assumed-role
    /// sessions and other accounts carry it; other identities are returned unchanged.
    #[must_use]
    pub fn invoked_by(mut self, service: &str) -> Self {
        match &mut self {
            Self::IamUser { invoked_by, .. }
            | Self::AssumedRole { invoked_by, .. }
            | Self::AwsAccount { invoked_by, .. } => {
                *invoked_by = Some(service.to_owned());
            }
            _ => {}
        }
        self
    }

    /// The `type` member; `None` for the KMS service identity.
    pub fn type_name(&self) -> Option<&'static str> {
        match self {
            Self::IamUser { .. } => Some("IAMUser"),
            Self::AssumedRole { .. } => Some("AssumedRole"),
            Self::Root { .. } => Some("Root"),
            Self::AwsService { .. } => Some("AWSService"),
            Self::AwsAccount { .. } => Some("AWSAccount"),
            Self::FederatedUser { .. } => Some("FederatedUser"),
            Self::KmsService { .. } => None,
        }
    }

    /// The caller's account, when the record names one.
    pub fn account_id(&self) -> Option<&str> {
        match self {
            Self::IamUser { account_id, .. }
            | Self::AssumedRole { account_id, .. }
            | Self::Root { account_id, .. }
            | Self::AwsAccount { account_id, .. }
            | Self::FederatedUser { account_id, .. }
            | Self::KmsService { account_id } => Some(account_id),
            Self::AwsService { .. } => None,
        }
    }

    /// The caller's ARN (`userIdentity.arn`), when the record has one.
    pub fn arn(&self) -> Option<String> {
        match self {
            Self::IamUser {
                account_id,
                user_name,
                ..
            } => Some(format!("arn:aws:iam::{account_id}:user/{user_name}")),
            Self::AssumedRole {
                account_id,
                role_name,
                session_name,
                ..
            } => Some(format!(
                "arn:aws:sts::{account_id}:assumed-role/{role_name}/{session_name}"
            )),
            Self::Root { account_id, .. } => Some(format!("arn:aws:iam::{account_id}:root")),
            Self::FederatedUser {
                account_id,
                user_name,
                ..
            } => Some(format!(
                "arn:aws:sts::{account_id}:federated-user/{user_name}"
            )),
            Self::AwsService { .. } | Self::AwsAccount { .. } | Self::KmsService { .. } => None,
        }
    }

    /// The service acting for the caller (`userIdentity.invokedBy`).
    pub fn invoked_by_service(&self) -> Option<&str> {
        match self {
            Self::IamUser { invoked_by, .. }
            | Self::AssumedRole { invoked_by, .. }
            | Self::AwsAccount { invoked_by, .. } => invoked_by.as_deref(),
            Self::AwsService { invoked_by } => Some(invoked_by),
            Self::KmsService { .. } => Some(AWS_INTERNAL),
            _ => None,
        }
    }

    /// Whether an AWS service, not the principal itself, sent the request: such records have
    /// no `tlsDetails`.
    pub fn is_service_call(&self) -> bool {
        self.invoked_by_service().is_some()
    }

    /// The `userIdentity` object in CloudTrail's member order.
    pub(crate) fn wire(&self) -> WireIdentity {
        let mut wire = WireIdentity {
            kind: self.type_name(),
            arn: self.arn(),
            account_id: self.account_id().map(str::to_owned),
            invoked_by: self.invoked_by_service().map(str::to_owned),
            ..WireIdentity::default()
        };
        match self {
            Self::IamUser {
                principal_id,
                access_key_id,
                user_name,
                ..
            } => {
                wire.principal_id = Some(principal_id.clone());
                wire.access_key_id = Some(access_key_id.clone());
                wire.user_name = Some(user_name.clone());
            }
            Self::AssumedRole {
                account_id,
                role_name,
                role_id,
                session_name,
                access_key_id,
                session,
                ..
            } => {
                wire.principal_id = Some(format!("{role_id}:{session_name}"));
                wire.access_key_id = Some(access_key_id.clone());
                wire.session_context = Some(WireSessionContext {
                    session_issuer: Some(WireIssuer {
                        kind: "Role",
                        principal_id: role_id.clone(),
                        arn: format!("arn:aws:iam::{account_id}:role/{role_name}"),
                        account_id: account_id.clone(),
                        user_name: role_name.clone(),
                    }),
                    attributes: WireAttributes::of(session),
                });
            }
            Self::Root {
                account_id,
                access_key_id,
                session,
            } => {
                wire.principal_id = Some(account_id.clone());
                wire.access_key_id.clone_from(access_key_id);
                wire.session_context = session.as_ref().map(|s| WireSessionContext {
                    session_issuer: None,
                    attributes: WireAttributes::of(s),
                });
            }
            Self::AwsAccount { principal_id, .. } => {
                wire.principal_id = Some(principal_id.clone());
            }
            Self::FederatedUser {
                account_id,
                user_name,
                issuer_user_name,
                issuer_principal_id,
                access_key_id,
                session,
            } => {
                wire.principal_id = Some(format!("{account_id}:{user_name}"));
                wire.access_key_id = Some(access_key_id.clone());
                wire.session_context = Some(WireSessionContext {
                    session_issuer: Some(WireIssuer {
                        kind: "IAMUser",
                        principal_id: issuer_principal_id.clone(),
                        arn: format!("arn:aws:iam::{account_id}:user/{issuer_user_name}"),
                        account_id: account_id.clone(),
                        user_name: issuer_user_name.clone(),
                    }),
                    attributes: WireAttributes::of(session),
                });
            }
            Self::AwsService { .. } | Self::KmsService { .. } => {}
        }
        wire
    }
}

/// `userIdentity` as written: member order `type, principalId, arn, accountId, accessKeyId,
/// userName, sessionContext, invokedBy` (the order of every example in the reference).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WireIdentity {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_context: Option<WireSessionContext>,
    #[serde(skip_serializing_if = "Option::is_none")]
    invoked_by: Option<String>,
}

/// `sessionContext`: current records put `sessionIssuer` before `attributes`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireSessionContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    session_issuer: Option<WireIssuer>,
    attributes: WireAttributes,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireIssuer {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: String,
    arn: String,
    account_id: String,
    user_name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WireAttributes {
    creation_date: String,
    mfa_authenticated: &'static str,
}

impl WireAttributes {
    fn of(session: &SessionAttributes) -> Self {
        Self {
            creation_date: super::event::event_time_text(session.creation_date),
            mfa_authenticated: if session.mfa_authenticated {
                "true"
            } else {
                "false"
            },
        }
    }
}

/// `prefix` and `len` characters of `[A-Z2-7]` derived from `parts`: AWS-looking ids that
/// stay the same from one run to the next.
fn derived_id(prefix: &str, len: usize, parts: &[&str]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    id.extend(
        digest
            .iter()
            .take(len)
            .map(|b| char::from(ALPHABET[usize::from(b % 32)])),
    );
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_look_like_aws_ids() {
        let CallerIdentity::IamUser {
            principal_id,
            access_key_id,
            ..
        } = CallerIdentity::iam_user("111122223333", "Alice")
        else {
            panic!("IAM user");
        };
        assert_eq!(principal_id.len(), 21);
        assert!(principal_id.starts_with("AIDA"));
        assert_eq!(access_key_id.len(), 20);
        assert!(access_key_id.starts_with("AKIA"));
        assert_eq!(
            CallerIdentity::iam_user("111122223333", "Alice"),
            CallerIdentity::iam_user("111122223333", "Alice")
        );
    }

    /// The record `UpdatePrimaryRegion` writes in the new primary Region (KMS Developer
    /// Guide, ct-update-primary-region): an IAM user with `invokedBy` last, after `userName`.
    #[test]
    fn an_iam_user_invoked_by_kms_is_written_in_aws_member_order() {
        let alice = CallerIdentity::IamUser {
            account_id: "111122223333".into(),
            user_name: "Alice".into(),
            principal_id: "EX_PRINCIPAL_ID".into(),
            access_key_id: "EXAMPLE_KEY_ID".into(),
            invoked_by: None,
        }
        .invoked_by("kms.amazonaws.com");
        assert_eq!(alice.invoked_by_service(), Some("kms.amazonaws.com"));
        assert!(alice.is_service_call());
        let written = serde_json::to_string(&alice.wire()).unwrap_or_default();
        assert_eq!(
            written,
            concat!(
                r#"{"type":"IAMUser","principalId":"EX_PRINCIPAL_ID","#,
                r#""arn":"arn:aws:iam::111122223333:user/Alice","accountId":"111122223333","#,
                r#""accessKeyId":"EXAMPLE_KEY_ID","userName":"Alice","#,
                r#""invokedBy":"kms.amazonaws.com"}"#
            )
        );
        let direct = CallerIdentity::iam_user("111122223333", "Alice");
        assert_eq!(direct.invoked_by_service(), None);
        assert!(!serde_json::to_string(&direct.wire())
            .unwrap_or_default()
            .contains("invokedBy"));
    }
}
