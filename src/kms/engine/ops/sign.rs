//! `Sign`: an RSA or ECDSA signature of a `RAW` message (hashed by KMS) or a `DIGEST` with an
//! asymmetric `SIGN_VERIFY` key.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{self, KeyUsage, MessageType, SigningAlgorithm, MAX_MESSAGE_LEN};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::{
    check_length, current, from_crypto, parse_enum, require_usage,
};
use crate::kms::engine::ops::{on_key, usable};
use crate::kms::engine::state::{Generation, Key, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    pub message: Blob,
    #[serde(default)]
    pub message_type: Option<String>,
    pub signing_algorithm: String,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_id: String,
    pub signature: Blob,
    pub signing_algorithm: String,
}

/// The operation.
pub struct Sign;

/// `requestParameters` of `Sign` and `Verify`: keyId, messageType (`RAW` when not sent, as
/// KMS defaults it), signingAlgorithm — never the message or the signature.
pub fn parameters(key_id: &str, message_type: Option<&str>, signing_algorithm: &str) -> Value {
    json!({
        "keyId": key_id,
        "messageType": message_type.unwrap_or("RAW"),
        "signingAlgorithm": signing_algorithm,
    })
}

/// What `Sign` and `Verify` check before the cryptography: the message length, the enums,
/// the key's state and usage, and that the key spec supports the algorithm. Returns the
/// parsed values with the current material.
pub fn prepare<'k>(
    key: &'k Key,
    message: &[u8],
    message_type: Option<&str>,
    signing_algorithm: &str,
    operation: &str,
) -> Result<(MessageType, SigningAlgorithm, &'k Generation), KmsError> {
    check_length(message.len(), "message", 1, MAX_MESSAGE_LEN)?;
    let types: Vec<&str> = MessageType::ALL.iter().map(|t| t.as_str()).collect();
    let message_type: MessageType =
        parse_enum(message_type.unwrap_or("RAW"), "messageType", &types)?;
    let algorithms: Vec<&str> = SigningAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    let algorithm: SigningAlgorithm =
        parse_enum(signing_algorithm, "signingAlgorithm", &algorithms)?;
    usable(key)?;
    require_usage(key, KeyUsage::SignVerify, operation)?;
    if !key.spec.signing_algorithms(key.usage).contains(&algorithm) {
        return Err(KmsError::new(
            KmsErrorKind::InvalidKeyUsage,
            format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                key.spec.as_str()
            ),
        ));
    }
    Ok((message_type, algorithm, current(key)?))
}

impl Operation for Sign {
    const NAME: &'static str = "Sign";
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
        on_key(state, region, caller, &r.key_id, "kms:Sign", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        let (message_type, algorithm, generation) = prepare(
            key,
            r.message.bytes(),
            r.message_type.as_deref(),
            &r.signing_algorithm,
            Self::NAME,
        )?;
        let signature = crypto::sign(
            &generation.material,
            algorithm,
            message_type,
            r.message.bytes(),
        )
        .map_err(from_crypto)?;
        Ok(Outcome {
            response: Response {
                key_id: key.arn.clone(),
                signature: Blob::new(signature),
                signing_algorithm: algorithm.as_str().to_owned(),
            },
            changes: Vec::new(),
            response_elements: None,
            key_material_id: Some(generation.material.id().to_owned()),
            additional_event_data: None,
        })
    }
}
