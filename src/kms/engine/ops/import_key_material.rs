//! Imported key material for keys of origin `EXTERNAL`: `GetParametersForImport` (a wrapping
//! public key and an import token, valid 24 hours), `ImportKeyMaterial` (the wrapped material,
//! optionally expiring at `ValidTo`, when the engine's lifecycle deletes it) and
//! `DeleteImportedKeyMaterial` (the key goes back to `PendingImport`).
//!
//! `ImportKeyMaterial` takes the 2025 members: `ImportType` (`NEW_KEY_MATERIAL` for material
//! the key never had — on a single-Region symmetric key that has material it waits as
//! `PENDING_ROTATION` for `RotateKeyOnDemand`; `EXISTING_KEY_MATERIAL` to re-import; the
//! default is `NEW_KEY_MATERIAL` before the first import and `EXISTING_KEY_MATERIAL` after),
//! `KeyMaterialId` (re-imports only: the material must be the one with that id) and
//! `KeyMaterialDescription`, and answers with the `KeyMaterialId` of the material, which its
//! CloudTrail record carries in `responseElements`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{
    CryptoError, KeyMaterial, KeySpec, WrappingAlgorithm, WrappingKeyPair, WrappingKeySpec,
};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::multi_region::replicas_of;
use crate::kms::engine::ops::on_key;
use crate::kms::engine::state::{
    Change, Generation, ImportParameters, Key, KeyState, Origin, State,
};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// How long import parameters stay valid.
pub const PARAMETERS_VALID_HOURS: i64 = 24;
/// The latest `ValidTo` KMS accepts, from now.
pub const MAX_VALID_TO_DAYS: i64 = 365;
/// `ExpirationModel` values.
pub const KEY_MATERIAL_EXPIRES: &str = "KEY_MATERIAL_EXPIRES";
/// `ExpirationModel` values.
pub const KEY_MATERIAL_DOES_NOT_EXPIRE: &str = "KEY_MATERIAL_DOES_NOT_EXPIRE";

/// `GetParametersForImport` request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParametersRequest {
    pub key_id: String,
    pub wrapping_algorithm: String,
    pub wrapping_key_spec: String,
}

/// `GetParametersForImport` response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParametersResponse {
    pub key_id: String,
    pub import_token: Blob,
    pub public_key: Blob,
    /// Seconds since the epoch.
    pub parameters_valid_to: f64,
}

/// `ImportKeyMaterial` request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportRequest {
    pub key_id: String,
    pub import_token: Blob,
    pub encrypted_key_material: Blob,
    /// Seconds since the epoch.
    #[serde(default)]
    pub valid_to: Option<f64>,
    #[serde(default)]
    pub expiration_model: Option<String>,
    /// `NEW_KEY_MATERIAL` or `EXISTING_KEY_MATERIAL` (symmetric keys only).
    #[serde(default)]
    pub import_type: Option<String>,
    /// A description of the material (up to 256 characters).
    #[serde(default)]
    pub key_material_description: Option<String>,
    /// The id of the material being re-imported (symmetric keys only).
    #[serde(default)]
    pub key_material_id: Option<String>,
}

/// `ImportKeyMaterial` response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImportResponse {
    /// The key ARN.
    pub key_id: String,
    /// The id of the imported material.
    pub key_material_id: String,
}

/// `NEW_KEY_MATERIAL`.
pub const NEW_KEY_MATERIAL: &str = "NEW_KEY_MATERIAL";
/// `EXISTING_KEY_MATERIAL`.
pub const EXISTING_KEY_MATERIAL: &str = "EXISTING_KEY_MATERIAL";

/// `DeleteImportedKeyMaterial` request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyRequest {
    pub key_id: String,
}

/// Empty response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

/// `GetParametersForImport`.
pub struct GetParametersForImport;
/// `ImportKeyMaterial`.
pub struct ImportKeyMaterial;
/// `DeleteImportedKeyMaterial`.
pub struct DeleteImportedKeyMaterial;

