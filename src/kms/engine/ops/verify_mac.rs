//! `VerifyMac`: checks an HMAC in constant time. A MAC that does not match is
//! `KMSInvalidMacException` (audited as a failed call), never `false`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kms::crypto;
use crate::kms::engine::error::KmsError;
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::{check_length, from_crypto};
use crate::kms::engine::ops::generate_mac::{parameters, prepare};
use crate::kms::engine::ops::on_key;
use crate::kms::engine::state::State;
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub message: Blob,
    pub key_id: String,
    pub mac_algorithm: String,
    pub mac: Blob,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_id: String,
    pub mac_valid: bool,
    pub mac_algorithm: String,
}

/// The operation.
pub struct VerifyMac;

impl Operation for VerifyMac {
    const NAME: &'static str = "VerifyMac";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        parameters(&r.key_id, &r.mac_algorithm)
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(state, region, caller, &r.key_id, "kms:VerifyMac", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        check_length(r.mac.bytes().len(), "mac", 1, 6144)?;
        let (algorithm, generation) =
            prepare(key, r.message.bytes(), &r.mac_algorithm, Self::NAME)?;
        crypto::verify_mac(
            &generation.material,
            algorithm,
            r.message.bytes(),
            r.mac.bytes(),
        )
        .map_err(from_crypto)?;
        Ok(Outcome {
            response: Response {
                key_id: key.arn.clone(),
                mac_valid: true,
                mac_algorithm: algorithm.as_str().to_owned(),
            },
            changes: Vec::new(),
            response_elements: None,
            key_material_id: Some(generation.material.id().to_owned()),
            additional_event_data: None,
        })
    }
}
