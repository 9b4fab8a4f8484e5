//! `UpdateAlias`: points an existing alias at another key of the same account and Region.
//! The caller needs `kms:UpdateAlias` on both the current and the new key; the new key must
//! have the same key usage and the same kind (symmetric, asymmetric or HMAC) as the current.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::KeySpec;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{alias_arn, check_alias_name};
use crate::kms::engine::ops::key_id::key_id_or_arn;
use crate::kms::engine::ops::on_key;
use crate::kms::engine::state::{Change, Key, KeyState, State};
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
pub struct UpdateAlias;

/// The key ARN an alias of the caller's account and Region points at.
pub fn alias_target(
    state: &State,
    region: &str,
    account: &str,
    alias_name: &str,
) -> Result<(String, String), KmsError> {
    check_alias_name(alias_name)?;
    let alias = alias_arn(region, account, alias_name);
    let target = state.aliases.get(&alias).cloned().ok_or_else(|| {
        KmsError::new(
            KmsErrorKind::NotFound,
            format!("Alias {alias} is not found."),
        )
    })?;
    Ok((alias, target))
}

/// The kind KMS compares when an alias moves: symmetric encryption, asymmetric or HMAC.
fn kind(key: &Key) -> &'static str {
    if key.spec == KeySpec::SymmetricDefault {
        "symmetric"
    } else if key.spec.as_str().starts_with("HMAC_") {
        "HMAC"
    } else {
        "asymmetric"
    }
}

impl Operation for UpdateAlias {
    const NAME: &'static str = "UpdateAlias";
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
        let (_, current) = alias_target(state, region, &caller.account, &r.alias_name)?;
        key_id_or_arn(&r.target_key_id)?;
        let mut auths = on_key(
            state,
            region,
            caller,
            &r.target_key_id,
            "kms:UpdateAlias",
            None,
        )?;
        if auths.iter().all(|a| a.key_arn != current) {
            auths.push(Authorization {
                action: "kms:UpdateAlias".into(),
                key_arn: current,
                encryption_context: BTreeMap::new(),
                condition_keys: BTreeMap::new(),
            });
        }
        Ok(auths)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let (alias, current) =
            alias_target(ctx.state, ctx.region, &ctx.caller.account, &r.alias_name)?;
        let key = ctx.key(&r.target_key_id)?;
        if key.account != ctx.caller.account || key.region != ctx.region {
            return Err(KmsError::key_not_found(&key.arn));
        }
        if key.state == KeyState::PendingDeletion {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending deletion.", key.arn),
            ));
        }
        if let Some(old) = ctx.state.keys.get(&current) {
            if old.usage != key.usage || kind(old) != kind(key) {
                return Err(KmsError::new(
                    KmsErrorKind::Validation,
                    format!(
                        "Alias {alias} cannot be changed from a {} {} key to a {} {} key",
                        kind(old),
                        old.usage.as_str(),
                        kind(key),
                        key.usage.as_str()
                    ),
                ));
            }
        }
        Ok(Outcome {
            response: Response {},
            response_elements: None,
            key_material_id: None,
            changes: vec![Change::PutAlias {
                alias_arn: alias,
                key_arn: key.arn.clone(),
            }],
        })
    }
}
