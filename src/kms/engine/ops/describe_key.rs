//! `DescribeKey`: a key's metadata.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::KmsError;
use crate::kms::engine::ops::{on_key, KeyMetadata};
use crate::kms::engine::state::State;
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_metadata: KeyMetadata,
}

/// The operation.
pub struct DescribeKey;

impl Operation for DescribeKey {
    const NAME: &'static str = "DescribeKey";
    const READ_ONLY: bool = true;
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
        on_key(state, region, caller, &r.key_id, "kms:DescribeKey", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        Ok(Outcome::respond(Response {
            key_metadata: KeyMetadata::in_state(key, ctx.state),
        }))
    }
}
