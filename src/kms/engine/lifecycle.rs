//! What happens with no caller: automatic rotation when due, deletion at the end of the
//! waiting period, expiry of imported key material. Each is one CloudTrail service event
//! (`RotateKey`, `DeleteKey`, `DeleteExpiredKeyMaterial`), recorded before it takes effect.
//! Rotating a multi-Region primary key also gives its replicas the new material (recorded
//! as `SynchronizeMultiRegionKey`), and deleting the last replica of a primary pending
//! replica deletion starts the primary's own waiting period.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::kms::crypto::KeyMaterial;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::multi_region::{primary_of, replicas_of, synced, synchronize_record};
use crate::kms::engine::state::{Change, Generation, Key, KeyState, RotationType, State};
use crate::kms::engine::{ids, Engine, Inner};

/// A service action the engine took on a key.
#[derive(Debug, Clone)]
pub struct ServiceRecord {
    /// `RotateKey`, `DeleteKey` or `DeleteExpiredKeyMaterial`.
    pub name: &'static str,
    /// When it happened (the due time).
    pub time: DateTime<Utc>,
    /// The key.
    pub key_arn: String,
    /// The key id.
    pub key_id: String,
    /// Owner account.
    pub account: String,
    /// Region.
    pub region: String,
    /// `eventID`.
    pub event_id: String,
    /// `serviceEventDetails`.
    pub details: Option<Value>,
    /// `additionalEventData` (the backing keys of a key in a CloudHSM key store).
    pub additional_event_data: Option<Value>,
    /// `requestID`: set only for the service's own API calls (`SynchronizeMultiRegionKey`),
    /// which are recorded as `AwsApiCall`.
    pub request_id: Option<String>,
    /// `responseElements` of such a call.
    pub response_elements: Option<Value>,
}

impl ServiceRecord {
    /// A service event `name` on `key` at `time`, with `details`.
    pub fn on_key(
        name: &'static str,
        key: &Key,
        time: DateTime<Utc>,
        event_id: String,
        details: Option<Value>,
    ) -> Self {
        Self {
            name,
            time,
            key_arn: key.arn.clone(),
            key_id: key.id.clone(),
            account: key.account.clone(),
            region: key.region.clone(),
            event_id,
            details,
            additional_event_data: None,
            request_id: None,
            response_elements: None,
        }
    }
}

impl Engine {
    /// Carries out every service action due at the clock's time, oldest first per key;
    /// returns how many were done.
    pub fn run_due(&self) -> Result<usize, KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock()?;
        let mut done = 0;
        let arns: Vec<String> = inner.state.keys.keys().cloned().collect();
        for arn in arns {
            // A key can owe several rotations after a long jump of the clock.
            while let Some((records, changes)) = due(&mut inner, &arn, now)? {
                for record in &records {
                    self.record_service(record)?;
                }
                self.persist(&changes)?;
                inner.state.apply(changes);
                done += 1;
            }
        }
        Ok(done)
    }

    pub(crate) fn record_service(&self, record: &ServiceRecord) -> Result<(), KmsError> {
        let event = super::audit_adapter::service_event(record);
        self.sink.record(&event).map_err(|err| {
            KmsError::new(
                KmsErrorKind::Internal,
                format!("the service event could not be audited ({err}); nothing was changed"),
            )
        })
    }
}

/// A due service action: its records and its changes.
type DueAction = (Vec<ServiceRecord>, Vec<Change>);

/// The next action due on key `arn` at `now`, if any: its records (one service event, or
/// a rotation and the synchronization of the replicas) and its changes.
fn due(inner: &mut Inner, arn: &str, now: DateTime<Utc>) -> Result<Option<DueAction>, KmsError> {
    let Inner { state, rng } = inner;
    let Some(key) = state.keys.get(arn) else {
        return Ok(None);
    };
    if let Some(date) = key
        .deletion_date
        .filter(|d| *d <= now && key.state == KeyState::PendingDeletion)
    {
        let mut record = ServiceRecord::on_key("DeleteKey", key, date, ids::new_uuid(rng), None);
        record.additional_event_data = hsm_deletion_data(key);
        let mut changes = vec![Change::DeleteKey(key.arn.clone())];
        changes.extend(last_replica_gone(state, key, date));
        return Ok(Some((vec![record], changes)));
    }
    if let Some(valid_to) = key
        .valid_to
        .filter(|v| *v <= now && key.state != KeyState::PendingImport)
    {
        let mut changed = key.clone();
        changed.state = KeyState::PendingImport;
        changed.valid_to = None;
        let record = ServiceRecord::on_key(
            "DeleteExpiredKeyMaterial",
            key,
            valid_to,
            ids::new_uuid(rng),
            Some(json!({ "keyId": key.id })),
        );
        return Ok(Some((
            vec![record],
            vec![Change::PutKey(Box::new(changed))],
        )));
    }
    // Replicas rotate with their primary, never on their own schedule.
    if let Some(next) = key
        .next_rotation
        .filter(|n| *n <= now && key.state == KeyState::Enabled && !key.is_replica())
    {
        let changed = rotated(key, next, RotationType::Automatic, rng)?;
        let details = rotation_details(key, &changed, RotationType::Automatic);
        let event_id = ids::new_uuid(rng);
        let mut records = vec![ServiceRecord::on_key(
            "RotateKey",
            key,
            next,
            event_id,
            Some(details),
        )];
        let mut changes = Vec::new();
        let replicas = replicas_of(state, key);
        if !replicas.is_empty() {
            records.push(synchronize_record(key, next, rng));
            for replica in replicas {
                changes.push(Change::PutKey(Box::new(synced(replica, &changed))));
            }
        }
        changes.insert(0, Change::PutKey(Box::new(changed)));
        return Ok(Some((records, changes)));
    }
    Ok(None)
}

