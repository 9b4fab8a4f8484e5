//! `ListAliases`: the aliases of the caller's account and Region, optionally only those of
//! one key, in pages of `Limit` (1–1000, default 100), with when each was created and last
//! pointed at a key.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kms::engine::error::KmsError;
use crate::kms::engine::ids::{alias_arn, key_arn, KeyRef};
use crate::kms::engine::ops::key_id::key_id_or_arn;
use crate::kms::engine::ops::list_keys::paging_parameters;
use crate::kms::engine::ops::paging;
use crate::kms::engine::state::State;
use crate::kms::engine::{
    AccountAuthorization, Authorization, Caller, Context, Operation, Outcome,
};

/// The request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub marker: Option<String>,
}

/// One alias.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    pub alias_name: String,
    pub alias_arn: String,
    /// The key id (not ARN) the alias points at.
    pub target_key_id: String,
    /// When the alias was created, seconds since the epoch.
    pub creation_date: f64,
    /// When the alias was last associated with a key (`CreateAlias` or `UpdateAlias`).
    pub last_updated_date: f64,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub aliases: Vec<AliasListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// The operation.
pub struct ListAliases;

impl Operation for ListAliases {
    const NAME: &'static str = "ListAliases";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        let mut p = paging_parameters(r.limit, r.marker.as_deref());
        if let Some(key_id) = &r.key_id {
            let mut map = p.as_object().cloned().unwrap_or_default();
            map.insert("keyId".into(), Value::from(key_id.as_str()));
            p = Value::Object(map);
        }
        p
    }

    fn authorizations(
        _: &State,
        _: &str,
        _: &Caller,
        _: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        // An account-level action (IAM only, resource "*"): no key policy takes part.
        Ok(Vec::new())
    }

    fn account_authorizations(_: &Request) -> Vec<AccountAuthorization> {
        vec![AccountAuthorization::action("kms:ListAliases")]
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let limit = paging::limit(r.limit)?;
        let only = match &r.key_id {
            None => None,
            Some(key_id) => {
                key_id_or_arn(key_id)?;
                let arn = match KeyRef::parse(key_id)? {
                    KeyRef::KeyArn {
                        region,
                        account,
                        id,
                    } => key_arn(&region, &account, &id),
                    _ => key_arn(ctx.region, &ctx.caller.account, key_id),
                };
                let key = ctx
                    .state
                    .keys
                    .get(&arn)
                    .ok_or_else(|| KmsError::key_not_found(&arn))?;
                Some(key.arn.clone())
            }
        };
        let prefix = alias_arn(ctx.region, &ctx.caller.account, "alias/");
        let items = ctx
            .state
            .aliases
            .iter()
            .filter(|(alias, entry)| {
                alias.starts_with(&prefix) && only.as_ref().is_none_or(|k| *k == entry.key_arn)
            })
            .map(|(alias, entry)| {
                let target = &entry.key_arn;
                let name = format!("alias/{}", &alias[prefix.len()..]);
                let target_id = ctx.state.keys.get(target).map_or_else(
                    || target.rsplit('/').next().unwrap_or_default().to_owned(),
                    |k| k.id.clone(),
                );
                (
                    name.clone(),
                    AliasListEntry {
                        alias_name: name,
                        alias_arn: alias.clone(),
                        target_key_id: target_id,
                        creation_date: epoch(entry.created),
                        last_updated_date: epoch(entry.last_updated),
                    },
                )
            })
            .collect();
        let (aliases, next_marker) = paging::page(items, limit, r.marker.as_deref())?;
        Ok(Outcome::respond(Response {
            aliases,
            truncated: next_marker.is_some(),
            next_marker,
        }))
    }
}

#[allow(clippy::cast_precision_loss)]
fn epoch(t: chrono::DateTime<chrono::Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}