#[allow(clippy::cast_precision_loss)]
fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

fn names(all: &[impl std::fmt::Display]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn external(key: &Key) -> Result<(), KmsError> {
    if key.origin == Origin::External {
        Ok(())
    } else {
        Err(KmsError::new(
            KmsErrorKind::UnsupportedOperation,
            format!(
                "{} origin is {} which is not valid for this operation.",
                key.arn,
                key.origin.as_str()
            ),
        ))
    }
}

fn not_pending_deletion(key: &Key) -> Result<(), KmsError> {
    if key.state == KeyState::PendingDeletion {
        return Err(KmsError::new(
            KmsErrorKind::InvalidState,
            format!("{} is pending deletion.", key.arn),
        ));
    }
    Ok(())
}

fn crypto_error(err: &CryptoError) -> KmsError {
    match err {
        CryptoError::InvalidCiphertext => KmsError::new(
            KmsErrorKind::InvalidCiphertext,
            "The encrypted key material is invalid.",
        ),
        CryptoError::InvalidInput(text) => KmsError::new(KmsErrorKind::Validation, text.clone()),
        other => KmsError::new(KmsErrorKind::Internal, other.to_string()),
    }
}

impl Operation for GetParametersForImport {
    const NAME: &'static str = "GetParametersForImport";
    const READ_ONLY: bool = true;
    type Request = ParametersRequest;
    type Response = ParametersResponse;

    fn request_parameters(r: &ParametersRequest) -> Value {
        json!({ "keyId": r.key_id, "wrappingAlgorithm": r.wrapping_algorithm, "wrappingKeySpec": r.wrapping_key_spec })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &ParametersRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(
            state,
            region,
            caller,
            &r.key_id,
            "kms:GetParametersForImport",
            None,
        )
    }

    fn run(
        ctx: &mut Context<'_>,
        r: ParametersRequest,
    ) -> Result<Outcome<ParametersResponse>, KmsError> {
        let algorithm: WrappingAlgorithm = r.wrapping_algorithm.parse().map_err(|_| {
            KmsError::validation(
                &r.wrapping_algorithm,
                "wrappingAlgorithm",
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    names(WrappingAlgorithm::ALL)
                ),
            )
        })?;
        let spec: WrappingKeySpec = r.wrapping_key_spec.parse().map_err(|_| {
            KmsError::validation(
                &r.wrapping_key_spec,
                "wrappingKeySpec",
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    names(WrappingKeySpec::ALL)
                ),
            )
        })?;
        let key = ctx.key(&r.key_id)?;
        external(key)?;
        not_pending_deletion(key)?;
        let wrapping_key = WrappingKeyPair::generate(spec).map_err(|err| crypto_error(&err))?;
        let mut token = vec![0u8; 64];
        ctx.rng.fill_bytes(&mut token);
        let valid_to = ctx.now + Duration::hours(PARAMETERS_VALID_HOURS);
        let public_key = Blob::new(wrapping_key.public_key_der().to_vec());
        let parameters = ImportParameters {
            key_arn: key.arn.clone(),
            algorithm,
            wrapping_key: Arc::new(wrapping_key),
            valid_to,
        };
        Ok(Outcome {
            response: ParametersResponse {
                key_id: key.arn.clone(),
                import_token: Blob::new(token.clone()),
                public_key,
                parameters_valid_to: epoch(valid_to),
            },
            response_elements: None,
            key_material_id: None,
            additional_event_data: None,
            changes: vec![Change::PutImportParameters {
                token: crate::trail::decode::hex(&token),
                parameters: Box::new(parameters),
            }],
        })
    }
}

