//! `UpdateKeyDescription`: replaces a key's description (0–8192 characters). Not allowed
//! while the key is pending deletion.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::key_id::on_key_by_id;
use crate::kms::engine::state::{KeyState, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    pub description: String,
}

/// The (empty) response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Response {}

/// The operation.
pub struct UpdateKeyDescription;

impl Operation for UpdateKeyDescription {
    const NAME: &'static str = "UpdateKeyDescription";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        json!({ "keyId": r.key_id, "description": r.description })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key_by_id(state, region, caller, &r.key_id, "kms:UpdateKeyDescription")
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        if r.description.chars().count() > 8192 {
            return Err(KmsError::validation(
                "…",
                "description",
                "Member must have length less than or equal to 8192",
            ));
        }
        let key = ctx.key(&r.key_id)?;
        if key.state == KeyState::PendingDeletion {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending deletion.", key.arn),
            ));
        }
        let mut changed = key.clone();
        changed.description = r.description;
        Ok(Outcome::key_updated(Response {}, key, changed))
    }
}
