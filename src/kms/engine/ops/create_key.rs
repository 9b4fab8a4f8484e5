//! `CreateKey`: a new key with generated (or, for EXTERNAL origin, pending) key material and
//! the default key policy unless one is given. `MultiRegion` makes a multi-Region primary
//! key (`mrk-` id); `Origin` `AWS_CLOUDHSM` with a `CustomKeyStoreId` puts a symmetric key
//! in a simulated CloudHSM key store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{KeyMaterial, KeySpec, KeyUsage};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{key_arn, new_key_id, partition_of};
use crate::kms::engine::key_store::{CustomKeyStore, HsmBacking};
use crate::kms::engine::lifecycle::backing_keys;
use crate::kms::engine::ops::{key_creation_authorizations, KeyMetadata, Tag};
use crate::kms::engine::state::{
    Change, Generation, Key, KeyState, MultiRegionKeyType, Origin, State,
};
use crate::kms::engine::{
    AccountAuthorization, Authorization, Caller, Context, Operation, Outcome,
};
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
    #[serde(default)]
    pub custom_key_store_id: Option<String>,
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
            if let Some(store) = &r.custom_key_store_id {
                map.insert("customKeyStoreId".into(), json!(store));
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
        // No key exists yet: IAM alone decides (`account_authorizations`).
        Ok(Vec::new())
    }

    /// `kms:CreateKey` (and `kms:TagResource` for `Tags`) with the condition keys IAM
    /// policies can put on key creation: `kms:KeySpec`, `kms:KeyUsage`, `kms:KeyOrigin`,
    /// `kms:MultiRegion`, `kms:BypassPolicyLockoutSafetyCheck`.
    fn account_authorizations(r: &Request) -> Vec<AccountAuthorization> {
        let one = |value: &str| vec![value.to_owned()];
        let flag = |value: Option<bool>| {
            one(if value.unwrap_or(false) {
                "true"
            } else {
                "false"
            })
        };
        let condition_keys = BTreeMap::from([
            ("kms:KeySpec".to_owned(), one(&spec_name(r))),
            (
                "kms:KeyUsage".to_owned(),
                one(r.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT")),
            ),
            (
                "kms:KeyOrigin".to_owned(),
                one(r.origin.as_deref().unwrap_or("AWS_KMS")),
            ),
            ("kms:MultiRegion".to_owned(), flag(r.multi_region)),
            (
                "kms:BypassPolicyLockoutSafetyCheck".to_owned(),
                flag(r.bypass_policy_lockout_safety_check),
            ),
        ]);
        key_creation_authorizations(condition_keys, &r.tags)
    }

    /// The new key, as every AWS `CreateKey` example names it (reference §2.2).
    fn response_resources(response: &Response) -> Vec<(String, String)> {
        let metadata = &response.key_metadata;
        vec![(metadata.aws_account_id.clone(), metadata.arn.clone())]
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
        let origin = match r.origin.as_deref() {
            Some("EXTERNAL_KEY_STORE") => {
                return Err(KmsError::new(
                    KmsErrorKind::UnsupportedOperation,
                    "External key stores are not available in this KMS; use an AWS_CLOUDHSM custom key store.",
                ))
            }
            Some(o) => Origin::parse(o).ok_or_else(|| {
                KmsError::validation(o, "origin", "Member must satisfy enum value set")
            })?,
            None => Origin::AwsKms,
        };
        let multi_region = r.multi_region.unwrap_or(false);
        let store = custom_key_store(ctx, &r, origin, spec, usage, multi_region)?;
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
        let id = new_key_id(ctx.rng, multi_region);
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
            vec![Generation::first(material, ctx.now)]
        };
        let hsm = store.map(|store| HsmBacking {
            custom_key_store_id: store.custom_key_store_id.clone(),
            cloud_hsm_cluster_id: store.cloud_hsm_cluster_id.clone(),
            key_handle: next_key_handle(ctx.state, &store.custom_key_store_id),
        });
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
            multi_region,
            multi_region_type: multi_region.then_some(MultiRegionKeyType::Primary),
            hsm,
            generations,
            pending_material: None,
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
        // The CloudHSM example records the new backing key: `{"keyHandle","backingKeyId"}`
        // as JSON text.
        let additional_event_data = backing_keys(&key)
            .first()
            .map(|backing| json!({ "backingKey": backing.to_string() }));
        Ok(Outcome {
            response: Response {
                key_metadata: metadata,
            },
            response_elements,
            key_material_id: None,
            additional_event_data,
            changes: vec![Change::PutKey(Box::new(key))],
        })
    }
}

