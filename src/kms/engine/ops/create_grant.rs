//! `CreateGrant`: a standing permission on one key for a grantee principal, limited to listed
//! operations and optionally to an encryption context; returns the grant id and a grant token.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{new_grant_id, partition_of};
use crate::kms::engine::state::{Change, KeyState, State};
use crate::kms::engine::{resolve, Authorization, Caller, Context, Operation, Outcome};
use crate::kms::policy::grant::{Grant, GrantConstraints};

/// `GrantOperation` values (botocore), in AWS's order.
pub const GRANT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// `GrantConstraints` as the wire carries it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Constraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
}

impl Constraints {
    /// `constraints` as CloudTrail logs it (camelCase members).
    pub fn cloudtrail(&self) -> Value {
        let mut map = Map::new();
        if let Some(subset) = &self.encryption_context_subset {
            map.insert("encryptionContextSubset".into(), json!(subset));
        }
        if let Some(equals) = &self.encryption_context_equals {
            map.insert("encryptionContextEquals".into(), json!(equals));
        }
        Value::Object(map)
    }

    fn to_policy(&self) -> GrantConstraints {
        GrantConstraints {
            encryption_context_equals: self.encryption_context_equals.clone(),
            encryption_context_subset: self.encryption_context_subset.clone(),
        }
    }
}

/// The request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    pub grantee_principal: String,
    #[serde(default)]
    pub retiring_principal: Option<String>,
    pub operations: Vec<String>,
    #[serde(default)]
    pub constraints: Option<Constraints>,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub grant_token: String,
    pub grant_id: String,
}

/// The operation.
pub struct CreateGrant;

/// A grant token for `grant_id`: opaque base64 text that names the grant, as KMS's tokens do.
pub fn new_grant_token(grant_id: &str, rng: &mut impl Rng) -> String {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    STANDARD.encode(format!("{grant_id}:{}", crate::trail::decode::hex(&nonce)))
}

