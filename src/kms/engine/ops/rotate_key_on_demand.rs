//! `RotateKeyOnDemand`: new key material for a symmetric encryption key with KMS-generated
//! material, at once, at most 25 times per key; automatic rotation schedules are unchanged.
//! Old material stays for decryption. AWS also writes a separate `RotateKey` service event
//! (`rotationType` `ON_DEMAND`); the engine records one event per call, so it is not emitted.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::new_uuid;
use crate::kms::engine::lifecycle::{rotated, rotation_details, ServiceRecord};
use crate::kms::engine::ops::key_id::on_key_by_id;
use crate::kms::engine::ops::rotation::cannot_rotate;
use crate::kms::engine::ops::usable;
use crate::kms::engine::state::{Change, RotationType, State};
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
        if let Some(what) = cannot_rotate(key) {
            return Err(KmsError::new(
                KmsErrorKind::UnsupportedOperation,
                format!("{} does not support on-demand rotation ({what})", key.arn),
            ));
        }
        if key.on_demand_rotations >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::new(
                KmsErrorKind::LimitExceeded,
                format!(
                    "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations",
                    key.arn
                ),
            ));
        }
        let mut changed = rotated(key, ctx.now, RotationType::OnDemand, ctx.rng)?;
        changed.on_demand_rotations += 1;
        // KMS logs the rotation itself as a RotateKey service event (rotationType ON_DEMAND).
        let rotation = ServiceRecord {
            name: "RotateKey",
            time: ctx.now,
            key_arn: key.arn.clone(),
            key_id: key.id.clone(),
            account: key.account.clone(),
            region: key.region.clone(),
            event_id: new_uuid(ctx.rng),
            details: Some(rotation_details(key, &changed, RotationType::OnDemand)),
        };
        Ok(Outcome {
            response: Response {
                key_id: key.id.clone(),
            },
            // As in the KMS Developer Guide example (ct-rotatekeyondemand): the key id.
            response_elements: Some(json!({ "keyId": key.id })),
            key_material_id: None,
            changes: vec![
                Change::PutKey(Box::new(changed)),
                Change::ServiceEvent(Box::new(rotation)),
            ],
        })
    }
}
