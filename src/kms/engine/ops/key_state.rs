//! `EnableKey` and `DisableKey`: turn a key on or off. Neither returns anything; CloudTrail
//! records the key ARN in `responseElements` (the December 2022 rule).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::KmsError;
use crate::kms::engine::ops::{invalid_state, on_key};
use crate::kms::engine::state::{KeyState, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request of both operations.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
}

/// The (empty) response of both operations.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Response {}

/// `EnableKey`.
pub struct EnableKey;
/// `DisableKey`.
pub struct DisableKey;

fn set_state(ctx: &Context<'_>, key_id: &str, enable: bool) -> Result<Outcome<Response>, KmsError> {
    let key = ctx.key(key_id)?;
    match key.state {
        KeyState::Enabled | KeyState::Disabled => {}
        other => return Err(invalid_state(key, other)),
    }
    let mut changed = key.clone();
    changed.state = if enable {
        KeyState::Enabled
    } else {
        KeyState::Disabled
    };
    Ok(Outcome::key_updated(Response {}, key, changed))
}

impl Operation for EnableKey {
    const NAME: &'static str = "EnableKey";
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
        on_key(state, region, caller, &r.key_id, "kms:EnableKey", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        set_state(ctx, &r.key_id, true)
    }
}

impl Operation for DisableKey {
    const NAME: &'static str = "DisableKey";
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
        on_key(state, region, caller, &r.key_id, "kms:DisableKey", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        set_state(ctx, &r.key_id, false)
    }
}
