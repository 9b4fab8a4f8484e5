//! `GetPublicKey`: the DER `SubjectPublicKeyInfo` of an asymmetric key, with what it may be
//! used for, so callers can encrypt or verify outside KMS.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::current;
use crate::kms::engine::ops::{on_key, usable};
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
    pub key_id: String,
    pub public_key: Blob,
    pub customer_master_key_spec: String,
    pub key_spec: String,
    pub key_usage: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_algorithms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_algorithms: Vec<String>,
}

/// The operation.
pub struct GetPublicKey;

impl Operation for GetPublicKey {
    const NAME: &'static str = "GetPublicKey";
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
        on_key(state, region, caller, &r.key_id, "kms:GetPublicKey", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        usable(key)?;
        let unsupported = || {
            KmsError::new(
                KmsErrorKind::UnsupportedOperation,
                format!(
                    "{} key spec {} has no public key.",
                    key.arn,
                    key.spec.as_str()
                ),
            )
        };
        if !key.spec.is_asymmetric() {
            return Err(unsupported());
        }
        let public_key = current(key)?
            .material
            .public_key_der()
            .ok_or_else(unsupported)?
            .to_vec();
        Ok(Outcome::respond(Response {
            key_id: key.arn.clone(),
            public_key: Blob::new(public_key),
            customer_master_key_spec: key.spec.as_str().to_owned(),
            key_spec: key.spec.as_str().to_owned(),
            key_usage: key.usage.as_str().to_owned(),
            encryption_algorithms: key
                .spec
                .encryption_algorithms(key.usage)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            signing_algorithms: key
                .spec
                .signing_algorithms(key.usage)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
        }))
    }
}