/// The grant id a grant token names, or `InvalidGrantTokenException`.
pub fn grant_id_of_token(token: &str) -> Result<String, KmsError> {
    let invalid = || {
        KmsError::new(
            KmsErrorKind::InvalidGrantToken,
            "The grant token is invalid.",
        )
    };
    let bytes = STANDARD.decode(token.as_bytes()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    match text.split_once(':') {
        Some((id, nonce)) if !id.is_empty() && nonce.len() == 64 => Ok(id.to_owned()),
        _ => Err(invalid()),
    }
}

/// Checks a principal member (`GranteePrincipal`, `RetiringPrincipal`): 1–256 characters.
pub fn check_principal(value: &str, member: &str) -> Result<(), KmsError> {
    if value.is_empty() || value.len() > 256 {
        return Err(KmsError::validation(
            value,
            member,
            "Member must have length between 1 and 256",
        ));
    }
    Ok(())
}

fn check_request(r: &Request) -> Result<(), KmsError> {
    check_principal(&r.grantee_principal, "granteePrincipal")?;
    if let Some(retiring) = &r.retiring_principal {
        check_principal(retiring, "retiringPrincipal")?;
    }
    if r.operations.is_empty() {
        return Err(KmsError::validation(
            "[]",
            "operations",
            "Member must have length greater than or equal to 1",
        ));
    }
    if let Some(bad) = r
        .operations
        .iter()
        .find(|op| !GRANT_OPERATIONS.contains(&op.as_str()))
    {
        return Err(KmsError::validation(
            &format!("[{}]", r.operations.join(", ")),
            "operations",
            &format!("Member must satisfy constraint: [Member must satisfy enum value set: [{}]] ({bad})", GRANT_OPERATIONS.join(", ")),
        ));
    }
    if let Some(name) = &r.name {
        let valid = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'));
        if name.is_empty() || name.len() > 256 || !valid {
            return Err(KmsError::validation(
                name,
                "name",
                "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
            ));
        }
    }
    if r.grant_tokens.len() > 10 {
        return Err(KmsError::validation(
            "…",
            "grantTokens",
            "Member must have length less than or equal to 10",
        ));
    }
    Ok(())
}

impl Operation for CreateGrant {
    const NAME: &'static str = "CreateGrant";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        let mut p = json!({ "keyId": r.key_id, "granteePrincipal": r.grantee_principal, "operations": r.operations });
        if let Some(map) = p.as_object_mut() {
            if let Some(retiring) = &r.retiring_principal {
                map.insert("retiringPrincipal".into(), json!(retiring));
            }
            if let Some(constraints) = &r.constraints {
                map.insert("constraints".into(), constraints.cloudtrail());
            }
            if let Some(name) = &r.name {
                map.insert("name".into(), json!(name));
            }
        }
        p
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        let key_arn = resolve(state, region, &caller.account, &r.key_id)?;
        let for_aws_resource =
            caller.via_service.is_some() || !caller.principal.starts_with("arn:");
        let mut condition_keys = BTreeMap::from([
            ("kms:GrantOperations".to_owned(), r.operations.clone()),
            (
                "kms:GrantIsForAWSResource".to_owned(),
                vec![for_aws_resource.to_string()],
            ),
            (
                "kms:GranteePrincipal".to_owned(),
                vec![r.grantee_principal.clone()],
            ),
        ]);
        if let Some(retiring) = &r.retiring_principal {
            condition_keys.insert("kms:RetiringPrincipal".to_owned(), vec![retiring.clone()]);
        }
        let mut encryption_context = BTreeMap::new();
        if let Some(c) = &r.constraints {
            let mut types = Vec::new();
            if let Some(equals) = &c.encryption_context_equals {
                types.push("EncryptionContextEquals".to_owned());
                encryption_context.extend(equals.clone());
            }
            if let Some(subset) = &c.encryption_context_subset {
                types.push("EncryptionContextSubset".to_owned());
                encryption_context.extend(subset.clone());
            }
            condition_keys.insert("kms:GrantConstraintType".to_owned(), types);
        }
        Ok(vec![Authorization {
            action: "kms:CreateGrant".into(),
            key_arn,
            encryption_context,
            condition_keys,
        }])
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        check_request(&r)?;
        let key = ctx.key(&r.key_id)?;
        if matches!(
            key.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(crate::kms::engine::ops::invalid_state(key, key.state));
        }
        let constraints = r.constraints.as_ref().map(Constraints::to_policy);
        // A grant with the same name and the same terms is the same grant (KMS's idempotency).
        let same = r.name.as_ref().and_then(|name| {
            ctx.state.grants.values().find(|g| {
                g.key_arn == key.arn
                    && g.name.as_ref() == Some(name)
                    && g.grantee_principal == r.grantee_principal
                    && g.retiring_principal == r.retiring_principal
                    && g.operations == r.operations
                    && g.constraints == constraints
            })
        });
        let (grant_id, changes) = match same {
            Some(existing) => (existing.grant_id.clone(), Vec::new()),
            None => {
                let grant_id = new_grant_id(ctx.rng);
                let grant = Grant {
                    grant_id: grant_id.clone(),
                    key_arn: key.arn.clone(),
                    grantee_principal: r.grantee_principal.clone(),
                    retiring_principal: r.retiring_principal.clone(),
                    operations: r.operations.clone(),
                    constraints,
                    name: r.name.clone(),
                    issuing_account: format!(
                        "arn:{}:iam::{}:root",
                        partition_of(ctx.region),
                        ctx.caller.account
                    ),
                    creation_date: Some(ctx.now),
                    retired: false,
                };
                (grant_id, vec![Change::PutGrant(Box::new(grant))])
            }
        };
        let grant_token = new_grant_token(&grant_id, ctx.rng);
        Ok(Outcome {
            response_elements: Some(json!({ "grantId": grant_id, "keyId": key.arn })),
            response: Response {
                grant_token,
                grant_id,
            },
            key_material_id: None,
            additional_event_data: None,
            changes,
        })
    }
}