/// When `deleted` is the last replica of a primary pending replica deletion, the primary
/// becomes pending deletion: its waiting period starts at `time`.
fn last_replica_gone(state: &State, deleted: &Key, time: DateTime<Utc>) -> Option<Change> {
    if !deleted.is_replica() {
        return None;
    }
    let primary = primary_of(state, deleted)?;
    let others = replicas_of(state, deleted)
        .into_iter()
        .filter(|k| k.arn != deleted.arn)
        .count();
    if primary.state != KeyState::PendingReplicaDeletion || others > 0 {
        return None;
    }
    let days = primary.pending_window_days.unwrap_or(30);
    let mut changed = primary.clone();
    changed.state = KeyState::PendingDeletion;
    changed.deletion_date = Some(time + chrono::Duration::days(i64::from(days)));
    Some(Change::PutKey(Box::new(changed)))
}

/// `additionalEventData` of the deletion of a key in a CloudHSM key store (KMS Developer
/// Guide, DeleteKey example): the store, the cluster, the backing keys and how their
/// deletion went, the lists as JSON text.
fn hsm_deletion_data(key: &Key) -> Option<Value> {
    let hsm = key.hsm.as_ref()?;
    let backing = backing_keys(key);
    let status: Vec<Value> = backing
        .iter()
        .map(|b| {
            let mut b = b.clone();
            if let Some(map) = b.as_object_mut() {
                map.insert("deletionStatus".into(), json!("SUCCESS"));
            }
            b
        })
        .collect();
    Some(json!({
        "customKeyStoreId": hsm.custom_key_store_id,
        "clusterId": hsm.cloud_hsm_cluster_id,
        "backingKeys": Value::Array(backing).to_string(),
        "backingKeysDeletionStatus": Value::Array(status).to_string(),
    }))
}

/// The backing keys of a key in a CloudHSM key store: its handle and backing key id (the
/// key material id) in the cluster, `{"keyHandle": …, "backingKeyId": …}`.
pub fn backing_keys(key: &Key) -> Vec<Value> {
    let Some(hsm) = &key.hsm else {
        return Vec::new();
    };
    key.generations
        .iter()
        .map(|g| json!({ "keyHandle": hsm.key_handle, "backingKeyId": g.material.id() }))
        .collect()
}

/// `key` with a new current material generation made at `time`.
pub fn rotated(
    key: &Key,
    time: DateTime<Utc>,
    how: RotationType,
    rng: &mut impl rand::CryptoRng,
) -> Result<Key, KmsError> {
    let material = KeyMaterial::generate(key.spec, rng)
        .map_err(|err| KmsError::new(KmsErrorKind::Internal, err.to_string()))?;
    let mut changed = key.clone();
    changed.generations.push(Generation {
        material,
        since: time,
        rotation: Some(how),
        description: None,
    });
    if how == RotationType::Automatic {
        if let Some(days) = key.rotation_period_days {
            changed.next_rotation = Some(time + chrono::Duration::days(i64::from(days)));
        }
    }
    Ok(changed)
}

/// `serviceEventDetails` of a `RotateKey` event (KMS Developer Guide, 2025 example).
pub fn rotation_details(before: &Key, after: &Key, how: RotationType) -> Value {
    json!({
        "rotationType": how.as_str(),
        "keyOrigin": before.origin.as_str(),
        "previousKeyMaterialId": before.current().map(|g| g.material.id().to_owned()),
        "currentKeyMaterialId": after.current().map(|g| g.material.id().to_owned()),
        "keyId": before.id,
    })
}
