//! KMS operations, one per file: the request and response as the wire carries them
//! (PascalCase JSON), how CloudTrail shows them, what they authorize and what they do.

pub mod blob;
pub mod cancel_key_deletion;
pub mod create_alias;
pub mod create_grant;
pub mod create_key;
pub mod crypto_error;
pub mod decrypt;
pub mod delete_alias;
pub mod describe_key;
pub mod encrypt;
pub mod generate_data_key;
pub mod generate_data_key_pair;
pub mod generate_mac;
pub mod generate_random;
pub mod get_public_key;
pub mod import_key_material;
pub mod key_id;
pub mod key_policy;
pub mod key_state;
pub mod list_aliases;
pub mod list_grants;
pub mod list_key_rotations;
pub mod list_keys;
pub mod multi_region;
pub mod paging;
pub mod re_encrypt;
pub mod replicate_key;
pub mod retire_grant;
pub mod rotate_key_on_demand;
pub mod rotation;
pub mod schedule_key_deletion;
pub mod sign;
pub mod tags;
pub mod update_alias;
pub mod update_key_description;
pub mod update_primary_region;
pub mod verify;
pub mod verify_mac;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::multi_region::MultiRegionConfiguration;
use crate::kms::engine::state::{Key, KeyState, State};
use crate::kms::engine::{resolve, AccountAuthorization, Authorization, Caller};

/// The account-level permissions of a call that makes a key (`CreateKey`, and `ReplicateKey`
/// in the replica Region): `kms:CreateKey`, and `kms:TagResource` when it tags the key ("To
/// use the Tags parameter, kms:TagResource (IAM policy)", API reference), both with
/// `condition_keys` and the request-tag keys `aws:TagKeys` and `aws:RequestTag/<key>`.
#[must_use]
pub fn key_creation_authorizations(
    mut condition_keys: BTreeMap<String, Vec<String>>,
    tags: &[Tag],
) -> Vec<AccountAuthorization> {
    if !tags.is_empty() {
        condition_keys.insert(
            "aws:TagKeys".to_owned(),
            tags.iter().map(|t| t.tag_key.clone()).collect(),
        );
        for tag in tags {
            condition_keys.insert(
                format!("aws:RequestTag/{}", tag.tag_key),
                vec![tag.tag_value.clone()],
            );
        }
    }
    let mut auths = vec![AccountAuthorization {
        condition_keys: condition_keys.clone(),
        ..AccountAuthorization::action("kms:CreateKey")
    }];
    if !tags.is_empty() {
        auths.push(AccountAuthorization {
            action: "kms:TagResource",
            names_resource: false,
            condition_keys,
        });
    }
    auths
}

/// A tag, `{"TagKey", "TagValue"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// The key.
    pub tag_key: String,
    /// The value.
    pub tag_value: String,
}

/// `KeyMetadata` as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    pub aws_account_id: String,
    pub key_id: String,
    pub arn: String,
    /// Seconds since the epoch, as the JSON protocol writes timestamps.
    pub creation_date: f64,
    pub enabled: bool,
    pub description: String,
    pub key_usage: String,
    pub key_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<f64>,
    pub origin: String,
    /// The CloudHSM key store of an `AWS_CLOUDHSM` key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_key_store_id: Option<String>,
    /// The cluster of that key store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_hsm_cluster_id: Option<String>,
    pub key_manager: String,
    pub customer_master_key_spec: String,
    pub key_spec: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_algorithms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_algorithms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mac_algorithms: Vec<String>,
    pub multi_region: bool,
    /// The primary and replicas of a multi-Region key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_region_configuration: Option<MultiRegionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_key_material_id: Option<String>,
}

