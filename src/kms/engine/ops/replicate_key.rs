//! `ReplicateKey`: a replica of a multi-Region primary key in another Region of the same
//! partition — same key id, key material, spec, usage, origin and rotation; its own
//! description, key policy (the default one unless `Policy` is given), tags and state.
//!
//! CloudTrail: "The CloudTrail log of a `ReplicateKey` operation records a `ReplicateKey`
//! operation in the primary key's Region and a `CreateKey` operation in the replica key's
//! Region" (API reference). The `ReplicateKey` record follows the KMS Developer Guide example
//! (`replicaKeyMetadata` with `keyState` `Creating`, `replicaPolicy`; the primary key in
//! `resources`). No example of the `CreateKey` record exists; the engine writes it like the
//! replica-Region record of `UpdatePrimaryRegion`: the caller with `invokedBy:
//! kms.amazonaws.com`, the same `requestID`, CreateKey's request members for the replica
//! (`multiRegion: true`), its `keyMetadata`, and the replica key in `resources`.
//!
//! The replica is briefly `Creating` in AWS; the engine reports `Creating` in the response
//! and both records and stores the key `Enabled` (or `PendingImport` for imported material,
//! which must be imported into the replica again).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{key_arn, new_uuid, partition_of};
use crate::kms::engine::ops::multi_region::{primary_of, synced};
use crate::kms::engine::ops::tags::check_tags;
use crate::kms::engine::ops::{
    invalid_state, key_creation_authorizations, on_key, KeyMetadata, Tag,
};
use crate::kms::engine::state::{Change, Key, KeyState, MultiRegionKeyType, Origin, State};
use crate::kms::engine::{
    AccountAuthorization, Authorization, Caller, Context, Operation, Outcome, RelatedCall,
};
use crate::kms::policy::context::RequestContext;
use crate::kms::policy::default_policy::{default_key_policy, lockout_check};
use crate::kms::policy::document::PolicyDocument;

/// The request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    pub replica_region: String,
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub bypass_policy_lockout_safety_check: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub replica_key_metadata: KeyMetadata,
    pub replica_policy: String,
    pub replica_tags: Vec<Tag>,
}

/// The operation.
pub struct ReplicateKey;

fn tags_json(tags: &[Tag]) -> Value {
    json!(tags
        .iter()
        .map(|t| json!({"tagKey": t.tag_key, "tagValue": t.tag_value}))
        .collect::<Vec<_>>())
}

/// Checks a `RegionType` request member: 1–32 characters, `^([a-z]+-){2,3}\d+$`.
pub fn check_region(region: &str, member: &str) -> Result<(), KmsError> {
    let parts: Vec<&str> = region.split('-').collect();
    let shaped = (3..=4).contains(&parts.len())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if region.is_empty() || region.len() > 32 || !shaped {
        return Err(KmsError::validation(
            region,
            member,
            "Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$",
        ));
    }
    Ok(())
}

