//! Multi-Region keys: a primary key and its replicas share a key id (`mrk-…`), key material,
//! key spec, usage, origin and automatic rotation; everything else is per Region. These
//! helpers find the related keys, build `MultiRegionConfiguration`, and copy the shared
//! properties from a primary onto its replicas (what KMS calls synchronizing).

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::Serialize;
use serde_json::{json, Value};

use crate::kms::engine::ids::new_uuid;
use crate::kms::engine::lifecycle::ServiceRecord;
use crate::kms::engine::state::{Key, MultiRegionKeyType, State};

/// `{"Arn", "Region"}` of one related key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    /// The key ARN.
    pub arn: String,
    /// Its Region.
    pub region: String,
}

/// `MultiRegionConfiguration` of `KeyMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    /// `PRIMARY` or `REPLICA`.
    pub multi_region_key_type: String,
    /// The primary key.
    pub primary_key: MultiRegionKey,
    /// Every replica key, this one included if it is a replica.
    pub replica_keys: Vec<MultiRegionKey>,
}

impl MultiRegionConfiguration {
    /// The configuration of `key` among `related` (all the related keys, `key` included);
    /// `None` for a single-Region key.
    pub fn of(key: &Key, related: &[&Key]) -> Option<Self> {
        let kind = key.multi_region_type?;
        let entry = |k: &Key| MultiRegionKey {
            arn: k.arn.clone(),
            region: k.region.clone(),
        };
        let primary = related
            .iter()
            .find(|k| k.is_primary())
            .map_or_else(|| entry(key), |k| entry(k));
        Some(Self {
            multi_region_key_type: kind.as_str().to_owned(),
            primary_key: primary,
            replica_keys: related
                .iter()
                .filter(|k| k.is_replica())
                .map(|k| entry(k))
                .collect(),
        })
    }

    /// `multiRegionConfiguration` as CloudTrail writes it inside `keyMetadata`.
    pub fn cloudtrail(&self) -> Value {
        let entry = |k: &MultiRegionKey| json!({ "arn": k.arn, "region": k.region });
        json!({
            "multiRegionKeyType": self.multi_region_key_type,
            "primaryKey": entry(&self.primary_key),
            "replicaKeys": self.replica_keys.iter().map(entry).collect::<Vec<_>>(),
        })
    }
}

/// The primary key related to `key` (`key` itself if it is the primary).
pub fn primary_of<'s>(state: &'s State, key: &'s Key) -> Option<&'s Key> {
    state
        .related_keys(key)
        .into_iter()
        .find(|k| k.multi_region_type == Some(MultiRegionKeyType::Primary))
}

/// The replicas of `key`'s set of related keys.
pub fn replicas_of<'s>(state: &'s State, key: &'s Key) -> Vec<&'s Key> {
    state
        .related_keys(key)
        .into_iter()
        .filter(|k| k.is_replica())
        .collect()
}

/// `replica` with the properties it shares with `primary`: key material (every generation,
/// so ciphertext of either decrypts on the other) and automatic rotation. Rotation runs on
/// the primary only; the replica shows the primary's schedule.
pub fn synced(replica: &Key, primary: &Key) -> Key {
    let mut copy = replica.clone();
    copy.generations.clone_from(&primary.generations);
    copy.rotation_period_days = primary.rotation_period_days;
    copy.next_rotation = primary.next_rotation;
    copy
}

/// The `SynchronizeMultiRegionKey` record KMS writes in the primary key's Region when it
/// copies shared properties to the replicas: an `AwsApiCall` by the type-less KMS identity
/// with a `requestID`, `requestParameters: null` and the primary key ARN in
/// `responseElements.keyId` and `resources` (KMS Developer Guide example). KMS also
/// synchronizes periodically; the engine records it when the key material changes.
pub fn synchronize_record(primary: &Key, time: DateTime<Utc>, rng: &mut impl Rng) -> ServiceRecord {
    ServiceRecord {
        name: "SynchronizeMultiRegionKey",
        time,
        key_arn: primary.arn.clone(),
        key_id: primary.id.clone(),
        account: primary.account.clone(),
        region: primary.region.clone(),
        event_id: new_uuid(rng),
        details: None,
        additional_event_data: None,
        request_id: Some(new_uuid(rng)),
        response_elements: Some(json!({ "keyId": primary.arn })),
    }
}
