//! `Encrypt`: up to 4 KiB of plaintext under a symmetric key's current material, with the
//! encryption context bound as authenticated data, or a short plaintext under an RSA
//! `ENCRYPT_DECRYPT` key with `RSAES_OAEP_SHA_1`/`RSAES_OAEP_SHA_256`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{self, EncryptionAlgorithm};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::{current, from_crypto, parse_enum};
use crate::kms::engine::ops::{on_key, usable};
use crate::kms::engine::state::{Generation, Key, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    pub plaintext: Blob,
    #[serde(default)]
    pub encryption_context: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
    #[serde(default)]
    pub encryption_algorithm: Option<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub ciphertext_blob: Blob,
    pub key_id: String,
    pub encryption_algorithm: String,
}

/// The operation.
pub struct Encrypt;

/// The algorithm of symmetric keys.
pub const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";

impl Operation for Encrypt {
    const NAME: &'static str = "Encrypt";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        let mut p = json!({
            "keyId": r.key_id,
            "encryptionAlgorithm": r.encryption_algorithm.as_deref().unwrap_or(SYMMETRIC_DEFAULT),
        });
        if let (Some(map), Some(context)) = (p.as_object_mut(), &r.encryption_context) {
            map.insert("encryptionContext".into(), json!(context));
        }
        p
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
            "kms:Encrypt",
            r.encryption_context.as_ref(),
        )
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let plaintext = r.plaintext.bytes();
        if plaintext.is_empty() || plaintext.len() > 4096 {
            return Err(KmsError::validation(
                "…",
                "plaintext",
                "Member must have length between 1 and 4096",
            ));
        }
        let algorithm = algorithm(r.encryption_algorithm.as_deref(), "encryptionAlgorithm")?;
        let key = ctx.key(&r.key_id)?;
        usable(key)?;
        let context = r.encryption_context.clone().unwrap_or_default();
        let (ciphertext, generation) = seal(key, algorithm, plaintext, &context, ctx.rng)?;
        Ok(Outcome {
            response: Response {
                ciphertext_blob: Blob::new(ciphertext),
                key_id: key.arn.clone(),
                encryption_algorithm: algorithm.as_str().to_owned(),
            },
            response_elements: None,
            key_material_id: Some(generation.material.id().to_owned()),
            additional_event_data: None,
            changes: Vec::new(),
        })
    }
}

/// Parses an `EncryptionAlgorithm` member (`SYMMETRIC_DEFAULT` when absent).
pub fn algorithm(text: Option<&str>, member: &str) -> Result<EncryptionAlgorithm, KmsError> {
    match text {
        None => Ok(EncryptionAlgorithm::SymmetricDefault),
        Some(text) => parse_enum(
            text,
            member,
            &EncryptionAlgorithm::ALL
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>(),
        ),
    }
}

/// Encrypts `plaintext` under the current material of `key` (already checked usable) with
/// `algorithm`: a `SYMMETRIC_DEFAULT` blob binding `context`, or raw RSA-OAEP ciphertext
/// (asymmetric keys take no encryption context). Shared by `Encrypt` and `ReEncrypt`.
pub fn seal<'k>(
    key: &'k Key,
    algorithm: EncryptionAlgorithm,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
    rng: &mut rand_chacha::ChaCha20Rng,
) -> Result<(Vec<u8>, &'k Generation), KmsError> {
    if key.usage != crypto::KeyUsage::EncryptDecrypt
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
    let generation = current(key)?;
    let ciphertext = if algorithm == EncryptionAlgorithm::SymmetricDefault {
        crypto::encrypt(&generation.material, &key.arn, plaintext, context, rng)
            .map_err(|err| KmsError::new(KmsErrorKind::Internal, err.to_string()))?
    } else {
        if !context.is_empty() {
            return Err(KmsError::new(
                KmsErrorKind::Validation,
                "EncryptionContext is not supported with asymmetric KMS keys.",
            ));
        }
        crypto::rsa_encrypt(&generation.material, algorithm, plaintext).map_err(from_crypto)?
    };
    Ok((ciphertext, generation))
}
