//! `ListKeys`: the key ids and ARNs of every key in the caller's account and Region, in
//! pages of `Limit` (1–1000, default 100) with `Marker`/`NextMarker`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::kms::engine::error::KmsError;
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
    pub limit: Option<i64>,
    #[serde(default)]
    pub marker: Option<String>,
}

/// One key, `{"KeyId", "KeyArn"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    pub key_id: String,
    pub key_arn: String,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub keys: Vec<KeyListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// The operation.
pub struct ListKeys;

/// `requestParameters` of a paged list call: `limit` and `marker` as sent, `null` when
/// neither was.
pub fn paging_parameters(limit: Option<i64>, marker: Option<&str>) -> Value {
    let mut p = Map::new();
    if let Some(limit) = limit {
        p.insert("limit".into(), Value::from(limit));
    }
    if let Some(marker) = marker {
        p.insert("marker".into(), Value::from(marker));
    }
    if p.is_empty() {
        Value::Null
    } else {
        Value::Object(p)
    }
}

impl Operation for ListKeys {
    const NAME: &'static str = "ListKeys";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        paging_parameters(r.limit, r.marker.as_deref())
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
        vec![AccountAuthorization::action("kms:ListKeys")]
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let limit = paging::limit(r.limit)?;
        let items = ctx
            .state
            .keys
            .values()
            .filter(|k| k.account == ctx.caller.account && k.region == ctx.region)
            .map(|k| {
                (
                    k.id.clone(),
                    KeyListEntry {
                        key_id: k.id.clone(),
                        key_arn: k.arn.clone(),
                    },
                )
            })
            .collect();
        let (keys, next_marker) = paging::page(items, limit, r.marker.as_deref())?;
        Ok(Outcome::respond(Response {
            keys,
            truncated: next_marker.is_some(),
            next_marker,
        }))
    }
}
