//! `CancelKeyDeletion`: a key pending deletion becomes `Disabled` again.

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
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_id: String,
}

/// The operation.
pub struct CancelKeyDeletion;

impl Operation for CancelKeyDeletion {
    const NAME: &'static str = "CancelKeyDeletion";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        json!({ "keyId": r.key_id })
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
            "kms:CancelKeyDeletion",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        if !matches!(
            key.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is not pending deletion.", key.arn),
            ));
        }
        let mut changed = key.clone();
        changed.state = KeyState::Disabled;
        changed.deletion_date = None;
        changed.pending_window_days = None;
        Ok(Outcome {
            response: Response {
                key_id: key.arn.clone(),
            },
            response_elements: Some(json!({ "keyId": key.arn })),
            key_material_id: None,
            additional_event_data: None,
            changes: vec![Change::PutKey(Box::new(changed))],
        })
    }
}
