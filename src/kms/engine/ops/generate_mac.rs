//! `GenerateMac`: the HMAC of a message (1–4096 bytes) with an HMAC key.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{self, KeyUsage, MacAlgorithm};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::{
    check_length, current, from_crypto, parse_enum, require_usage,
};
use crate::kms::engine::ops::{on_key, usable};
use crate::kms::engine::state::{Generation, Key, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The largest `Message` (botocore `PlaintextType`).
const MAX_MAC_MESSAGE_LEN: usize = 4096;

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub message: Blob,
    pub key_id: String,
    pub mac_algorithm: String,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub mac: Blob,
    pub mac_algorithm: String,
    pub key_id: String,
}

/// The operation.
pub struct GenerateMac;

/// `requestParameters` of `GenerateMac` and `VerifyMac`: keyId and macAlgorithm, never the
/// message or the MAC.
pub fn parameters(key_id: &str, mac_algorithm: &str) -> Value {
    json!({ "keyId": key_id, "macAlgorithm": mac_algorithm })
}

/// What `GenerateMac` and `VerifyMac` check before the cryptography: message length, the
/// algorithm name, the key's state and usage, and that the key spec has the algorithm.
pub fn prepare<'k>(
    key: &'k Key,
    message: &[u8],
    mac_algorithm: &str,
    operation: &str,
) -> Result<(MacAlgorithm, &'k Generation), KmsError> {
    check_length(message.len(), "message", 1, MAX_MAC_MESSAGE_LEN)?;
    let names: Vec<&str> = MacAlgorithm::ALL.iter().map(|a| a.as_str()).collect();
    let algorithm: MacAlgorithm = parse_enum(mac_algorithm, "macAlgorithm", &names)?;
    usable(key)?;
    require_usage(key, KeyUsage::GenerateVerifyMac, operation)?;
    if !key.spec.mac_algorithms(key.usage).contains(&algorithm) {
        return Err(KmsError::new(
            KmsErrorKind::InvalidKeyUsage,
            format!(
                "Algorithm {algorithm} is incompatible with key spec {}.",
                key.spec.as_str()
            ),
        ));
    }
    Ok((algorithm, current(key)?))
}

impl Operation for GenerateMac {
    const NAME: &'static str = "GenerateMac";
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
        on_key(state, region, caller, &r.key_id, "kms:GenerateMac", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        let (algorithm, generation) =
            prepare(key, r.message.bytes(), &r.mac_algorithm, Self::NAME)?;
        let mac = crypto::generate_mac(&generation.material, algorithm, r.message.bytes())
            .map_err(from_crypto)?;
        Ok(Outcome {
            response: Response {
                mac: Blob::new(mac),
                mac_algorithm: algorithm.as_str().to_owned(),
                key_id: key.arn.clone(),
            },
            changes: Vec::new(),
            response_elements: None,
            key_material_id: Some(generation.material.id().to_owned()),
            additional_event_data: None,
        })
    }
}
