//! Operations that name a key only by key id or key ARN (management operations such as
//! `GetKeyPolicy`, `TagResource`, `UpdateKeyDescription`): aliases are refused before
//! authorization, as KMS does, with `NotFoundException`.

use std::collections::BTreeMap;

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::KeyRef;
use crate::kms::engine::ops::on_key;
use crate::kms::engine::state::State;
use crate::kms::engine::{Authorization, Caller};

/// Rejects an alias name or alias ARN where only a key id or key ARN is accepted.
pub fn key_id_or_arn(key_id: &str) -> Result<(), KmsError> {
    match KeyRef::parse(key_id)? {
        KeyRef::Id(_) | KeyRef::KeyArn { .. } => Ok(()),
        KeyRef::AliasName(_) | KeyRef::AliasArn { .. } => Err(KmsError::new(
            KmsErrorKind::NotFound,
            format!("Invalid keyId {key_id}"),
        )),
    }
}

/// The authorization of `action` on the key `key_id` names, which must be a key id or ARN.
pub fn on_key_by_id(
    state: &State,
    region: &str,
    caller: &Caller,
    key_id: &str,
    action: &str,
) -> Result<Vec<Authorization>, KmsError> {
    key_id_or_arn(key_id)?;
    on_key(
        state,
        region,
        caller,
        key_id,
        action,
        None::<&BTreeMap<String, String>>,
    )
}
