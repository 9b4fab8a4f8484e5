//! `Verify`: checks a signature with an asymmetric `SIGN_VERIFY` key. A signature that does
//! not verify is `KMSInvalidSignatureException` (audited as a failed call), never `false`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kms::crypto;
use crate::kms::engine::error::KmsError;
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::{check_length, from_crypto};
use crate::kms::engine::ops::on_key;
use crate::kms::engine::ops::sign::{parameters, prepare};
use crate::kms::engine::state::State;
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The largest signature KMS accepts (botocore `CiphertextType`).
const MAX_SIGNATURE_LEN: usize = 6144;

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    pub message: Blob,
    #[serde(default)]
    pub message_type: Option<String>,
    pub signature: Blob,
    pub signing_algorithm: String,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_id: String,
    pub signature_valid: bool,
    pub signing_algorithm: String,
}

/// The operation.
pub struct Verify;

impl Operation for Verify {
    const NAME: &'static str = "Verify";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        parameters(&r.key_id, r.message_type.as_deref(), &r.signing_algorithm)
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(state, region, caller, &r.key_id, "kms:Verify", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        check_length(r.signature.bytes().len(), "signature", 1, MAX_SIGNATURE_LEN)?;
        let (message_type, algorithm, generation) = prepare(
            key,
            r.message.bytes(),
            r.message_type.as_deref(),
            &r.signing_algorithm,
            Self::NAME,
        )?;
        crypto::verify(
            &generation.material,
            algorithm,
            message_type,
            r.message.bytes(),
            r.signature.bytes(),
        )
        .map_err(from_crypto)?;
        Ok(Outcome {
            response: Response {
                key_id: key.arn.clone(),
                signature_valid: true,
                signing_algorithm: algorithm.as_str().to_owned(),
            },
            changes: Vec::new(),
            response_elements: None,
            key_material_id: Some(generation.material.id().to_owned()),
            additional_event_data: None,
        })
    }
}
