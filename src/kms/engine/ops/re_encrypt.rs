//! `ReEncrypt`: decrypts ciphertext under its source key and encrypts the plaintext under a
//! destination key without returning it, authorized by `kms:ReEncryptFrom` on the source
//! and `kms:ReEncryptTo` on the destination.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::KmsError;
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::decrypt::{open, source_key};
use crate::kms::engine::ops::encrypt::{algorithm, seal, SYMMETRIC_DEFAULT};
use crate::kms::engine::ops::usable;
use crate::kms::engine::state::State;
use crate::kms::engine::{resolve, Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub ciphertext_blob: Blob,
    #[serde(default)]
    pub source_encryption_context: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub source_key_id: Option<String>,
    pub destination_key_id: String,
    #[serde(default)]
    pub destination_encryption_context: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub source_encryption_algorithm: Option<String>,
    #[serde(default)]
    pub destination_encryption_algorithm: Option<String>,
    #[serde(default)]
    pub grant_tokens: Vec<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub ciphertext_blob: Blob,
    pub source_key_id: String,
    pub key_id: String,
    pub source_encryption_algorithm: String,
    pub destination_encryption_algorithm: String,
    pub source_key_material_id: String,
    pub destination_key_material_id: String,
}

/// The operation.
pub struct ReEncrypt;

fn source(state: &State, region: &str, caller: &Caller, r: &Request) -> Result<String, KmsError> {
    source_key(
        state,
        region,
        caller,
        r.ciphertext_blob.bytes(),
        r.source_key_id.as_deref(),
        r.source_encryption_algorithm.as_deref(),
        "sourceEncryptionAlgorithm",
    )
}

impl Operation for ReEncrypt {
    const NAME: &'static str = "ReEncrypt";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        // As Appendix A: both algorithms always (defaulted), contexts and sourceKeyId only
        // when sent; never the ciphertext.
        let mut p = json!({
            "sourceEncryptionAlgorithm": r.source_encryption_algorithm.as_deref().unwrap_or(SYMMETRIC_DEFAULT),
            "destinationKeyId": r.destination_key_id,
            "destinationEncryptionAlgorithm": r.destination_encryption_algorithm.as_deref().unwrap_or(SYMMETRIC_DEFAULT),
        });
        if let Some(map) = p.as_object_mut() {
            if let Some(context) = &r.source_encryption_context {
                map.insert("sourceEncryptionContext".into(), json!(context));
            }
            if let Some(key_id) = &r.source_key_id {
                map.insert("sourceKeyId".into(), json!(key_id));
            }
            if let Some(context) = &r.destination_encryption_context {
                map.insert("destinationEncryptionContext".into(), json!(context));
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
        let from = source(state, region, caller, r)?;
        let to = resolve(state, region, &caller.account, &r.destination_key_id)?;
        Ok(vec![
            Authorization {
                action: "kms:ReEncryptFrom".into(),
                key_arn: from,
                encryption_context: r.source_encryption_context.clone().unwrap_or_default(),
                condition_keys: BTreeMap::new(),
            },
            Authorization {
                action: "kms:ReEncryptTo".into(),
                key_arn: to,
                encryption_context: r.destination_encryption_context.clone().unwrap_or_default(),
                condition_keys: BTreeMap::new(),
            },
        ])
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let source_algorithm = algorithm(
            r.source_encryption_algorithm.as_deref(),
            "sourceEncryptionAlgorithm",
        )?;
        let destination_algorithm = algorithm(
            r.destination_encryption_algorithm.as_deref(),
            "destinationEncryptionAlgorithm",
        )?;
        let from_arn = source(ctx.state, ctx.region, ctx.caller, &r)?;
        let from = ctx
            .state
            .keys
            .get(&from_arn)
            .ok_or_else(|| KmsError::key_not_found(&from_arn))?;
        let to = ctx.key(&r.destination_key_id)?;
        usable(from)?;
        usable(to)?;
        let source_context = r.source_encryption_context.clone().unwrap_or_default();
        let (plaintext, source_generation) = open(
            from,
            source_algorithm,
            r.ciphertext_blob.bytes(),
            &source_context,
        )?;
        let destination_context = r.destination_encryption_context.clone().unwrap_or_default();
        let (ciphertext, destination_generation) = seal(
            to,
            destination_algorithm,
            &plaintext,
            &destination_context,
            ctx.rng,
        )?;
        let destination_material = destination_generation.material.id().to_owned();
        Ok(Outcome {
            response: Response {
                ciphertext_blob: Blob::new(ciphertext),
                source_key_id: from.arn.clone(),
                key_id: to.arn.clone(),
                source_encryption_algorithm: source_algorithm.as_str().to_owned(),
                destination_encryption_algorithm: destination_algorithm.as_str().to_owned(),
                source_key_material_id: source_generation.material.id().to_owned(),
                destination_key_material_id: destination_material.clone(),
            },
            changes: Vec::new(),
            response_elements: None,
            // One id fits the record: the material of the ciphertext ReEncrypt produced.
            key_material_id: Some(destination_material),
            additional_event_data: None,
        })
    }
}
