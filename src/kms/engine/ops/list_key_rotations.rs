//! `ListKeyRotations`: a key's completed rotations from its material generations, oldest
//! first, in pages of `Limit` (1–1000, default 100). With `IncludeKeyMaterial`
//! `ALL_KEY_MATERIAL` the original material is listed too (it has no rotation date or type).
//! Symmetric keys with imported material (2025) list their materials with `ImportState` and
//! `KeyMaterialDescription`, and new material imported for the next on-demand rotation as
//! `PENDING_ROTATION`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::KeySpec;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::key_id::on_key_by_id;
use crate::kms::engine::ops::list_keys::paging_parameters;
use crate::kms::engine::ops::paging;
use crate::kms::engine::ops::rotation::cannot_rotate;
use crate::kms::engine::state::{KeyState, Origin, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    #[serde(default)]
    pub include_key_material: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub marker: Option<String>,
}

/// One entry (`RotationsListEntry`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationsListEntry {
    pub key_id: String,
    pub key_material_id: String,
    /// `CURRENT` or `NON_CURRENT`.
    pub key_material_state: String,
    /// Seconds since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_date: Option<f64>,
    /// `AUTOMATIC` or `ON_DEMAND`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_type: Option<String>,
    /// `KeyMaterialDescription` of imported material.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_material_description: Option<String>,
    /// `IMPORTED` or `PENDING_IMPORT`, for imported material.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_state: Option<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub rotations: Vec<RotationsListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// The operation.
pub struct ListKeyRotations;

impl Operation for ListKeyRotations {
    const NAME: &'static str = "ListKeyRotations";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        let mut p = paging_parameters(r.limit, r.marker.as_deref())
            .as_object()
            .cloned()
            .unwrap_or_default();
        p.insert("keyId".into(), json!(r.key_id));
        if let Some(include) = &r.include_key_material {
            p.insert("includeKeyMaterial".into(), json!(include));
        }
        Value::Object(p)
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key_by_id(state, region, caller, &r.key_id, "kms:ListKeyRotations")
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let limit = paging::limit(r.limit)?;
        let all = match r.include_key_material.as_deref() {
            None | Some("ROTATIONS_ONLY") => false,
            Some("ALL_KEY_MATERIAL") => true,
            Some(other) => {
                return Err(KmsError::validation(
                    other,
                    "includeKeyMaterial",
                    "Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]",
                ))
            }
        };
        let key = ctx.key(&r.key_id)?;
        if matches!(
            key.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(crate::kms::engine::ops::invalid_state(key, key.state));
        }
        let imported = key.origin == Origin::External && key.spec == KeySpec::SymmetricDefault;
        if let Some(what) = cannot_rotate(key).filter(|_| !imported) {
            return Err(KmsError::new(
                KmsErrorKind::UnsupportedOperation,
                format!("{} does not support rotation ({what})", key.arn),
            ));
        }
        let last = key.generations.len().saturating_sub(1);
        let import_state = |current: bool| {
            imported.then(|| {
                if current && key.state == KeyState::PendingImport {
                    "PENDING_IMPORT"
                } else {
                    "IMPORTED"
                }
                .to_owned()
            })
        };
        #[allow(clippy::cast_precision_loss)]
        let mut items: Vec<(String, RotationsListEntry)> = key
            .generations
            .iter()
            .enumerate()
            .filter(|(_, g)| all || g.rotation.is_some())
            .map(|(i, g)| {
                let id = g.material.id().to_owned();
                let entry = RotationsListEntry {
                    key_id: key.id.clone(),
                    key_material_id: id.clone(),
                    key_material_state: if i == last { "CURRENT" } else { "NON_CURRENT" }
                        .to_owned(),
                    rotation_date: g
                        .rotation
                        .map(|_| g.since.timestamp_millis() as f64 / 1000.0),
                    rotation_type: g.rotation.map(|t| t.as_str().to_owned()),
                    key_material_description: g.description.clone(),
                    import_state: import_state(i == last),
                };
                (id, entry)
            })
            .collect();
        if let Some(pending) = key.pending_material.as_ref().filter(|_| all) {
            let id = pending.material.id().to_owned();
            items.push((
                id.clone(),
                RotationsListEntry {
                    key_id: key.id.clone(),
                    key_material_id: id,
                    key_material_state: "PENDING_ROTATION".to_owned(),
                    rotation_date: None,
                    rotation_type: None,
                    key_material_description: pending.description.clone(),
                    import_state: Some("IMPORTED".to_owned()),
                },
            ));
        }
        let (rotations, next_marker) = paging::page(items, limit, r.marker.as_deref())?;
        Ok(Outcome::respond(Response {
            rotations,
            truncated: next_marker.is_some(),
            next_marker,
        }))
    }
}
