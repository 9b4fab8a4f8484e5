//! Automatic rotation settings: `EnableKeyRotation` (period 90–2560 days, default 365),
//! `DisableKeyRotation` and `GetKeyRotationStatus`. Only symmetric keys with KMS-generated
//! material rotate automatically.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::KeySpec;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::{on_key, usable};
use crate::kms::engine::state::{Key, KeyState, Origin, State};
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
        let mut changed = key.clone();
        let since = key.current().map_or(ctx.now, |g| g.since);
        changed.rotation_period_days = Some(days);
        changed.next_rotation = Some(std::cmp::max(
            since + chrono::Duration::days(i64::from(days)),
            ctx.now,
        ));
        Ok(Outcome::key_updated(Empty {}, key, changed))
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
        let mut changed = key.clone();
        changed.rotation_period_days = None;
        changed.next_rotation = None;
        Ok(Outcome::key_updated(Empty {}, key, changed))
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
        if key.state == KeyState::PendingDeletion {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending deletion.", key.arn),
            ));
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
