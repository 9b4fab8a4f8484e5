//! Ending grants: `RetireGrant` (by grant token, or key and grant id; allowed to the principals
//! the grant names, never by policy) and `RevokeGrant` (key and grant id; `kms:RevokeGrant`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::create_grant::grant_id_of_token;
use crate::kms::engine::ops::{key_arn_element, on_key};
use crate::kms::engine::state::{Change, State};
use crate::kms::engine::{resolve, Authorization, Caller, Context, Operation, Outcome};
use crate::kms::policy::context::RequestContext;
use crate::kms::policy::grant::Grant;

/// `RetireGrant` request: `GrantToken`, or `KeyId` and `GrantId`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetireRequest {
    #[serde(default)]
    pub grant_token: Option<String>,
    #[serde(default)]
    pub key_id: Option<String>,
    #[serde(default)]
    pub grant_id: Option<String>,
}

/// `RevokeGrant` request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RevokeRequest {
    pub key_id: String,
    pub grant_id: String,
}

/// The (empty) response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

/// `RetireGrant`.
pub struct RetireGrant;
/// `RevokeGrant`.
pub struct RevokeGrant;

fn grant_not_found(grant_id: &str) -> KmsError {
    KmsError::new(
        KmsErrorKind::NotFound,
        format!("Grant ID {grant_id} not found"),
    )
}

fn check_grant_id(grant_id: &str) -> Result<(), KmsError> {
    if grant_id.is_empty() || grant_id.len() > 128 {
        return Err(KmsError::validation(
            grant_id,
            "grantId",
            "Member must have length between 1 and 128",
        ));
    }
    Ok(())
}

/// The grant a `RetireGrant` request names.
fn named_grant<'s>(
    state: &'s State,
    region: &str,
    caller: &Caller,
    r: &RetireRequest,
) -> Result<&'s Grant, KmsError> {
    if let Some(token) = &r.grant_token {
        if token.is_empty() || token.len() > 8192 {
            return Err(KmsError::validation(
                "…",
                "grantToken",
                "Member must have length between 1 and 8192",
            ));
        }
        let id = grant_id_of_token(token)?;
        return state
            .grants
            .get(&id)
            .filter(|g| !g.retired)
            .ok_or_else(|| grant_not_found(&id));
    }
    let (Some(key_id), Some(grant_id)) = (&r.key_id, &r.grant_id) else {
        return Err(KmsError::new(
            KmsErrorKind::Validation,
            "Either GrantToken or both KeyId and GrantId must be specified.",
        ));
    };
    check_grant_id(grant_id)?;
    let key_arn = resolve(state, region, &caller.account, key_id)?;
    state
        .grants
        .get(grant_id)
        .filter(|g| g.key_arn == key_arn && !g.retired)
        .ok_or_else(|| grant_not_found(grant_id))
}

impl Operation for RetireGrant {
    const NAME: &'static str = "RetireGrant";
    const READ_ONLY: bool = false;
    type Request = RetireRequest;
    type Response = Empty;

    fn request_parameters(r: &RetireRequest) -> Value {
        // A retirement by token logs no parameters (the token is not logged; KMS's example has
        // `null`); one by ids logs them.
        match (&r.grant_token, &r.key_id, &r.grant_id) {
            (None, Some(key_id), Some(grant_id)) => json!({ "keyId": key_id, "grantId": grant_id }),
            _ => Value::Null,
        }
    }

    fn authorizations(
        _: &State,
        _: &str,
        _: &Caller,
        _: &RetireRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        // "Permission to retire a grant is specified in the grant": no policy decides; `run`
        // checks the caller against the grant.
        Ok(Vec::new())
    }

    fn self_authorized_keys(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &RetireRequest,
    ) -> Vec<String> {
        named_grant(state, region, caller, r)
            .map(|g| vec![g.key_arn.clone()])
            .unwrap_or_default()
    }

    fn additional_event_data(_: &State, _: &str, _: &Caller, r: &RetireRequest) -> Option<Value> {
        let grant_id = match &r.grant_token {
            Some(token) => grant_id_of_token(token).ok()?,
            None => r.grant_id.clone()?,
        };
        Some(json!({ "grantId": grant_id }))
    }

    fn run(ctx: &mut Context<'_>, r: RetireRequest) -> Result<Outcome<Empty>, KmsError> {
        let grant = named_grant(ctx.state, ctx.region, ctx.caller, &r)?;
        let mut request =
            RequestContext::new("kms:RetireGrant", &grant.key_arn, &ctx.caller.principal);
        if request.principal_account.is_empty() && !ctx.caller.principal.contains('.') {
            request.principal_account.clone_from(&ctx.caller.account);
        }
        if !grant.may_retire(&request) {
            return Err(KmsError::new(
                KmsErrorKind::AccessDenied,
                format!(
                    "User: {} is not authorized to perform: kms:RetireGrant on resource: {} because the grant does not allow it",
                    request.caller_arn(),
                    grant.key_arn
                ),
            ));
        }
        Ok(Outcome {
            response: Empty {},
            response_elements: Some(json!({ "keyId": grant.key_arn })),
            key_material_id: None,
            additional_event_data: None,
            changes: vec![Change::DeleteGrant(grant.grant_id.clone())],
        })
    }
}

impl Operation for RevokeGrant {
    const NAME: &'static str = "RevokeGrant";
    const READ_ONLY: bool = false;
    type Request = RevokeRequest;
    type Response = Empty;

    fn request_parameters(r: &RevokeRequest) -> Value {
        json!({ "keyId": r.key_id, "grantId": r.grant_id })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &RevokeRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(state, region, caller, &r.key_id, "kms:RevokeGrant", None)
    }

    fn run(ctx: &mut Context<'_>, r: RevokeRequest) -> Result<Outcome<Empty>, KmsError> {
        check_grant_id(&r.grant_id)?;
        let key = ctx.key(&r.key_id)?;
        let grant = ctx
            .state
            .grants
            .get(&r.grant_id)
            .filter(|g| g.key_arn == key.arn && !g.retired)
            .ok_or_else(|| grant_not_found(&r.grant_id))?;
        Ok(Outcome {
            response: Empty {},
            response_elements: key_arn_element(key),
            key_material_id: None,
            additional_event_data: None,
            changes: vec![Change::DeleteGrant(grant.grant_id.clone())],
        })
    }
}
