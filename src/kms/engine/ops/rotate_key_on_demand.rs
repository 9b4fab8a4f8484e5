//! `RotateKeyOnDemand`: new key material for a symmetric encryption key, at once, at most 25
//! times per key; automatic rotation schedules are unchanged. Old material stays for
//! decryption. KMS-generated material is generated; for imported material (2025) the
//! material imported with `ImportType` `NEW_KEY_MATERIAL` becomes current. The rotation is
//! also recorded as a `RotateKey` service event (`rotationType` `ON_DEMAND`). A multi-Region
//! primary key's replicas get the new material (`SynchronizeMultiRegionKey`); replicas
//! themselves are rotated only through their primary.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::KeySpec;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::new_uuid;
use crate::kms::engine::lifecycle::{rotated, rotation_details, ServiceRecord};
use crate::kms::engine::ops::key_id::on_key_by_id;
use crate::kms::engine::ops::multi_region::{primary_of, replicas_of, synced, synchronize_record};
use crate::kms::engine::ops::rotation::{cannot_rotate, replica_refused};
use crate::kms::engine::ops::usable;
use crate::kms::engine::state::{Change, Generation, Key, Origin, RotationType, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// How many on-demand rotations KMS allows per key.
pub const MAX_ON_DEMAND_ROTATIONS: u32 = 25;

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
}

/// The response: the key id of the rotated key.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub key_id: String,
}

/// The operation.
pub struct RotateKeyOnDemand;

impl Operation for RotateKeyOnDemand {
    const NAME: &'static str = "RotateKeyOnDemand";
    const READ_ONLY: bool = false;
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
        on_key_by_id(state, region, caller, &r.key_id, "kms:RotateKeyOnDemand")
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        usable(key)?;
        let imported = key.origin == Origin::External
            && key.spec == KeySpec::SymmetricDefault
            && !key.multi_region;
        if let Some(what) = cannot_rotate(key).filter(|_| !imported) {
            return Err(KmsError::new(
                KmsErrorKind::UnsupportedOperation,
                format!("{} does not support on-demand rotation ({what})", key.arn),
            ));
        }
        let state: &State = ctx.state;
        replica_refused(key, primary_of(state, key).map(|p| p.region.as_str()))?;
        if key.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::new(
                KmsErrorKind::LimitExceeded,
                format!(
                    "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations",
                    key.arn
                ),
            ));
        }
        let mut changed = if imported {
            promote_pending(key, ctx.now)?
        } else {
            rotated(key, ctx.now, RotationType::OnDemand, ctx.rng)?
        };
        changed.on_demand_rotations += 1;
        // KMS logs the rotation itself as a RotateKey service event (rotationType ON_DEMAND).
        let rotation = ServiceRecord::on_key(
            "RotateKey",
            key,
            ctx.now,
            new_uuid(ctx.rng),
            Some(rotation_details(key, &changed, RotationType::OnDemand)),
        );
        let mut changes = Vec::new();
        let mut events = vec![Change::ServiceEvent(Box::new(rotation))];
        // The replicas of a multi-Region primary key get the new material too.
        let replicas = replicas_of(ctx.state, key);
        if !replicas.is_empty() {
            events.push(Change::ServiceEvent(Box::new(synchronize_record(
                key, ctx.now, ctx.rng,
            ))));
            for replica in replicas {
                changes.push(Change::PutKey(Box::new(synced(replica, &changed))));
            }
        }
        changes.insert(0, Change::PutKey(Box::new(changed)));
        changes.extend(events);
        Ok(Outcome {
            response: Response {
                key_id: key.id.clone(),
            },
            // As in the KMS Developer Guide example (ct-rotatekeyondemand): the key id.
            response_elements: Some(json!({ "keyId": key.id })),
            key_material_id: None,
            additional_event_data: None,
            changes,
        })
    }
}

/// `key` (symmetric, imported material) with the material imported as `NEW_KEY_MATERIAL`
/// made current: on-demand rotation of imported key material (2025).
fn promote_pending(key: &Key, now: chrono::DateTime<chrono::Utc>) -> Result<Key, KmsError> {
    let Some(pending) = &key.pending_material else {
        return Err(KmsError::new(
            KmsErrorKind::UnsupportedOperation,
            format!(
                "{} has no key material pending rotation; import new key material with ImportType NEW_KEY_MATERIAL first.",
                key.arn
            ),
        ));
    };
    let mut changed = key.clone();
    changed.generations.push(Generation {
        since: now,
        rotation: Some(RotationType::OnDemand),
        ..pending.clone()
    });
    changed.pending_material = None;
    Ok(changed)
}
