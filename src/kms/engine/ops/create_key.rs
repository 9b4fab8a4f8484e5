//! `CreateKey`: a new key with generated (or, for EXTERNAL origin, pending) key material and
//! the default key policy unless one is given.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{KeyMaterial, KeySpec, KeyUsage};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{key_arn, new_key_id, partition_of};
use crate::kms::engine::ops::{KeyMetadata, Tag};
use crate::kms::engine::state::{Change, Generation, Key, KeyState, Origin, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};
use crate::kms::policy::context::RequestContext;
use crate::kms::policy::default_policy::{default_key_policy, lockout_check};
use crate::kms::policy::document::PolicyDocument;

/// The request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub key_usage: Option<String>,
    #[serde(default)]
    pub key_spec: Option<String>,
    #[serde(default)]
    pub customer_master_key_spec: Option<String>,
    #[serde(default)]
    pub origin: Option<String>,
    #[serde(default)]
    pub multi_region: Option<bool>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_metadata: KeyMetadata,
}

/// The operation.
pub struct CreateKey;

impl Operation for CreateKey {
    const NAME: &'static str = "CreateKey";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        let mut p = json!({
            "description": r.description.clone().unwrap_or_default(),
            "origin": r.origin.clone().unwrap_or_else(|| "AWS_KMS".into()),
            "bypassPolicyLockoutSafetyCheck": r.bypass_policy_lockout_safety_check.unwrap_or(false),
            "customerMasterKeySpec": spec_name(r),
            "keySpec": spec_name(r),
            "keyUsage": r.key_usage.clone().unwrap_or_else(|| "ENCRYPT_DECRYPT".into()),
        });
        if let Some(map) = p.as_object_mut() {
            if let Some(policy) = &r.policy {
                map.insert("policy".into(), json!(policy));
            }
            if r.multi_region == Some(true) {
                map.insert("multiRegion".into(), json!(true));
            }
            if !r.tags.is_empty() {
                map.insert(
                    "tags".into(),
                    json!(r
                        .tags
                        .iter()
                        .map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value}))
                        .collect::<Vec<_>>()),
                );
            }
        }
        p
    }

    fn authorizations(
        _: &State,
        _: &str,
        _: &Caller,
        _: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        // No key exists yet: CreateKey is authorized by IAM, which the engine's identity
        // policies model; the account root may always create keys.
        Ok(Vec::new())
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let spec: KeySpec = spec_name(&r).parse().map_err(|_| {
            KmsError::validation(
                &spec_name(&r),
                "keySpec",
                "Member must satisfy enum value set",
            )
        })?;
        let usage: KeyUsage = match &r.key_usage {
            Some(u) => u.parse().map_err(|_| {
                KmsError::validation(u, "keyUsage", "Member must satisfy enum value set")
            })?,
            None => spec.default_usage(),
        };
        if !spec.allows_usage(usage) {
            return Err(KmsError::new(
                KmsErrorKind::Validation,
                format!(
                    "KeyUsage {} is not compatible with KeySpec {}",
                    usage.as_str(),
                    spec.as_str()
                ),
            ));
        }
        let origin = match &r.origin {
            Some(o) => Origin::parse(o).ok_or_else(|| {
                KmsError::validation(o, "origin", "Member must satisfy enum value set")
            })?,
            None => Origin::AwsKms,
        };
        if origin == Origin::External && spec != KeySpec::SymmetricDefault {
            return Err(KmsError::new(
                KmsErrorKind::UnsupportedOperation,
                "EXTERNAL origin is supported for SYMMETRIC_DEFAULT keys",
            ));
        }
        let description = r.description.clone().unwrap_or_default();
        if description.len() > 8192 {
            return Err(KmsError::validation(
                "…",
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        let account = ctx.caller.account.clone();
        let id = new_key_id(ctx.rng, r.multi_region.unwrap_or(false));
        let arn = key_arn(ctx.region, &account, &id);
        let policy_text = r
            .policy
            .clone()
            .unwrap_or_else(|| default_key_policy(&account, partition_of(ctx.region)));
        let policy = PolicyDocument::parse_key_policy(&policy_text)
            .map_err(|err| KmsError::new(KmsErrorKind::MalformedPolicyDocument, err.to_string()))?;
        if r.policy.is_some() && !r.bypass_policy_lockout_safety_check.unwrap_or(false) {
            let caller_ctx = RequestContext::new("kms:PutKeyPolicy", &arn, &ctx.caller.principal);
            lockout_check(&policy, &caller_ctx).map_err(|err| {
                KmsError::new(KmsErrorKind::MalformedPolicyDocument, err.to_string())
            })?;
        }
        let generations = if origin == Origin::External {
            Vec::new()
        } else {
            let material = KeyMaterial::generate(spec, ctx.rng)
                .map_err(|err| KmsError::new(KmsErrorKind::Internal, err.to_string()))?;
            vec![Generation {
                material,
                since: ctx.now,
                rotation: None,
            }]
        };
        let key = Key {
            id,
            arn,
            account,
            region: ctx.region.to_owned(),
            created: ctx.now,
            description,
            spec,
            usage,
            origin,
            state: if origin == Origin::External {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            deletion_date: None,
            pending_window_days: None,
            multi_region: r.multi_region.unwrap_or(false),
            generations,
            rotation_period_days: None,
            next_rotation: None,
            on_demand_rotations: 0,
            valid_to: None,
            policy,
            tags: r
                .tags
                .iter()
                .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
                .collect::<BTreeMap<_, _>>(),
        };
        let metadata = KeyMetadata::of(&key);
        let response_elements = Some(metadata.cloudtrail(&key));
        Ok(Outcome {
            response: Response {
                key_metadata: metadata,
            },
            response_elements,
            key_material_id: None,
            changes: vec![Change::PutKey(Box::new(key))],
        })
    }
}

fn spec_name(r: &Request) -> String {
    r.key_spec
        .clone()
        .or_else(|| r.customer_master_key_spec.clone())
        .unwrap_or_else(|| "SYMMETRIC_DEFAULT".into())
}
