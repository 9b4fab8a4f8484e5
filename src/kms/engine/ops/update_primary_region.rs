//! `UpdatePrimaryRegion`: the replica key in `PrimaryRegion` becomes the primary key of its
//! set of multi-Region keys and the current primary becomes a replica. Both must be
//! `Enabled`, and the caller needs `kms:UpdatePrimaryRegion` on both. KMS passes through a
//! transient `Updating` state for a few seconds; the engine switches at once.
//!
//! CloudTrail: "The `UpdatePrimaryRegion` operation writes two CloudTrail log entries: one in
//! the Region with the multi-Region primary key that is converted to a replica key, and one
//! in the Region with a multi-Region replica key that is converted to a primary key" (KMS
//! Developer Guide). The first is the call's own record (the old primary in `resources`,
//! `responseElements: null`); the second has `invokedBy: kms.amazonaws.com`, the new primary
//! key's ARN as `keyId`, the same `requestID` and no `resources`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{key_arn, new_uuid};
use crate::kms::engine::ops::multi_region::primary_of;
use crate::kms::engine::ops::replicate_key::check_region;
use crate::kms::engine::ops::{on_key, usable};
use crate::kms::engine::state::{Change, MultiRegionKeyType, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome, RelatedCall};

/// The request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    pub primary_region: String,
}

/// The (empty) response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Response {}

/// The operation.
pub struct UpdatePrimaryRegion;

impl Operation for UpdatePrimaryRegion {
    const NAME: &'static str = "UpdatePrimaryRegion";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        json!({ "keyId": r.key_id, "primaryRegion": r.primary_region })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        // The replica's permission is checked in `run`, once it is known to exist.
        on_key(
            state,
            region,
            caller,
            &r.key_id,
            "kms:UpdatePrimaryRegion",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        check_region(&r.primary_region, "primaryRegion")?;
        let key = ctx.key(&r.key_id)?;
        let state: &State = ctx.state;
        let unsupported =
            |message: String| KmsError::new(KmsErrorKind::UnsupportedOperation, message);
        if !key.multi_region {
            return Err(unsupported(format!(
                "{} is not a multi-Region key.",
                key.arn
            )));
        }
        if !key.is_primary() {
            return Err(unsupported(format!(
                "{} is not the primary key; call UpdatePrimaryRegion on the primary key{}.",
                key.arn,
                primary_of(state, key).map_or_else(String::new, |p| format!(" in {}", p.region))
            )));
        }
        if r.primary_region == key.region {
            return Err(unsupported(format!(
                "{} is already the primary key in {}.",
                key.arn, r.primary_region
            )));
        }
        let replica_arn = key_arn(&r.primary_region, &key.account, &key.id);
        let replica = state.keys.get(&replica_arn).ok_or_else(|| {
            KmsError::new(
                KmsErrorKind::NotFound,
                format!("{} has no replica key in {}.", key.arn, r.primary_region),
            )
        })?;
        usable(key)?;
        usable(replica)?;
        ctx.authorize(&Authorization {
            action: "kms:UpdatePrimaryRegion".into(),
            key_arn: replica.arn.clone(),
            encryption_context: Default::default(),
            condition_keys: Default::default(),
        })?;
        let mut old_primary = key.clone();
        old_primary.multi_region_type = Some(MultiRegionKeyType::Replica);
        let mut new_primary = replica.clone();
        new_primary.multi_region_type = Some(MultiRegionKeyType::Primary);
        new_primary.on_demand_rotations = key.on_demand_rotations;
        let related = RelatedCall {
            name: "UpdatePrimaryRegion",
            region: replica.region.clone(),
            parameters: json!({ "keyId": replica.arn, "primaryRegion": r.primary_region }),
            response_elements: None,
            resources: Vec::new(),
            event_id: new_uuid(ctx.rng),
        };
        Ok(Outcome {
            response: Response {},
            response_elements: None,
            key_material_id: None,
            additional_event_data: None,
            changes: vec![
                Change::PutKey(Box::new(old_primary)),
                Change::PutKey(Box::new(new_primary)),
                Change::RelatedCall(Box::new(related)),
            ],
        })
    }
}
