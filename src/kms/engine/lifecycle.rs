//! What happens with no caller: automatic rotation when due, deletion at the end of the
//! waiting period, expiry of imported key material. Each is one CloudTrail service event
//! (`RotateKey`, `DeleteKey`, `DeleteExpiredKeyMaterial`), recorded before it takes effect.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::kms::crypto::KeyMaterial;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::state::{Change, Generation, Key, KeyState, RotationType};
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
            while let Some((record, changes)) = due(&mut inner, &arn, now)? {
                self.record_service(&record)?;
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

/// The next action due on key `arn` at `now`, if any.
fn due(
    inner: &mut Inner,
    arn: &str,
    now: DateTime<Utc>,
) -> Result<Option<(ServiceRecord, Vec<Change>)>, KmsError> {
    let Inner { state, rng } = inner;
    let Some(key) = state.keys.get(arn) else {
        return Ok(None);
    };
    let record = |name, time, details| ServiceRecord {
        name,
        time,
        key_arn: key.arn.clone(),
        key_id: key.id.clone(),
        account: key.account.clone(),
        region: key.region.clone(),
        event_id: String::new(),
        details,
    };
    let (mut event, changes) = if let Some(date) = key
        .deletion_date
        .filter(|d| *d <= now && key.state == KeyState::PendingDeletion)
    {
        (
            record("DeleteKey", date, None),
            vec![Change::DeleteKey(key.arn.clone())],
        )
    } else if let Some(valid_to) = key
        .valid_to
        .filter(|v| *v <= now && key.state != KeyState::PendingImport)
    {
        let mut changed = key.clone();
        changed.state = KeyState::PendingImport;
        changed.valid_to = None;
        (
            record(
                "DeleteExpiredKeyMaterial",
                valid_to,
                Some(json!({ "keyId": key.id })),
            ),
            vec![Change::PutKey(Box::new(changed))],
        )
    } else if let Some(next) = key
        .next_rotation
        .filter(|n| *n <= now && key.state == KeyState::Enabled)
    {
        let changed = rotated(key, next, RotationType::Automatic, rng)?;
        let details = rotation_details(key, &changed, RotationType::Automatic);
        (
            record("RotateKey", next, Some(details)),
            vec![Change::PutKey(Box::new(changed))],
        )
    } else {
        return Ok(None);
    };
    event.event_id = ids::new_uuid(rng);
    Ok(Some((event, changes)))
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