#[allow(clippy::cast_precision_loss)]
fn epoch(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

impl KeyMetadata {
    /// The metadata of `key` alone: a multi-Region key's configuration lists only `key`
    /// (right for a new primary key); use [`KeyMetadata::in_state`] for existing keys.
    pub fn of(key: &Key) -> Self {
        Self::with_related(key, &[key])
    }

    /// The metadata of `key` with its related multi-Region keys from `state`.
    pub fn in_state(key: &Key, state: &State) -> Self {
        Self::with_related(key, &state.related_keys(key))
    }

    /// The metadata of `key` whose related multi-Region keys (`key` included) are
    /// `related`.
    pub fn with_related(key: &Key, related: &[&Key]) -> Self {
        Self {
            aws_account_id: key.account.clone(),
            key_id: key.id.clone(),
            arn: key.arn.clone(),
            creation_date: epoch(key.created),
            enabled: key.state == KeyState::Enabled,
            description: key.description.clone(),
            key_usage: key.usage.as_str().to_owned(),
            key_state: key.state.as_str().to_owned(),
            deletion_date: key.deletion_date.map(epoch),
            valid_to: key.valid_to.map(epoch),
            origin: key.origin.as_str().to_owned(),
            custom_key_store_id: key.hsm.as_ref().map(|h| h.custom_key_store_id.clone()),
            cloud_hsm_cluster_id: key.hsm.as_ref().map(|h| h.cloud_hsm_cluster_id.clone()),
            key_manager: "CUSTOMER".to_owned(),
            customer_master_key_spec: key.spec.as_str().to_owned(),
            key_spec: key.spec.as_str().to_owned(),
            encryption_algorithms: key
                .spec
                .encryption_algorithms(key.usage)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            signing_algorithms: key
                .spec
                .signing_algorithms(key.usage)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            mac_algorithms: key
                .spec
                .mac_algorithms(key.usage)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            multi_region: key.multi_region,
            multi_region_configuration: MultiRegionConfiguration::of(key, related),
            pending_deletion_window_in_days: key.pending_window_days,
            // Keys in a CloudHSM key store have no `CurrentKeyMaterialId` (API reference:
            // it is given for `AWS_KMS` and single-Region `EXTERNAL` keys).
            current_key_material_id: key
                .current()
                .filter(|_| key.hsm.is_none())
                .map(|g| g.material.id().to_owned()),
        }
    }

    /// `responseElements.keyMetadata` as CloudTrail writes it: camelCase members,
    /// `aWSAccountId`, Java text dates; `{"keyMetadata": …}`.
    pub fn cloudtrail(&self, key: &Key) -> Value {
        let mut elements = self.cloudtrail_base(key);
        if let Some(Value::Object(metadata)) = elements.get_mut("keyMetadata") {
            if let Some(id) = &self.custom_key_store_id {
                metadata.insert("customKeyStoreId".into(), json!(id));
            }
            if let Some(id) = &self.cloud_hsm_cluster_id {
                metadata.insert("cloudHsmClusterId".into(), json!(id));
            }
            if let Some(configuration) = &self.multi_region_configuration {
                metadata.insert(
                    "multiRegionConfiguration".into(),
                    configuration.cloudtrail(),
                );
            }
        }
        elements
    }

    /// The `keyMetadata` object alone, as [`KeyMetadata::cloudtrail`] writes it.
    pub fn cloudtrail_object(&self, key: &Key) -> Value {
        self.cloudtrail(key)
            .get("keyMetadata")
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn cloudtrail_base(&self, key: &Key) -> Value {
        let java = crate::kms::audit::java_date;
        crate::kms::audit::key_metadata_json(&crate::kms::audit::KeyMetadataRecord {
            aws_account_id: key.account.clone(),
            key_id: key.id.clone(),
            arn: key.arn.clone(),
            creation_date: java(key.created),
            enabled: self.enabled,
            description: key.description.clone(),
            key_usage: self.key_usage.clone(),
            key_state: self.key_state.clone(),
            deletion_date: key.deletion_date.map(java),
            valid_to: key.valid_to.map(java),
            origin: self.origin.clone(),
            expiration_model: None,
            key_manager: self.key_manager.clone(),
            customer_master_key_spec: self.customer_master_key_spec.clone(),
            key_spec: self.key_spec.clone(),
            encryption_algorithms: self.encryption_algorithms.clone(),
            signing_algorithms: self.signing_algorithms.clone(),
            multi_region: self.multi_region,
            pending_deletion_window_in_days: self.pending_deletion_window_in_days,
            mac_algorithms: self.mac_algorithms.clone(),
        })
    }
}

/// The one authorization of an operation on the key `key_id` names.
pub fn on_key(
    state: &State,
    region: &str,
    caller: &Caller,
    key_id: &str,
    action: &str,
    encryption_context: Option<&BTreeMap<String, String>>,
) -> Result<Vec<Authorization>, KmsError> {
    let key_arn = resolve(state, region, &caller.account, key_id)?;
    Ok(vec![Authorization {
        action: action.to_owned(),
        key_arn,
        encryption_context: encryption_context.cloned().unwrap_or_default(),
        condition_keys: BTreeMap::new(),
    }])
}

/// `KMSInvalidStateException` / `DisabledException` for a key that cannot be used for
/// cryptography in its state.
pub fn usable(key: &Key) -> Result<(), KmsError> {
    match key.state {
        KeyState::Enabled => Ok(()),
        KeyState::Disabled => Err(KmsError::new(
            KmsErrorKind::Disabled,
            format!("{} is disabled.", key.arn),
        )),
        other @ (KeyState::PendingDeletion
        | KeyState::PendingImport
        | KeyState::PendingReplicaDeletion) => Err(invalid_state(key, other)),
    }
}

/// `KMSInvalidStateException` for `key` in state `state`: `<key ARN> is pending deletion.`
pub fn invalid_state(key: &Key, state: KeyState) -> KmsError {
    KmsError::new(
        KmsErrorKind::InvalidState,
        format!("{} is {}.", key.arn, state.words()),
    )
}

/// `responseElements` of a state-changing operation with an empty response: since
/// December 2022 CloudTrail writes the key ARN there.
pub fn key_arn_element(key: &Key) -> Option<Value> {
    Some(json!({ "keyId": key.arn }))
}
