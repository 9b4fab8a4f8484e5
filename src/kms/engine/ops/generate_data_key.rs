//! `GenerateDataKey` and `GenerateDataKeyWithoutPlaintext`: a fresh data key (`KeySpec`
//! `AES_256`/`AES_128`, or `NumberOfBytes` 1–1024 — exactly one of them) encrypted under a
//! symmetric key's current material with the encryption context bound.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{self, DataKey, DataKeySpec, KeySpec, KeyUsage, MAX_RANDOM_LEN};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::{current, from_crypto, parse_enum, require_usage};
use crate::kms::engine::ops::{on_key, usable};
use crate::kms::engine::state::State;
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request of both operations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    #[serde(default)]
    pub encryption_context: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub number_of_bytes: Option<i64>,
    #[serde(default)]
    pub key_spec: Option<String>,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

/// The response of `GenerateDataKey`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub ciphertext_blob: Blob,
    pub plaintext: Blob,
    pub key_id: String,
    pub key_material_id: String,
}

/// The response of `GenerateDataKeyWithoutPlaintext`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WithoutPlaintextResponse {
    pub ciphertext_blob: Blob,
    pub key_id: String,
    pub key_material_id: String,
}

/// `GenerateDataKey`.
pub struct GenerateDataKey;

/// `GenerateDataKeyWithoutPlaintext`.
pub struct GenerateDataKeyWithoutPlaintext;

/// `requestParameters`: keyId, keySpec or numberOfBytes as sent, encryptionContext if sent.
fn parameters(r: &Request) -> Value {
    let mut p = json!({ "keyId": r.key_id });
    if let Some(map) = p.as_object_mut() {
        if let Some(spec) = &r.key_spec {
            map.insert("keySpec".into(), json!(spec));
        }
        if let Some(n) = r.number_of_bytes {
            map.insert("numberOfBytes".into(), json!(n));
        }
        if let Some(context) = &r.encryption_context {
            map.insert("encryptionContext".into(), json!(context));
        }
    }
    p
}

/// The data key length the request asks for.
fn length(r: &Request) -> Result<usize, KmsError> {
    match (&r.key_spec, r.number_of_bytes) {
        (Some(spec), None) => {
            let names: Vec<&str> = DataKeySpec::ALL.iter().map(|s| s.as_str()).collect();
            parse_enum::<DataKeySpec>(spec, "keySpec", &names).map(DataKeySpec::key_len)
        }
        (None, Some(n)) if n < 1 => Err(KmsError::validation(
            &n.to_string(),
            "numberOfBytes",
            "Member must have value greater than or equal to 1",
        )),
        (None, Some(n)) => usize::try_from(n)
            .ok()
            .filter(|n| *n <= MAX_RANDOM_LEN)
            .ok_or_else(|| {
                KmsError::validation(
                    &n.to_string(),
                    "numberOfBytes",
                    "Member must have value less than or equal to 1024",
                )
            }),
        _ => Err(KmsError::new(
            KmsErrorKind::Validation,
            "Please specify either number of bytes or key spec.",
        )),
    }
}

/// Validates the request and generates the data key, returning it with the key ARN and the
/// key material id.
fn generate(
    ctx: &mut Context<'_>,
    r: &Request,
    operation: &str,
) -> Result<(DataKey, String, String), KmsError> {
    let len = length(r)?;
    let key = ctx.key(&r.key_id)?;
    usable(key)?;
    require_usage(key, KeyUsage::EncryptDecrypt, operation)?;
    if key.spec != KeySpec::SymmetricDefault {
        return Err(KmsError::new(
            KmsErrorKind::InvalidKeyUsage,
            format!(
                "{} key spec is {} which is not valid for {operation}.",
                key.arn,
                key.spec.as_str()
            ),
        ));
    }
    let generation = current(key)?;
    let context = r.encryption_context.clone().unwrap_or_default();
    let data_key =
        crypto::generate_data_key(&generation.material, &key.arn, len, &context, ctx.rng)
            .map_err(from_crypto)?;
    Ok((
        data_key,
        key.arn.clone(),
        generation.material.id().to_owned(),
    ))
}

impl Operation for GenerateDataKey {
    const NAME: &'static str = "GenerateDataKey";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        parameters(r)
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
            "kms:GenerateDataKey",
            r.encryption_context.as_ref(),
        )
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let (data_key, key_id, material) = generate(ctx, &r, Self::NAME)?;
        Ok(Outcome {
            response: Response {
                ciphertext_blob: Blob::new(data_key.ciphertext_blob),
                plaintext: Blob(data_key.plaintext),
                key_id,
                key_material_id: material.clone(),
            },
            changes: Vec::new(),
            response_elements: None,
            key_material_id: Some(material),
            additional_event_data: None,
        })
    }
}

impl Operation for GenerateDataKeyWithoutPlaintext {
    const NAME: &'static str = "GenerateDataKeyWithoutPlaintext";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = WithoutPlaintextResponse;

    fn request_parameters(r: &Request) -> Value {
        parameters(r)
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
            "kms:GenerateDataKeyWithoutPlaintext",
            r.encryption_context.as_ref(),
        )
    }

    fn run(
        ctx: &mut Context<'_>,
        r: Request,
    ) -> Result<Outcome<WithoutPlaintextResponse>, KmsError> {
        let (data_key, key_id, material) = generate(ctx, &r, Self::NAME)?;
        Ok(Outcome {
            response: WithoutPlaintextResponse {
                ciphertext_blob: Blob::new(data_key.ciphertext_blob),
                key_id,
                key_material_id: material.clone(),
            },
            changes: Vec::new(),
            response_elements: None,
            key_material_id: Some(material),
            additional_event_data: None,
        })
    }
}
