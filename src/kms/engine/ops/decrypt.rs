//! `Decrypt`: ciphertext from `Encrypt` (or a data key), under whichever material of the
//! key it names — old material included, so ciphertext outlives rotations; for a
//! multi-Region key, with the related key of the Region called — or RSA-OAEP ciphertext
//! under the asymmetric key the request's `KeyId` names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::kms::crypto::{self, EncryptionAlgorithm, KeyUsage};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::KeyRef;
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::{current, from_crypto};
use crate::kms::engine::ops::encrypt::{algorithm, SYMMETRIC_DEFAULT};
use crate::kms::engine::ops::usable;
use crate::kms::engine::state::{Generation, Key, State};
use crate::kms::engine::{resolve, Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub ciphertext_blob: Blob,
    #[serde(default)]
    pub encryption_context: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub encryption_algorithm: Option<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_id: String,
    pub plaintext: Blob,
    pub encryption_algorithm: String,
    pub key_material_id: String,
}

/// The operation.
pub struct Decrypt;

/// The key ARN a ciphertext belongs to: the one its `SYMMETRIC_DEFAULT` blob names (checked
/// against the `KeyId` the caller sent, if any), or the `KeyId` itself for asymmetric keys
/// and algorithms, whose raw ciphertext names no key. Shared by `Decrypt` and `ReEncrypt`.
pub fn source_key(
    state: &State,
    region: &str,
    caller: &Caller,
    blob: &[u8],
    key_id: Option<&str>,
    encryption_algorithm: Option<&str>,
    member: &str,
) -> Result<String, KmsError> {
    let algorithm = algorithm(encryption_algorithm, member)?;
    let named = key_id
        .map(|id| resolve(state, region, &caller.account, id))
        .transpose()?;
    if let Some(named) = &named {
        let asymmetric = state
            .keys
            .get(named)
            .is_some_and(|k| k.spec.is_asymmetric());
        if asymmetric || algorithm != EncryptionAlgorithm::SymmetricDefault {
            return Ok(named.clone());
        }
    } else if algorithm != EncryptionAlgorithm::SymmetricDefault {
        return Err(KmsError::new(
            KmsErrorKind::Validation,
            format!("A KeyId is required to decrypt with {algorithm}."),
        ));
    }
    let header = crypto::parse_blob(blob).map_err(|_| {
        KmsError::new(
            KmsErrorKind::InvalidCiphertext,
            "The ciphertext is invalid.",
        )
    })?;
    let blob_key = in_region(&header.key_id, region);
    if let Some(named) = named {
        if named != blob_key {
            return Err(KmsError::new(
                KmsErrorKind::IncorrectKey,
                "The key ID in the request does not identify a CMK that can perform this operation.",
            ));
        }
    }
    Ok(blob_key)
}

/// The key a blob made under `key_arn` is decrypted with in `region`: for a multi-Region
/// key, the related key of that Region (related keys share key material, so ciphertext of
/// one decrypts with any other, in its own Region); otherwise `key_arn` itself.
fn in_region(key_arn: &str, region: &str) -> String {
    match KeyRef::parse(key_arn) {
        Ok(KeyRef::KeyArn {
            region: blob_region,
            account,
            id,
        }) if id.starts_with("mrk-") && blob_region != region => {
            crate::kms::engine::ids::key_arn(region, &account, &id)
        }
        _ => key_arn.to_owned(),
    }
}

/// Decrypts `blob` with `key` (already checked usable): a `SYMMETRIC_DEFAULT` blob under the
/// material its header names with `context`, or RSA-OAEP ciphertext under the key's material.
/// Returns the plaintext and the material used. Shared by `Decrypt` and `ReEncrypt`.
pub fn open<'k>(
    key: &'k Key,
    algorithm: EncryptionAlgorithm,
    blob: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<(Zeroizing<Vec<u8>>, &'k Generation), KmsError> {
    if key.spec.is_asymmetric() || algorithm != EncryptionAlgorithm::SymmetricDefault {
        if key.usage != KeyUsage::EncryptDecrypt
            || !key
                .spec
                .encryption_algorithms(key.usage)
                .contains(&algorithm)
        {
            return Err(KmsError::new(
                KmsErrorKind::InvalidKeyUsage,
                format!(
                    "{} key usage is {} and spec {}, which does not support {algorithm}",
                    key.arn,
                    key.usage.as_str(),
                    key.spec.as_str()
                ),
            ));
        }
        if !context.is_empty() {
            return Err(KmsError::new(
                KmsErrorKind::Validation,
                "EncryptionContext is not supported with asymmetric KMS keys.",
            ));
        }
        let generation = current(key)?;
        let plaintext =
            crypto::rsa_decrypt(&generation.material, algorithm, blob).map_err(from_crypto)?;
        return Ok((plaintext, generation));
    }
    let header = crypto::parse_blob(blob).map_err(|_| {
        KmsError::new(
            KmsErrorKind::InvalidCiphertext,
            "The ciphertext is invalid.",
        )
    })?;
    let generation = key
        .generations
        .iter()
        .find(|g| g.material.id() == header.material_id)
        .ok_or_else(|| {
            KmsError::new(
                KmsErrorKind::InvalidCiphertext,
                "The ciphertext refers to key material that is not available.",
            )
        })?;
    let plaintext = crypto::decrypt(&generation.material, blob, context)
        .map_err(|_| KmsError::new(KmsErrorKind::InvalidCiphertext, ""))?;
    Ok((plaintext, generation))
}

fn key_of(state: &State, region: &str, caller: &Caller, r: &Request) -> Result<String, KmsError> {
    source_key(
        state,
        region,
        caller,
        r.ciphertext_blob.bytes(),
        r.key_id.as_deref(),
        r.encryption_algorithm.as_deref(),
        "encryptionAlgorithm",
    )
}

impl Operation for Decrypt {
    const NAME: &'static str = "Decrypt";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        // KMS always logs the algorithm; keyId only when the caller sent it.
        let mut p = json!({ "encryptionAlgorithm": r.encryption_algorithm.as_deref().unwrap_or(SYMMETRIC_DEFAULT) });
        if let Some(map) = p.as_object_mut() {
            if let Some(context) = &r.encryption_context {
                map.insert("encryptionContext".into(), json!(context));
            }
            if let Some(key_id) = &r.key_id {
                map.insert("keyId".into(), json!(key_id));
            }
        }
        p
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        Ok(vec![Authorization {
            action: "kms:Decrypt".into(),
            key_arn: key_of(state, region, caller, r)?,
            encryption_context: r.encryption_context.clone().unwrap_or_default(),
            condition_keys: BTreeMap::new(),
        }])
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let arn = key_of(ctx.state, ctx.region, ctx.caller, &r)?;
        let key = ctx
            .state
            .keys
            .get(&arn)
            .ok_or_else(|| KmsError::key_not_found(&arn))?;
        usable(key)?;
        let algorithm = algorithm(r.encryption_algorithm.as_deref(), "encryptionAlgorithm")?;
        let context = r.encryption_context.clone().unwrap_or_default();
        let (plaintext, generation) = open(key, algorithm, r.ciphertext_blob.bytes(), &context)?;
        Ok(Outcome {
            response: Response {
                key_id: key.arn.clone(),
                plaintext: Blob(plaintext),
                encryption_algorithm: algorithm.as_str().to_owned(),
                key_material_id: generation.material.id().to_owned(),
            },
            response_elements: None,
            key_material_id: Some(generation.material.id().to_owned()),
            additional_event_data: None,
            changes: Vec::new(),
        })
    }
}
