//! Key policies: `GetKeyPolicy` (the stored text, byte for byte), `PutKeyPolicy` (parsed and
//! checked against lockout unless `BypassPolicyLockoutSafetyCheck`) and `ListKeyPolicies`
//! (always `["default"]`). Every key has exactly one policy, named `default`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::key_id::on_key_by_id;
use crate::kms::engine::ops::list_keys::paging_parameters;
use crate::kms::engine::ops::paging;
use crate::kms::engine::state::State;
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};
use crate::kms::policy::context::RequestContext;
use crate::kms::policy::default_policy::lockout_check;
use crate::kms::policy::document::PolicyDocument;

/// The only policy name KMS knows.
pub const DEFAULT_POLICY_NAME: &str = "default";

/// `GetKeyPolicy` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetRequest {
    pub key_id: String,
    #[serde(default)]
    pub policy_name: Option<String>,
}

/// `GetKeyPolicy` response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetResponse {
    pub policy: String,
    pub policy_name: String,
}

/// `PutKeyPolicy` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutRequest {
    pub key_id: String,
    #[serde(default)]
    pub policy_name: Option<String>,
    pub policy: String,
    #[serde(default)]
    pub bypass_policy_lockout_safety_check: Option<bool>,
}

/// `PutKeyPolicy` (empty) response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PutResponse {}

/// `ListKeyPolicies` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub key_id: String,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub marker: Option<String>,
}

/// `ListKeyPolicies` response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResponse {
    pub policy_names: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// `GetKeyPolicy`.
pub struct GetKeyPolicy;
/// `PutKeyPolicy`.
pub struct PutKeyPolicy;
/// `ListKeyPolicies`.
pub struct ListKeyPolicies;

/// Checks `PolicyName` (1–128 of `[\w]`) and that it names the one policy, `default`.
fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
    let Some(name) = name else { return Ok(()) };
    if name.is_empty() || name.len() > 128 {
        return Err(KmsError::validation(
            name,
            "policyName",
            "Member must have length between 1 and 128",
        ));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(KmsError::validation(
            name,
            "policyName",
            "Member must satisfy regular expression pattern: [\\w]+",
        ));
    }
    if name != DEFAULT_POLICY_NAME {
        return Err(KmsError::new(
            KmsErrorKind::NotFound,
            format!("Policy {name} does not exist; the only key policy is named default"),
        ));
    }
    Ok(())
}

/// Checks `Policy`: 1–131072 characters of `[\u0009\u000A\u000D\u0020-\u00FF]`.
fn check_policy_text(policy: &str) -> Result<(), KmsError> {
    let count = policy.chars().count();
    if count == 0 {
        return Err(KmsError::validation(
            policy,
            "policy",
            "Member must have length greater than or equal to 1",
        ));
    }
    if count > 131_072 {
        return Err(KmsError::validation(
            "…",
            "policy",
            "Member must have length less than or equal to 131072",
        ));
    }
    if !policy
        .chars()
        .all(|c| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
    {
        return Err(KmsError::validation(
            "…",
            "policy",
            "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
        ));
    }
    Ok(())
}

impl Operation for GetKeyPolicy {
    const NAME: &'static str = "GetKeyPolicy";
    const READ_ONLY: bool = true;
    type Request = GetRequest;
    type Response = GetResponse;

    fn request_parameters(r: &GetRequest) -> Value {
        match &r.policy_name {
            Some(name) => json!({ "keyId": r.key_id, "policyName": name }),
            None => json!({ "keyId": r.key_id }),
        }
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &GetRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key_by_id(state, region, caller, &r.key_id, "kms:GetKeyPolicy")
    }

    fn run(ctx: &mut Context<'_>, r: GetRequest) -> Result<Outcome<GetResponse>, KmsError> {
        check_policy_name(r.policy_name.as_deref())?;
        let key = ctx.key(&r.key_id)?;
        // The policy is never logged: responseElements stays null.
        Ok(Outcome::respond(GetResponse {
            policy: key.policy.text().to_owned(),
            policy_name: DEFAULT_POLICY_NAME.into(),
        }))
    }
}

impl Operation for PutKeyPolicy {
    const NAME: &'static str = "PutKeyPolicy";
    const READ_ONLY: bool = false;
    type Request = PutRequest;
    type Response = PutResponse;

    fn request_parameters(r: &PutRequest) -> Value {
        let mut p = Map::new();
        p.insert("keyId".into(), json!(r.key_id));
        if let Some(name) = &r.policy_name {
            p.insert("policyName".into(), json!(name));
        }
        // KMS logs the policy text itself (it is not secret).
        p.insert("policy".into(), json!(r.policy));
        p.insert(
            "bypassPolicyLockoutSafetyCheck".into(),
            json!(r.bypass_policy_lockout_safety_check.unwrap_or(false)),
        );
        Value::Object(p)
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &PutRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key_by_id(state, region, caller, &r.key_id, "kms:PutKeyPolicy")
    }

    fn run(ctx: &mut Context<'_>, r: PutRequest) -> Result<Outcome<PutResponse>, KmsError> {
        check_policy_name(r.policy_name.as_deref())?;
        check_policy_text(&r.policy)?;
        let key = ctx.key(&r.key_id)?;
        let policy = PolicyDocument::parse_key_policy(&r.policy)
            .map_err(|err| KmsError::new(KmsErrorKind::MalformedPolicyDocument, err.to_string()))?;
        if !r.bypass_policy_lockout_safety_check.unwrap_or(false) {
            let caller_ctx =
                RequestContext::new("kms:PutKeyPolicy", &key.arn, &ctx.caller.principal);
            lockout_check(&policy, &caller_ctx).map_err(|err| {
                KmsError::new(KmsErrorKind::MalformedPolicyDocument, err.to_string())
            })?;
        }
        let mut changed = key.clone();
        changed.policy = policy;
        Ok(Outcome::key_updated(PutResponse {}, key, changed))
    }
}

impl Operation for ListKeyPolicies {
    const NAME: &'static str = "ListKeyPolicies";
    const READ_ONLY: bool = true;
    type Request = ListRequest;
    type Response = ListResponse;

    fn request_parameters(r: &ListRequest) -> Value {
        let mut p = paging_parameters(r.limit, r.marker.as_deref())
            .as_object()
            .cloned()
            .unwrap_or_default();
        p.insert("keyId".into(), json!(r.key_id));
        Value::Object(p)
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &ListRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key_by_id(state, region, caller, &r.key_id, "kms:ListKeyPolicies")
    }

    fn run(ctx: &mut Context<'_>, r: ListRequest) -> Result<Outcome<ListResponse>, KmsError> {
        let limit = paging::limit(r.limit)?;
        ctx.key(&r.key_id)?;
        let items = vec![(
            DEFAULT_POLICY_NAME.to_owned(),
            DEFAULT_POLICY_NAME.to_owned(),
        )];
        let (policy_names, next_marker) = paging::page(items, limit, r.marker.as_deref())?;
        Ok(Outcome::respond(ListResponse {
            policy_names,
            truncated: next_marker.is_some(),
            next_marker,
        }))
    }
}