/// The expiry `ImportKeyMaterial` asks for: `Some(ValidTo)` or `None` for material that does
/// not expire. Without `ExpirationModel`, a `ValidTo` means the material expires.
fn expiry(r: &ImportRequest, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, KmsError> {
    let valid_to = match r.valid_to {
        #[allow(clippy::cast_possible_truncation)]
        Some(seconds) => Some(
            DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64).ok_or_else(
                || {
                    KmsError::validation(
                        &seconds.to_string(),
                        "validTo",
                        "Member must be a valid timestamp",
                    )
                },
            )?,
        ),
        None => None,
    };
    let model = r.expiration_model.clone().unwrap_or_else(|| {
        if valid_to.is_some() {
            KEY_MATERIAL_EXPIRES
        } else {
            KEY_MATERIAL_DOES_NOT_EXPIRE
        }
        .to_owned()
    });
    match (model.as_str(), valid_to) {
        (KEY_MATERIAL_EXPIRES, Some(t)) => {
            if t <= now || t > now + Duration::days(MAX_VALID_TO_DAYS) {
                return Err(KmsError::new(
                    KmsErrorKind::Validation,
                    format!("ValidTo must be in the future and no more than {MAX_VALID_TO_DAYS} days from now."),
                ));
            }
            Ok(Some(t))
        }
        (KEY_MATERIAL_EXPIRES, None) => {
            Err(KmsError::new(KmsErrorKind::Validation, "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"))
        }
        (KEY_MATERIAL_DOES_NOT_EXPIRE, None) => Ok(None),
        (KEY_MATERIAL_DOES_NOT_EXPIRE, Some(_)) => Err(KmsError::new(
            KmsErrorKind::Validation,
            "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE",
        )),
        (other, _) => Err(KmsError::validation(
            other,
            "expirationModel",
            &format!("Member must satisfy enum value set: [{KEY_MATERIAL_EXPIRES}, {KEY_MATERIAL_DOES_NOT_EXPIRE}]"),
        )),
    }
}

impl Operation for ImportKeyMaterial {
    const NAME: &'static str = "ImportKeyMaterial";
    const READ_ONLY: bool = false;
    type Request = ImportRequest;
    type Response = ImportResponse;

