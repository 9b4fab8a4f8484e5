//! `ListGrants` (the grants on one key) and `ListRetirableGrants` (the grants a principal may
//! retire, across the caller's account and Region), paginated with `Limit` and `Marker`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::create_grant::{check_principal, Constraints};
use crate::kms::engine::ops::on_key;
use crate::kms::engine::state::State;
use crate::kms::engine::{
    AccountAuthorization, Authorization, Caller, Context, Operation, Outcome,
};
use crate::kms::policy::grant::Grant;

/// The default page size.
pub const DEFAULT_LIMIT: u32 = 50;

/// `ListGrants` request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub key_id: String,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub marker: Option<String>,
    #[serde(default)]
    pub grant_id: Option<String>,
    #[serde(default)]
    pub grantee_principal: Option<String>,
}

/// `ListRetirableGrants` request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetirableRequest {
    pub retiring_principal: String,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub marker: Option<String>,
}

/// `GrantListEntry`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrantListEntry {
    pub key_id: String,
    pub grant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the grant was created, seconds since the epoch (absent for grants configured
    /// without a date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<f64>,
    pub grantee_principal: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retiring_principal: Option<String>,
    pub issuing_account: String,
    pub operations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
}

impl GrantListEntry {
    /// The entry of `grant`.
    pub fn of(grant: &Grant) -> Self {
        Self {
            key_id: grant.key_arn.clone(),
            grant_id: grant.grant_id.clone(),
            name: grant.name.clone(),
            #[allow(clippy::cast_precision_loss)]
            creation_date: grant
                .creation_date
                .map(|t| t.timestamp_millis() as f64 / 1000.0),
            grantee_principal: grant.grantee_principal.clone(),
            retiring_principal: grant.retiring_principal.clone(),
            issuing_account: grant.issuing_account.clone(),
            operations: grant.operations.clone(),
            constraints: grant.constraints.as_ref().map(|c| Constraints {
                encryption_context_subset: c.encryption_context_subset.clone(),
                encryption_context_equals: c.encryption_context_equals.clone(),
            }),
        }
    }
}

/// The response of both operations (`ListGrantsResponse`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub grants: Vec<GrantListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// `ListGrants`.
pub struct ListGrants;
/// `ListRetirableGrants`.
pub struct ListRetirableGrants;

/// One page of `grants` (ordered by grant id): from the grant `marker` names, at most `limit`.
fn page(
    grants: Vec<&Grant>,
    limit: Option<u32>,
    marker: Option<&str>,
) -> Result<Response, KmsError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=100).contains(&limit) {
        return Err(KmsError::validation(
            &limit.to_string(),
            "limit",
            "Member must have value between 1 and 100",
        ));
    }
    let start = match marker {
        None => 0,
        Some(m) => grants
            .iter()
            .position(|g| g.grant_id == m)
            .ok_or_else(|| KmsError::new(KmsErrorKind::InvalidMarker, "The marker is invalid."))?,
    };
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let rest = &grants[start..];
    let next_marker = rest.get(limit).map(|g| g.grant_id.clone());
    Ok(Response {
        grants: rest
            .iter()
            .take(limit)
            .map(|g| GrantListEntry::of(g))
            .collect(),
        truncated: next_marker.is_some(),
        next_marker,
    })
}

fn paging_parameters(p: &mut Value, limit: Option<u32>, marker: Option<&String>) {
    if let Some(map) = p.as_object_mut() {
        if let Some(limit) = limit {
            map.insert("limit".into(), json!(limit));
        }
        if let Some(marker) = marker {
            map.insert("marker".into(), json!(marker));
        }
    }
}

impl Operation for ListGrants {
    const NAME: &'static str = "ListGrants";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        let mut p = json!({ "keyId": r.key_id });
        paging_parameters(&mut p, r.limit, r.marker.as_ref());
        if let Some(map) = p.as_object_mut() {
            if let Some(id) = &r.grant_id {
                map.insert("grantId".into(), json!(id));
            }
            if let Some(grantee) = &r.grantee_principal {
                map.insert("granteePrincipal".into(), json!(grantee));
            }
        }
        p
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(state, region, caller, &r.key_id, "kms:ListGrants", None)
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        if let Some(id) = &r.grant_id {
            if id.is_empty() || id.len() > 128 {
                return Err(KmsError::validation(
                    id,
                    "grantId",
                    "Member must have length between 1 and 128",
                ));
            }
        }
        if let Some(grantee) = &r.grantee_principal {
            check_principal(grantee, "granteePrincipal")?;
        }
        let key = ctx.key(&r.key_id)?;
        let grants = ctx
            .state
            .grants
            .values()
            .filter(|g| g.key_arn == key.arn && !g.retired)
            .filter(|g| r.grant_id.as_ref().is_none_or(|id| g.grant_id == *id))
            .filter(|g| {
                r.grantee_principal
                    .as_ref()
                    .is_none_or(|p| g.grantee_principal == *p)
            })
            .collect();
        Ok(Outcome::respond(page(
            grants,
            r.limit,
            r.marker.as_deref(),
        )?))
    }
}

impl Operation for ListRetirableGrants {
    const NAME: &'static str = "ListRetirableGrants";
    const READ_ONLY: bool = true;
    type Request = RetirableRequest;
    type Response = Response;

    fn request_parameters(r: &RetirableRequest) -> Value {
        let mut p = json!({ "retiringPrincipal": r.retiring_principal });
        paging_parameters(&mut p, r.limit, r.marker.as_ref());
        p
    }

    fn authorizations(
        _: &State,
        _: &str,
        _: &Caller,
        _: &RetirableRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        // Not a key resource: IAM decides (`Resource: "*"`), as for `CreateKey`.
        Ok(Vec::new())
    }

    fn account_authorizations(_: &RetirableRequest) -> Vec<AccountAuthorization> {
        vec![AccountAuthorization::action("kms:ListRetirableGrants")]
    }

    fn run(ctx: &mut Context<'_>, r: RetirableRequest) -> Result<Outcome<Response>, KmsError> {
        check_principal(&r.retiring_principal, "retiringPrincipal")?;
        let account = &ctx.caller.account;
        let grants = ctx
            .state
            .grants
            .values()
            .filter(|g| {
                !g.retired && g.retiring_principal.as_deref() == Some(r.retiring_principal.as_str())
            })
            .filter(|g| {
                ctx.state
                    .keys
                    .get(&g.key_arn)
                    .is_some_and(|k| k.account == *account && k.region == ctx.region)
            })
            .collect();
        Ok(Outcome::respond(page(
            grants,
            r.limit,
            r.marker.as_deref(),
        )?))
    }
}
