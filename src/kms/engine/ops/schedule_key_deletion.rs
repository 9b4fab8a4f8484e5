//! `ScheduleKeyDeletion`: the key becomes `PendingDeletion` for 7–30 days (default 30), then
//! the engine deletes it (a `DeleteKey` service event). A multi-Region primary key with
//! replicas becomes `PendingReplicaDeletion` and its waiting period starts only when its
//! last replica is deleted.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::KmsError;
use crate::kms::engine::lifecycle::backing_keys;
use crate::kms::engine::ops::multi_region::replicas_of;
use crate::kms::engine::ops::{invalid_state, on_key};
use crate::kms::engine::state::{Change, Key, KeyState, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    #[serde(default)]
    pub pending_window_in_days: Option<u32>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_id: String,
    /// Absent while a multi-Region primary key waits for its replicas' deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<f64>,
    pub key_state: String,
    pub pending_window_in_days: u32,
}

/// The operation.
pub struct ScheduleKeyDeletion;

impl Operation for ScheduleKeyDeletion {
    const NAME: &'static str = "ScheduleKeyDeletion";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        match r.pending_window_in_days {
            Some(days) => json!({ "pendingWindowInDays": days, "keyId": r.key_id }),
            None => json!({ "keyId": r.key_id }),
        }
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(
            state,
            region,
            caller,
            &r.key_id,
            "kms:ScheduleKeyDeletion",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let days = r.pending_window_in_days.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(KmsError::validation(
                &days.to_string(),
                "pendingWindowInDays",
                "Member must have value between 7 and 30",
            ));
        }
        let key = ctx.key(&r.key_id)?;
        if matches!(
            key.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(invalid_state(key, key.state));
        }
        let mut changed = key.clone();
        changed.pending_window_days = Some(days);
        // "KMS will not delete a multi-Region primary key with existing replica keys": it
        // waits, without a deletion date, until the last replica is deleted. Both records
        // log the waiting period, as the API returns it (KMS Developer Guide examples of
        // October 2021; the March 2021 example predates it).
        let waits_for_replicas = key.is_primary() && !replicas_of(ctx.state, key).is_empty();
        let (response_elements, deletion_date) = if waits_for_replicas {
            changed.state = KeyState::PendingReplicaDeletion;
            changed.deletion_date = None;
            (
                json!({
                    "keyId": key.arn,
                    "keyState": "PendingReplicaDeletion",
                    "pendingWindowInDays": days,
                }),
                None,
            )
        } else {
            let deletion = ctx.now + chrono::Duration::days(i64::from(days));
            changed.state = KeyState::PendingDeletion;
            changed.deletion_date = Some(deletion);
            (
                json!({
                    "keyId": key.arn,
                    "keyState": "PendingDeletion",
                    "deletionDate": crate::kms::audit::java_date(deletion),
                    "pendingWindowInDays": days,
                }),
                Some(deletion),
            )
        };
        #[allow(clippy::cast_precision_loss)]
        let deletion_epoch = deletion_date.map(|d| d.timestamp() as f64);
        Ok(Outcome {
            response_elements: Some(response_elements),
            response: Response {
                key_id: key.arn.clone(),
                deletion_date: deletion_epoch,
                key_state: changed.state.as_str().into(),
                pending_window_in_days: days,
            },
            key_material_id: None,
            additional_event_data: hsm_data(key),
            changes: vec![Change::PutKey(Box::new(changed))],
        })
    }
}

/// `additionalEventData` of scheduling the deletion of a key in a CloudHSM key store (KMS
/// Developer Guide example): the store, its cluster, and the backing keys as JSON text.
fn hsm_data(key: &Key) -> Option<Value> {
    let hsm = key.hsm.as_ref()?;
    Some(json!({
        "customKeyStoreId": hsm.custom_key_store_id,
        "clusterId": hsm.cloud_hsm_cluster_id,
        "backingKeys": Value::Array(backing_keys(key)).to_string(),
    }))
}