/// The CloudHSM key store a request names, checked as KMS checks it: a store needs
/// `Origin` `AWS_CLOUDHSM` and the reverse (the API reference says each requires the other;
/// the engine answers a mismatch with `UnsupportedOperationException`, the exception KMS
/// uses for parameters "not supported" in a request), a single-Region `SYMMETRIC_DEFAULT`
/// encryption key, a store of the caller's account and Region
/// (`CustomKeyStoreNotFoundException`), connected (`CustomKeyStoreInvalidStateException`)
/// with two active HSMs (`CloudHsmClusterInvalidConfigurationException`).
fn custom_key_store<'s>(
    ctx: &Context<'s>,
    r: &Request,
    origin: Origin,
    spec: KeySpec,
    usage: KeyUsage,
    multi_region: bool,
) -> Result<Option<&'s CustomKeyStore>, KmsError> {
    let unsupported = |message: String| KmsError::new(KmsErrorKind::UnsupportedOperation, message);
    let Some(store_id) = &r.custom_key_store_id else {
        if origin == Origin::AwsCloudHsm {
            return Err(unsupported(
                "A CustomKeyStoreId is required to create a KMS key with origin AWS_CLOUDHSM."
                    .into(),
            ));
        }
        return Ok(None);
    };
    if store_id.is_empty() || store_id.len() > 64 {
        return Err(KmsError::validation(
            store_id,
            "customKeyStoreId",
            "Member must have length between 1 and 64",
        ));
    }
    if origin != Origin::AwsCloudHsm {
        return Err(unsupported(format!(
            "A KMS key in custom key store {store_id} must have origin AWS_CLOUDHSM, not {}.",
            origin.as_str()
        )));
    }
    if multi_region {
        return Err(unsupported(
            "You cannot create a multi-Region key in a custom key store.".into(),
        ));
    }
    if spec != KeySpec::SymmetricDefault || usage != KeyUsage::EncryptDecrypt {
        return Err(unsupported(format!(
            "A KMS key in a custom key store must be a SYMMETRIC_DEFAULT ENCRYPT_DECRYPT key, not {} {}.",
            spec.as_str(),
            usage.as_str()
        )));
    }
    let state: &'s State = ctx.state;
    let store = state
        .custom_key_stores
        .get(store_id)
        .filter(|s| s.account_id == ctx.caller.account && s.region == ctx.region)
        .ok_or_else(|| {
            KmsError::new(
                KmsErrorKind::CustomKeyStoreNotFound,
                format!("Custom key store {store_id} does not exist."),
            )
        })?;
    store.accepts_new_keys()?;
    Ok(Some(store))
}

/// A handle for a new backing key in a store's cluster: one past the highest in use.
fn next_key_handle(state: &State, store_id: &str) -> String {
    let highest = state
        .keys
        .values()
        .filter_map(|k| k.hsm.as_ref())
        .filter(|h| h.custom_key_store_id == store_id)
        .filter_map(|h| h.key_handle.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    (highest + 1).to_string()
}

fn spec_name(r: &Request) -> String {
    r.key_spec
        .clone()
        .or_else(|| r.customer_master_key_spec.clone())
        .unwrap_or_else(|| "SYMMETRIC_DEFAULT".into())
}
