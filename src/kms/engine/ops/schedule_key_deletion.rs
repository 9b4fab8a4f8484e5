//! `ScheduleKeyDeletion`: the key becomes `PendingDeletion` for 7–30 days (default 30), then
//! the engine deletes it (a `DeleteKey` service event).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::on_key;
use crate::kms::engine::state::{Change, KeyState, State};
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
    pub deletion_date: f64,
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
        if key.state == KeyState::PendingDeletion {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending deletion.", key.arn),
            ));
        }
        let deletion = ctx.now + chrono::Duration::days(i64::from(days));
        let mut changed = key.clone();
        changed.state = KeyState::PendingDeletion;
        changed.deletion_date = Some(deletion);
        changed.pending_window_days = Some(days);
        #[allow(clippy::cast_precision_loss)]
        let deletion_epoch = deletion.timestamp() as f64;
        Ok(Outcome {
            response_elements: Some(json!({
                "keyId": key.arn,
                "keyState": "PendingDeletion",
                "deletionDate": crate::kms::audit::java_date(deletion),
            })),
            response: Response {
                key_id: key.arn.clone(),
                deletion_date: deletion_epoch,
                key_state: "PendingDeletion".into(),
                pending_window_in_days: days,
            },
            key_material_id: None,
            changes: vec![Change::PutKey(Box::new(changed))],
        })
    }
}
