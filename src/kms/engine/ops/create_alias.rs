//! `CreateAlias`: a friendly name for a key in the same account and Region.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{alias_arn, check_alias_name};
use crate::kms::engine::ops::on_key;
use crate::kms::engine::state::{Alias, Change, KeyState, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub alias_name: String,
    pub target_key_id: String,
}

/// The (empty) response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Response {}

/// The operation.
pub struct CreateAlias;

impl Operation for CreateAlias {
    const NAME: &'static str = "CreateAlias";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    fn extra_resources(region: &str, caller: &Caller, r: &Request) -> Vec<(String, String)> {
        vec![(
            caller.account.clone(),
            crate::kms::engine::ids::alias_arn(region, &caller.account, &r.alias_name),
        )]
    }

    fn request_parameters(r: &Request) -> Value {
        json!({ "aliasName": r.alias_name, "targetKeyId": r.target_key_id })
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
            &r.target_key_id,
            "kms:CreateAlias",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        check_alias_name(&r.alias_name)?;
        let key = ctx.key(&r.target_key_id)?;
        if key.state == KeyState::PendingDeletion {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending deletion.", key.arn),
            ));
        }
        let alias = alias_arn(ctx.region, &ctx.caller.account, &r.alias_name);
        if ctx.state.aliases.contains_key(&alias) {
            return Err(KmsError::new(
                KmsErrorKind::AlreadyExists,
                format!("An alias with the name {alias} already exists"),
            ));
        }
        Ok(Outcome {
            response: Response {},
            response_elements: None,
            key_material_id: None,
            additional_event_data: None,
            changes: vec![Change::PutAlias {
                alias_arn: alias,
                alias: Alias {
                    key_arn: key.arn.clone(),
                    created: ctx.now,
                    last_updated: ctx.now,
                },
            }],
        })
    }
}
