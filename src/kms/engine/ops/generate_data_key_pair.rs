//! `GenerateDataKeyPair` and `GenerateDataKeyPairWithoutPlaintext`: a fresh RSA or ECC key
//! pair whose private key is encrypted under a symmetric key's current material.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{self, DataKeyPair, DataKeyPairSpec, KeySpec, KeyUsage};
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
    pub key_pair_spec: String,
    #[serde(default)]
    pub encryption_context: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

/// The response of `GenerateDataKeyPair`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub private_key_ciphertext_blob: Blob,
    pub private_key_plaintext: Blob,
    pub public_key: Blob,
    pub key_id: String,
    pub key_pair_spec: String,
    pub key_material_id: String,
}

/// The response of `GenerateDataKeyPairWithoutPlaintext`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WithoutPlaintextResponse {
    pub private_key_ciphertext_blob: Blob,
    pub public_key: Blob,
    pub key_id: String,
    pub key_pair_spec: String,
    pub key_material_id: String,
}

/// `GenerateDataKeyPair`.
pub struct GenerateDataKeyPair;

/// `GenerateDataKeyPairWithoutPlaintext`.
pub struct GenerateDataKeyPairWithoutPlaintext;

/// `requestParameters`: keyId, keyPairSpec, encryptionContext if sent.
fn parameters(r: &Request) -> Value {
    let mut p = json!({ "keyId": r.key_id, "keyPairSpec": r.key_pair_spec });
    if let (Some(map), Some(context)) = (p.as_object_mut(), &r.encryption_context) {
        map.insert("encryptionContext".into(), json!(context));
    }
    p
}

/// Validates the request and generates the pair, returning it with the key ARN, the spec
/// and the key material id.
fn generate(
    ctx: &mut Context<'_>,
    r: &Request,
    operation: &str,
) -> Result<(DataKeyPair, String, DataKeyPairSpec, String), KmsError> {
    let names: Vec<&str> = DataKeyPairSpec::ALL.iter().map(|s| s.as_str()).collect();
    let spec: DataKeyPairSpec = parse_enum(&r.key_pair_spec, "keyPairSpec", &names)?;
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
    let pair =
        crypto::generate_data_key_pair(&generation.material, &key.arn, spec, &context, ctx.rng)
            .map_err(from_crypto)?;
    Ok((
        pair,
        key.arn.clone(),
        spec,
        generation.material.id().to_owned(),
    ))
}

impl Operation for GenerateDataKeyPair {
    const NAME: &'static str = "GenerateDataKeyPair";
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
            "kms:GenerateDataKeyPair",
            r.encryption_context.as_ref(),
        )
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let (pair, key_id, spec, material) = generate(ctx, &r, Self::NAME)?;
        Ok(Outcome {
            response: Response {
                private_key_ciphertext_blob: Blob::new(pair.private_key_ciphertext_blob),
                private_key_plaintext: Blob(pair.private_key_plaintext),
                public_key: Blob::new(pair.public_key),
                key_id,
                key_pair_spec: spec.as_str().to_owned(),
                key_material_id: material.clone(),
            },
            changes: Vec::new(),
            response_elements: None,
            key_material_id: Some(material),
            additional_event_data: None,
        })
    }
}

impl Operation for GenerateDataKeyPairWithoutPlaintext {
    const NAME: &'static str = "GenerateDataKeyPairWithoutPlaintext";
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
            "kms:GenerateDataKeyPairWithoutPlaintext",
            r.encryption_context.as_ref(),
        )
    }

    fn run(
        ctx: &mut Context<'_>,
        r: Request,
    ) -> Result<Outcome<WithoutPlaintextResponse>, KmsError> {
        let (pair, key_id, spec, material) = generate(ctx, &r, Self::NAME)?;
        Ok(Outcome {
            response: WithoutPlaintextResponse {
                private_key_ciphertext_blob: Blob::new(pair.private_key_ciphertext_blob),
                public_key: Blob::new(pair.public_key),
                key_id,
                key_pair_spec: spec.as_str().to_owned(),
                key_material_id: material.clone(),
            },
            changes: Vec::new(),
            response_elements: None,
            key_material_id: Some(material),
            additional_event_data: None,
        })
    }
}