impl Operation for ReplicateKey {
    const NAME: &'static str = "ReplicateKey";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        let mut p = json!({
            "keyId": r.key_id,
            "replicaRegion": r.replica_region,
            "bypassPolicyLockoutSafetyCheck": r.bypass_policy_lockout_safety_check.unwrap_or(false),
            "description": r.description.clone().unwrap_or_default(),
        });
        if let Some(map) = p.as_object_mut() {
            if let Some(policy) = &r.policy {
                map.insert("policy".into(), json!(policy));
            }
            if !r.tags.is_empty() {
                map.insert("tags".into(), tags_json(&r.tags));
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
        // `kms:ReplicateKey` on the primary key; `kms:CreateKey` (and `kms:TagResource`) in
        // the replica Region are IAM permissions (`account_authorizations`).
        on_key(state, region, caller, &r.key_id, "kms:ReplicateKey", None)
    }

    /// `kms:CreateKey` (and `kms:TagResource` for `Tags`) for the replica.
    fn account_authorizations(r: &Request) -> Vec<AccountAuthorization> {
        let condition_keys =
            BTreeMap::from([("kms:MultiRegion".to_owned(), vec!["true".to_owned()])]);
        key_creation_authorizations(condition_keys, &r.tags)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        check_region(&r.replica_region, "replicaRegion")?;
        check_tags(&r.tags)?;
        let description = r.description.clone().unwrap_or_default();
        if description.len() > 8192 {
            return Err(KmsError::validation(
                "…",
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        let primary = ctx.key(&r.key_id)?;
        let state: &State = ctx.state;
        let unsupported =
            |message: String| KmsError::new(KmsErrorKind::UnsupportedOperation, message);
        if !primary.multi_region {
            return Err(unsupported(format!(
                "{} is not a multi-Region key; only multi-Region primary keys can be replicated.",
                primary.arn
            )));
        }
        if primary.is_replica() {
            return Err(unsupported(format!(
                "{} is a multi-Region replica key; only the primary key{} can be replicated.",
                primary.arn,
                primary_of(state, primary).map_or_else(String::new, |p| format!(" ({})", p.arn))
            )));
        }
        if matches!(
            primary.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(invalid_state(primary, primary.state));
        }
        if partition_of(&r.replica_region) != partition_of(&primary.region) {
            return Err(unsupported(format!(
                "{} cannot be replicated to {}, a Region of another partition.",
                primary.arn, r.replica_region
            )));
        }
        let arn = key_arn(&r.replica_region, &primary.account, &primary.id);
        if let Some(existing) = state.keys.get(&arn) {
            let what = if existing.is_primary() {
                "the primary key"
            } else {
                "a replica"
            };
            return Err(KmsError::new(
                KmsErrorKind::AlreadyExists,
                format!(
                    "{} already exists: {} is {what} of {}.",
                    arn, r.replica_region, primary.id
                ),
            ));
        }
        let policy_text = r.policy.clone().unwrap_or_else(|| {
            default_key_policy(&primary.account, partition_of(&r.replica_region))
        });
        let policy = PolicyDocument::parse_key_policy(&policy_text)
            .map_err(|err| KmsError::new(KmsErrorKind::MalformedPolicyDocument, err.to_string()))?;
        if r.policy.is_some() && !r.bypass_policy_lockout_safety_check.unwrap_or(false) {
            let caller_ctx = RequestContext::new("kms:PutKeyPolicy", &arn, &ctx.caller.principal);
            lockout_check(&policy, &caller_ctx).map_err(|err| {
                KmsError::new(KmsErrorKind::MalformedPolicyDocument, err.to_string())
            })?;
        }
        let mut replica = synced(primary, primary);
        replica.arn.clone_from(&arn);
        replica.region.clone_from(&r.replica_region);
        replica.created = ctx.now;
        replica.description = description;
        replica.multi_region_type = Some(MultiRegionKeyType::Replica);
        replica.state = if primary.origin == Origin::External {
            KeyState::PendingImport
        } else {
            KeyState::Enabled
        };
        replica.deletion_date = None;
        replica.pending_window_days = None;
        replica.pending_material = None;
        replica.on_demand_rotations = 0;
        replica.valid_to = None;
        replica.policy = policy;
        replica.tags = r
            .tags
            .iter()
            .map(|t| (t.tag_key.clone(), t.tag_value.clone()))
            .collect::<BTreeMap<_, _>>();
        replica.hsm = None;
        let mut related = state.related_keys(primary);
        related.push(&replica);
        let mut metadata = KeyMetadata::with_related(&replica, &related);
        // Transient while KMS copies the key to the Region.
        metadata.key_state = "Creating".into();
        metadata.enabled = false;
        let metadata_record = metadata.cloudtrail_object(&replica);
        let create_key = create_key_record(ctx, &r, &replica, metadata_record.clone());
        Ok(Outcome {
            response_elements: Some(json!({
                "replicaKeyMetadata": metadata_record,
                "replicaPolicy": policy_text,
            })),
            response: Response {
                replica_key_metadata: metadata,
                replica_policy: policy_text,
                replica_tags: r.tags.clone(),
            },
            key_material_id: None,
            additional_event_data: None,
            changes: vec![
                Change::PutKey(Box::new(replica)),
                Change::RelatedCall(Box::new(create_key)),
            ],
        })
    }
}

/// The `CreateKey` record of the replica Region (see the module documentation).
fn create_key_record(
    ctx: &mut Context<'_>,
    r: &Request,
    replica: &Key,
    metadata: Value,
) -> RelatedCall {
    let mut parameters = json!({
        "description": replica.description,
        "origin": replica.origin.as_str(),
        "bypassPolicyLockoutSafetyCheck": r.bypass_policy_lockout_safety_check.unwrap_or(false),
        "customerMasterKeySpec": replica.spec.as_str(),
        "keySpec": replica.spec.as_str(),
        "keyUsage": replica.usage.as_str(),
        "multiRegion": true,
    });
    if let Some(map) = parameters.as_object_mut() {
        if let Some(policy) = &r.policy {
            map.insert("policy".into(), json!(policy));
        }
        if !r.tags.is_empty() {
            map.insert("tags".into(), tags_json(&r.tags));
        }
    }
    RelatedCall {
        name: "CreateKey",
        region: replica.region.clone(),
        parameters,
        response_elements: Some(json!({ "keyMetadata": metadata })),
        resources: vec![(replica.account.clone(), replica.arn.clone())],
        event_id: new_uuid(ctx.rng),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_regions_follow_the_region_pattern() {
        for good in ["us-west-2", "ap-northeast-1", "us-gov-west-1", "cn-north-1"] {
            assert!(check_region(good, "replicaRegion").is_ok(), "{good}");
        }
        for bad in [
            "",
            "us-west",
            "US-WEST-2",
            "us-west-2a",
            "uswest2",
            "a-b-c-d-1",
        ] {
            assert!(check_region(bad, "replicaRegion").is_err(), "{bad}");
        }
    }
}
