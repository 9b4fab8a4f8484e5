//! Automatic rotation settings: `EnableKeyRotation` (period 90–2560 days, default 365),
//! `DisableKeyRotation` and `GetKeyRotationStatus`. Only symmetric keys with KMS-generated
//! material rotate automatically. A set of multi-Region keys rotates together: the setting
//! is made on the primary key ("To enable or disable automatic rotation of a set of related
//! multi-Region keys, set the property on the primary key") and copied to its replicas.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::KeySpec;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::multi_region::{primary_of, replicas_of, synced};
use crate::kms::engine::ops::{on_key, usable};
use crate::kms::engine::state::{Change, Key, KeyState, Origin, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The default rotation period.
pub const DEFAULT_ROTATION_DAYS: u32 = 365;

/// `EnableKeyRotation` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EnableRequest {
    pub key_id: String,
    #[serde(default)]
    pub rotation_period_in_days: Option<u32>,
}

/// `DisableKeyRotation` / `GetKeyRotationStatus` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyRequest {
    pub key_id: String,
}

/// Empty response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

/// `GetKeyRotationStatus` response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatusResponse {
    pub key_rotation_enabled: bool,
    pub key_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_in_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_rotation_date: Option<f64>,
}

/// Why a key cannot rotate automatically, if it cannot.
pub fn cannot_rotate(key: &Key) -> Option<&'static str> {
    if key.spec != KeySpec::SymmetricDefault {
        Some("asymmetric and HMAC keys")
    } else if key.origin == Origin::External {
        Some("keys with imported key material")
    } else if key.origin == Origin::AwsCloudHsm {
        Some("keys in a custom key store")
    } else {
        None
    }
}

/// `UnsupportedOperationException` for a rotation setting or an on-demand rotation asked of
/// a multi-Region replica key: those are made on the primary key.
pub fn replica_refused(key: &Key, primary_region: Option<&str>) -> Result<(), KmsError> {
    if !key.is_replica() {
        return Ok(());
    }
    Err(KmsError::new(
        KmsErrorKind::UnsupportedOperation,
        format!(
            "{} is a multi-Region replica key; rotate it through its primary key{}.",
            key.arn,
            primary_region.map_or_else(String::new, |r| format!(" in {r}"))
        ),
    ))
}

/// The outcome of changing the rotation settings of `key` to `changed`: the replicas of a
/// multi-Region primary key take the same settings.
fn with_replicas<R>(ctx: &Context<'_>, response: R, key: &Key, changed: Key) -> Outcome<R> {
    let replicas: Vec<Change> = replicas_of(ctx.state, key)
        .into_iter()
        .map(|replica| Change::PutKey(Box::new(synced(replica, &changed))))
        .collect();
    let mut outcome = Outcome::key_updated(response, key, changed);
    outcome.changes.extend(replicas);
    outcome
}

fn primary_region<'s>(ctx: &Context<'s>, key: &'s Key) -> Option<&'s str> {
    let state: &'s State = ctx.state;
    primary_of(state, key).map(|p| p.region.as_str())
}

fn unsupported(key: &Key, what: &str) -> KmsError {
    KmsError::new(
        KmsErrorKind::UnsupportedOperation,
        format!("{} does not support automatic rotation ({what})", key.arn),
    )
}

/// `EnableKeyRotation`.
pub struct EnableKeyRotation;
/// `DisableKeyRotation`.
pub struct DisableKeyRotation;
/// `GetKeyRotationStatus`.
pub struct GetKeyRotationStatus;

impl Operation for EnableKeyRotation {
    const NAME: &'static str = "EnableKeyRotation";
    const READ_ONLY: bool = false;
    type Request = EnableRequest;
    type Response = Empty;

    fn request_parameters(r: &EnableRequest) -> Value {
        match r.rotation_period_in_days {
            Some(days) => json!({ "keyId": r.key_id, "rotationPeriodInDays": days }),
            None => json!({ "keyId": r.key_id }),
        }
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &EnableRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(
            state,
            region,
            caller,
            &r.key_id,
            "kms:EnableKeyRotation",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: EnableRequest) -> Result<Outcome<Empty>, KmsError> {
        let days = r.rotation_period_in_days.unwrap_or(DEFAULT_ROTATION_DAYS);
        if !(90..=2560).contains(&days) {
            return Err(KmsError::validation(
                &days.to_string(),
                "rotationPeriodInDays",
                "Member must have value between 90 and 2560",
            ));
        }
        let key = ctx.key(&r.key_id)?;
        usable(key)?;
        if let Some(what) = cannot_rotate(key) {
            return Err(unsupported(key, what));
        }
        replica_refused(key, primary_region(ctx, key))?;
        let mut changed = key.clone();
        let since = key.current().map_or(ctx.now, |g| g.since);
        changed.rotation_period_days = Some(days);
        changed.next_rotation = Some(std::cmp::max(
            since + chrono::Duration::days(i64::from(days)),
            ctx.now,
        ));
        Ok(with_replicas(ctx, Empty {}, key, changed))
    }
}

impl Operation for DisableKeyRotation {
    const NAME: &'static str = "DisableKeyRotation";
    const READ_ONLY: bool = false;
    type Request = KeyRequest;
    type Response = Empty;

    fn request_parameters(r: &KeyRequest) -> Value {
        json!({ "keyId": r.key_id })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &KeyRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(
            state,
            region,
            caller,
            &r.key_id,
            "kms:DisableKeyRotation",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: KeyRequest) -> Result<Outcome<Empty>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        usable(key)?;
        if let Some(what) = cannot_rotate(key) {
            return Err(unsupported(key, what));
        }
        replica_refused(key, primary_region(ctx, key))?;
        let mut changed = key.clone();
        changed.rotation_period_days = None;
        changed.next_rotation = None;
        Ok(with_replicas(ctx, Empty {}, key, changed))
    }
}

impl Operation for GetKeyRotationStatus {
    const NAME: &'static str = "GetKeyRotationStatus";
    const READ_ONLY: bool = true;
    type Request = KeyRequest;
    type Response = StatusResponse;

    fn request_parameters(r: &KeyRequest) -> Value {
        json!({ "keyId": r.key_id })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &KeyRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key(
            state,
            region,
            caller,
            &r.key_id,
            "kms:GetKeyRotationStatus",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: KeyRequest) -> Result<Outcome<StatusResponse>, KmsError> {
        let key = ctx.key(&r.key_id)?;
        if matches!(
            key.state,
            KeyState::PendingDeletion | KeyState::PendingReplicaDeletion
        ) {
            return Err(crate::kms::engine::ops::invalid_state(key, key.state));
        }
        #[allow(clippy::cast_precision_loss)]
        Ok(Outcome::respond(StatusResponse {
            key_rotation_enabled: key.rotation_period_days.is_some(),
            key_id: key.arn.clone(),
            rotation_period_in_days: key.rotation_period_days,
            next_rotation_date: key.next_rotation.map(|t| t.timestamp() as f64),
        }))
    }
}