    fn request_parameters(r: &ImportRequest) -> Value {
        // Never the import token nor the key material.
        let valid_to = r.valid_to.and_then(|s| {
            #[allow(clippy::cast_possible_truncation)]
            DateTime::from_timestamp_millis((s * 1000.0).round() as i64)
        });
        let model = r.expiration_model.clone().unwrap_or_else(|| {
            if valid_to.is_some() {
                KEY_MATERIAL_EXPIRES
            } else {
                KEY_MATERIAL_DOES_NOT_EXPIRE
            }
            .to_owned()
        });
        let mut p = json!({ "keyId": r.key_id });
        if let Some(map) = p.as_object_mut() {
            if let Some(t) = valid_to {
                map.insert("validTo".into(), json!(crate::kms::audit::java_date(t)));
            }
            map.insert("expirationModel".into(), json!(model));
            if let Some(import_type) = &r.import_type {
                map.insert("importType".into(), json!(import_type));
            }
            if let Some(description) = &r.key_material_description {
                map.insert("keyMaterialDescription".into(), json!(description));
            }
            if let Some(id) = &r.key_material_id {
                map.insert("keyMaterialId".into(), json!(id));
            }
        }
        p
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &ImportRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(
            state,
            region,
            caller,
            &r.key_id,
            "kms:ImportKeyMaterial",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: ImportRequest) -> Result<Outcome<ImportResponse>, KmsError> {
        if r.encrypted_key_material.bytes().is_empty()
            || r.encrypted_key_material.bytes().len() > 6144
        {
            return Err(KmsError::validation(
                "…",
                "encryptedKeyMaterial",
                "Member must have length between 1 and 6144",
            ));
        }
        if r.import_token.bytes().is_empty() || r.import_token.bytes().len() > 6144 {
            return Err(KmsError::validation(
                "…",
                "importToken",
                "Member must have length between 1 and 6144",
            ));
        }
        let valid_to = expiry(&r, ctx.now)?;
        let choice = ImportChoice::of(&r)?;
        let key = ctx.key(&r.key_id)?;
        external(key)?;
        not_pending_deletion(key)?;
        let parameters = ctx
            .state
            .imports
            .get(&crate::trail::decode::hex(r.import_token.bytes()))
            .filter(|p| p.key_arn == key.arn)
            .ok_or_else(|| {
                KmsError::new(
                    KmsErrorKind::InvalidImportToken,
                    "The import token is invalid for this key.",
                )
            })?;
        if parameters.valid_to <= ctx.now {
            return Err(KmsError::new(
                KmsErrorKind::ExpiredImportToken,
                "The import token has expired.",
            ));
        }
        let unwrapped = parameters
            .wrapping_key
            .unwrap(parameters.algorithm, r.encrypted_key_material.bytes())
            .map_err(|err| crypto_error(&err))?;
        let material = KeyMaterial::from_imported(key.spec, &unwrapped, ctx.rng)
            .map_err(|err| crypto_error(&err))?;
        let (changed, material_id) = choice.apply(key, material, valid_to, ctx.now)?;
        // The first material of a multi-Region primary key is the material its replicas
        // must be given too: they hold it (still `PendingImport`), so that their own import
        // is checked against it.
        let replicas: Vec<Change> = if key.is_primary() && key.generations.is_empty() {
            replicas_of(ctx.state, key)
                .into_iter()
                .filter(|replica| replica.generations.is_empty())
                .map(|replica| {
                    let mut copy = replica.clone();
                    copy.generations.clone_from(&changed.generations);
                    Change::PutKey(Box::new(copy))
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut outcome = Outcome::key_updated(
            ImportResponse {
                key_id: key.arn.clone(),
                key_material_id: material_id.clone(),
            },
            key,
            changed,
        );
        outcome.response_elements = Some(json!({ "keyId": key.arn, "keyMaterialId": material_id }));
        outcome.changes.extend(replicas);
        Ok(outcome)
    }
}

/// What an `ImportKeyMaterial` request asks for beyond the material itself.
struct ImportChoice {
    /// `ImportType` as sent.
    import_type: Option<String>,
    /// `KeyMaterialId` as sent.
    key_material_id: Option<String>,
    /// `KeyMaterialDescription`.
    description: Option<String>,
}

impl ImportChoice {
    /// Reads and checks the 2025 members.
    fn of(r: &ImportRequest) -> Result<Self, KmsError> {
        if let Some(kind) = &r.import_type {
            if kind != NEW_KEY_MATERIAL && kind != EXISTING_KEY_MATERIAL {
                return Err(KmsError::validation(
                    kind,
                    "importType",
                    &format!(
                        "Member must satisfy enum value set: [{NEW_KEY_MATERIAL}, {EXISTING_KEY_MATERIAL}]"
                    ),
                ));
            }
        }
        if let Some(id) = &r.key_material_id {
            if id.parse::<crate::kms::crypto::KeyMaterialId>().is_err() {
                return Err(KmsError::validation(
                    id,
                    "keyMaterialId",
                    "Member must have length 64 and satisfy regular expression pattern: ^[a-f0-9]+$",
                ));
            }
            if r.import_type.as_deref() == Some(NEW_KEY_MATERIAL) {
                return Err(KmsError::new(
                    KmsErrorKind::Validation,
                    "You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.",
                ));
            }
        }
        if let Some(description) = &r.key_material_description {
            if description.chars().count() > 256 {
                return Err(KmsError::validation(
                    "…",
                    "keyMaterialDescription",
                    "Member must have length less than or equal to 256",
                ));
            }
        }
        Ok(Self {
            import_type: r.import_type.clone(),
            key_material_id: r.key_material_id.clone(),
            description: r.key_material_description.clone(),
        })
    }

    /// `key` with `material` imported, and the id of the material it now holds.
    fn apply(
        &self,
        key: &Key,
        material: KeyMaterial,
        valid_to: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(Key, String), KmsError> {
        let symmetric = key.spec == KeySpec::SymmetricDefault;
        if !symmetric && (self.import_type.is_some() || self.key_material_id.is_some()) {
            return Err(KmsError::new(
                KmsErrorKind::UnsupportedOperation,
                format!(
                    "ImportType and KeyMaterialId are supported only for symmetric encryption keys; {} is {}.",
                    key.arn,
                    key.spec.as_str()
                ),
            ));
        }
        let known = key.generations.iter().chain(key.pending_material.iter());
        let matching = known
            .clone()
            .find(|g| g.material.same_secret(&material))
            .cloned();
        let first_import = key.generations.is_empty() && key.pending_material.is_none();
        let new = match self.import_type.as_deref() {
            Some(kind) => kind == NEW_KEY_MATERIAL,
            None => first_import,
        };
        let mut changed = key.clone();
        if !new {
            // Re-import: the material must be one the key already has (the one named).
            let Some(existing) = matching.filter(|g| {
                self.key_material_id
                    .as_deref()
                    .is_none_or(|id| g.material.id() == id)
            }) else {
                return Err(KmsError::new(
                    KmsErrorKind::IncorrectKeyMaterial,
                    "The key material in the request is not the same key material that was previously imported into this KMS key.",
                ));
            };
            let is_current = key
                .current()
                .is_some_and(|g| g.material.id() == existing.material.id());
            if is_current {
                if key.state == KeyState::PendingImport {
                    changed.state = KeyState::Enabled;
                }
                changed.valid_to = valid_to;
            }
            return Ok((changed, existing.material.id().to_owned()));
        }
        if matching.is_some() {
            return Err(KmsError::new(
                KmsErrorKind::IncorrectKeyMaterial,
                "This key material is already associated with the KMS key; import it with ImportType EXISTING_KEY_MATERIAL.",
            ));
        }
        let generation = Generation {
            description: self.description.clone(),
            ..Generation::first(material, now)
        };
        let id = generation.material.id().to_owned();
        if first_import {
            changed.generations.push(generation);
            if key.state == KeyState::PendingImport {
                changed.state = KeyState::Enabled;
            }
            changed.valid_to = valid_to;
            return Ok((changed, id));
        }
        // Another material for a key that has one: only single-Region symmetric keys take
        // it, and it waits for `RotateKeyOnDemand` (a newer import replaces a waiting one).
        if !symmetric || key.multi_region {
            return Err(KmsError::new(
                KmsErrorKind::IncorrectKeyMaterial,
                "The key material in the request is not the same key material that was previously imported into this KMS key.",
            ));
        }
        if key.state == KeyState::PendingImport {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!(
                    "{} is pending import; re-import its current key material before importing new key material.",
                    key.arn
                ),
            ));
        }
        changed.pending_material = Some(generation);
        Ok((changed, id))
    }
}

impl Operation for DeleteImportedKeyMaterial {
    const NAME: &'static str = "DeleteImportedKeyMaterial";
    const READ_ONLY: bool = false;
    type Request = KeyRequest;
    type Response = Empty;

    fn request_parameters(r: &KeyRequest) -> Value {
        json!({ "keyId": r.key_id })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &KeyRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(
            state,
            region,
            caller,
            &r.key_id,
            "kms:DeleteImportedKeyMaterial",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: KeyRequest) -> Result<Outcome<Empty>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        external(key)?;
        not_pending_deletion(key)?;
        if key.state == KeyState::PendingImport {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending import.", key.arn),
            ));
        }
        // The generations stay (unusable while pending import) so that a re-import can be
        // checked against them, as the lifecycle's expiry does.
        let mut changed = key.clone();
        changed.state = KeyState::PendingImport;
        changed.valid_to = None;
        Ok(Outcome::key_updated(Empty {}, key, changed))
    }
}
