//! `DeleteAlias`: removes an alias of the caller's account and Region; the key it points at
//! is not affected. Allowed in every key state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::KmsError;
use crate::kms::engine::ops::update_alias::alias_target;
use crate::kms::engine::state::{Change, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub alias_name: String,
}

/// The (empty) response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Response {}

/// The operation.
pub struct DeleteAlias;

impl Operation for DeleteAlias {
    const NAME: &'static str = "DeleteAlias";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    /// The alias, named before its key as in AWS's example (ct-deletealias).
    fn leading_resources(region: &str, caller: &Caller, r: &Request) -> Vec<(String, String)> {
        vec![(
            caller.account.clone(),
            crate::kms::engine::ids::alias_arn(region, &caller.account, &r.alias_name),
        )]
    }

    fn request_parameters(r: &Request) -> Value {
        json!({ "aliasName": r.alias_name })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        let (_, key_arn) = alias_target(state, region, &caller.account, &r.alias_name)?;
        Ok(vec![Authorization {
            action: "kms:DeleteAlias".into(),
            key_arn,
            encryption_context: BTreeMap::new(),
            condition_keys: BTreeMap::new(),
        }])
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let (alias, _) = alias_target(ctx.state, ctx.region, &ctx.caller.account, &r.alias_name)?;
        Ok(Outcome {
            response: Response {},
            response_elements: None,
            key_material_id: None,
            additional_event_data: None,
            changes: vec![Change::DeleteAlias(alias)],
        })
    }
}
