//! The `keys` view: one row per KMS key seen in the events (or in the inventory), with its
//! properties from CreateKey, its state from DisableKey / EnableKey / ScheduleKeyDeletion /
//! CancelKeyDeletion / DeleteKey, its rotation setting from Enable/DisableKeyRotation, the
//! age of its key material (CreateKey, RotateKey, RotateKeyOnDemand, ImportKeyMaterial),
//! whether it can rotate automatically (and why not), and its use.
//!
//! A key inventory ([`Inventory`]) is laid over the replay at the time it was taken: what it
//! says replaces what the earlier events said, and the later events change it as usual. AWS
//! managed keys rotate every year and cannot be changed: their rotation is always on, every
//! 365 days.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::rules::views::inventory::{Inventory, AWS_MANAGED};
use crate::rules::views::{
    arn_account, arn_region, days_between, is_crypto, Cell, ColumnType, KmsEvent, Row, View,
    ViewTable, DAY_US,
};

/// The key ARN.
pub const KEY_ARN: &str = "key_arn";
/// The key's account.
pub const ACCOUNT: &str = "account";
/// The key's Region.
pub const REGION: &str = "region";
/// Creation time.
pub const CREATED: &str = "created";
/// Who created it.
pub const CREATED_BY: &str = "created_by";
/// `KeySpec`.
pub const KEY_SPEC: &str = "key_spec";
/// `KeyUsage`.
pub const KEY_USAGE: &str = "key_usage";
/// `Origin`.
pub const ORIGIN: &str = "origin";
/// `KeyManager`.
pub const KEY_MANAGER: &str = "key_manager";
/// `CustomKeyStoreId`.
pub const CUSTOM_KEY_STORE_ID: &str = "custom_key_store_id";
/// `MultiRegion`.
pub const MULTI_REGION: &str = "multi_region";
/// Current state.
pub const STATE: &str = "state";
/// When the state last changed.
pub const STATE_CHANGED: &str = "state_changed";
/// Who changed it.
pub const STATE_CHANGED_BY: &str = "state_changed_by";
/// Scheduled deletion date.
pub const DELETION_DATE: &str = "deletion_date";
/// Whether automatic rotation is on.
pub const ROTATION_ENABLED: &str = "rotation_enabled";
/// Rotation period.
pub const ROTATION_PERIOD_DAYS: &str = "rotation_period_days";
/// Last rotation.
pub const LAST_ROTATION: &str = "last_rotation";
/// Last change of key material.
pub const LAST_MATERIAL_CHANGE: &str = "last_material_change";
/// Days since then.
pub const MATERIAL_AGE_DAYS: &str = "material_age_days";
/// Days since creation.
pub const AGE_DAYS: &str = "age_days";
/// Expiry of imported key material.
pub const VALID_TO: &str = "valid_to";
/// Days to that expiry (negative once expired).
pub const DAYS_TO_EXPIRY: &str = "days_to_expiry";
/// Whether KMS can rotate the key automatically.
pub const CAN_ROTATE: &str = "can_rotate";
/// Why it cannot.
pub const ROTATE_REASON: &str = "rotate_reason";
/// Last successful cryptographic use.
pub const LAST_USED: &str = "last_used";
/// Days since then.
pub const DAYS_SINCE_USE: &str = "days_since_use";
/// Cryptographic calls (successful or not) after the key was disabled or scheduled for
/// deletion.
pub const USES_AFTER_STATE_CHANGE: &str = "uses_after_state_change";
/// `events`, `inventory` or `inventory+events`.
pub const SOURCE: &str = "source";

/// The columns, in order.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    (KEY_ARN, ColumnType::Text),
    (ACCOUNT, ColumnType::Text),
    (REGION, ColumnType::Text),
    (CREATED, ColumnType::Time),
    (CREATED_BY, ColumnType::Text),
    (KEY_SPEC, ColumnType::Text),
    (KEY_USAGE, ColumnType::Text),
    (ORIGIN, ColumnType::Text),
    (KEY_MANAGER, ColumnType::Text),
    (CUSTOM_KEY_STORE_ID, ColumnType::Text),
    (MULTI_REGION, ColumnType::Bool),
    (STATE, ColumnType::Text),
    (STATE_CHANGED, ColumnType::Time),
    (STATE_CHANGED_BY, ColumnType::Text),
    (DELETION_DATE, ColumnType::Time),
    (ROTATION_ENABLED, ColumnType::Bool),
    (ROTATION_PERIOD_DAYS, ColumnType::Int),
    (LAST_ROTATION, ColumnType::Time),
    (LAST_MATERIAL_CHANGE, ColumnType::Time),
    (MATERIAL_AGE_DAYS, ColumnType::Int),
    (AGE_DAYS, ColumnType::Int),
    (VALID_TO, ColumnType::Time),
    (DAYS_TO_EXPIRY, ColumnType::Int),
    (CAN_ROTATE, ColumnType::Bool),
    (ROTATE_REASON, ColumnType::Text),
    (LAST_USED, ColumnType::Time),
    (DAYS_SINCE_USE, ColumnType::Int),
    (USES_AFTER_STATE_CHANGE, ColumnType::Int),
    (SOURCE, ColumnType::Text),
];

/// Default rotation period when EnableKeyRotation names none.
pub const DEFAULT_ROTATION_PERIOD_DAYS: i64 = 365;

/// How often AWS rotates AWS managed keys (a setting nobody can change).
pub const AWS_MANAGED_ROTATION_DAYS: i64 = 365;

/// Post-state-change uses kept as evidence (the views' loader keeps that many calls one by
/// one after each event of a key: `events::load`).
pub(crate) const USE_EVIDENCE: usize = 3;

/// A key, as replayed.
#[derive(Debug, Clone, Default)]
struct Key {
    created: Option<i64>,
    created_by: Option<String>,
    key_spec: Option<String>,
    key_usage: Option<String>,
    origin: Option<String>,
    key_manager: Option<String>,
    custom_key_store_id: Option<String>,
    multi_region: Option<bool>,
    state: Option<String>,
    state_changed: Option<i64>,
    state_changed_by: Option<String>,
    deletion_date: Option<i64>,
    rotation_enabled: Option<bool>,
    rotation_period_days: Option<i64>,
    last_rotation: Option<i64>,
    last_material_change: Option<i64>,
    valid_to: Option<i64>,
    last_used: Option<i64>,
    uses_after: i64,
    from_inventory: bool,
    from_events: bool,
    /// Evidence by purpose, so a later event of the same purpose replaces the earlier one.
    evidence: BTreeMap<&'static str, String>,
    use_evidence: Vec<String>,
}

fn metadata(event: &KmsEvent) -> Option<&Value> {
    event.response.as_ref()?.get("keyMetadata")
}

fn meta_text<'a>(event: &'a KmsEvent, key: &str) -> Option<&'a str> {
    metadata(event)
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .or_else(|| event.request_text(key))
}

fn meta_bool(event: &KmsEvent, key: &str) -> Option<bool> {
    metadata(event)
        .and_then(|m| m.get(key))
        .or_else(|| event.request.as_ref().and_then(|r| r.get(key)))
        .and_then(Value::as_bool)
}

/// Whether KMS can rotate a key automatically, and why not.
pub fn rotatability(
    key_manager: Option<&str>,
    spec: Option<&str>,
    origin: Option<&str>,
    custom_key_store: Option<&str>,
) -> (Option<bool>, Option<String>) {
    if key_manager == Some(AWS_MANAGED) {
        return (Some(true), None);
    }
    match origin {
        Some("EXTERNAL") => {
            return (
                Some(false),
                Some("imported key material (origin EXTERNAL)".to_owned()),
            )
        }
        Some(o @ ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")) => {
            return (Some(false), Some(format!("custom key store (origin {o})")))
        }
        _ => {}
    }
    if custom_key_store.is_some() {
        return (Some(false), Some("custom key store".to_owned()));
    }
    match spec {
        Some("SYMMETRIC_DEFAULT") => (Some(true), None),
        Some(s) if s.starts_with("HMAC") => (Some(false), Some(format!("HMAC key ({s})"))),
        Some(s) => (Some(false), Some(format!("asymmetric key ({s})"))),
        None => (None, None),
    }
}

/// The latest of two optional times.
fn latest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Replaces `slot` with `value` when the inventory gives one.
fn take(slot: &mut Option<String>, value: &Option<String>) {
    if value.is_some() {
        slot.clone_from(value);
    }
}

/// Lays the inventory over the keys replayed from the events before it was taken.
fn overlay(keys: &mut BTreeMap<String, Key>, inventory: &Inventory) {
    for (index, item) in inventory.keys.iter().enumerate() {
        let key = keys.entry(item.arn.clone()).or_default();
        key.from_inventory = true;
        key.evidence
            .insert("inventory", inventory.evidence_key(index));
        if item.created.is_some() {
            key.created = item.created;
        }
        take(&mut key.key_spec, &item.key_spec);
        take(&mut key.key_usage, &item.key_usage);
        take(&mut key.origin, &item.origin);
        take(&mut key.key_manager, &item.key_manager);
        take(&mut key.custom_key_store_id, &item.custom_key_store_id);
        if item.multi_region.is_some() {
            key.multi_region = item.multi_region;
        }
        if let Some(state) = &item.state {
            if key.state.as_deref() != Some(state.as_str()) {
                // Changed by something the logs do not show: when and by whom is unknown.
                key.state = Some(state.clone());
                key.state_changed = None;
                key.state_changed_by = None;
                key.evidence.remove("state");
                key.use_evidence.clear();
                key.uses_after = 0;
            }
            key.deletion_date = if state == "PendingDeletion" {
                item.deletion_date.or(key.deletion_date)
            } else {
                None
            };
        }
        if let Some(rotation) = item.rotation {
            let period = rotation
                .enabled
                .then(|| rotation.period_days.unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS));
            if key.rotation_enabled != Some(rotation.enabled) || key.rotation_period_days != period
            {
                key.evidence.remove("rotation");
            }
            key.rotation_enabled = Some(rotation.enabled);
            key.rotation_period_days = period;
        }
        key.last_rotation = latest(key.last_rotation, item.last_rotation);
        let external = key.origin.as_deref() == Some("EXTERNAL");
        let created = key.created.filter(|_| !external);
        key.last_material_change = latest(
            key.last_material_change,
            latest(item.last_rotation, created),
        );
        if external {
            key.valid_to = item.valid_to;
        }
    }
}

/// The last material change of an AWS managed key: the latest known one, or, once a year
/// has passed since it (or since the key's creation), its latest yearly anniversary, as AWS
/// rotates those keys every year.
fn aws_managed_material(key: &Key, as_of: i64) -> Option<i64> {
    let known = key.last_material_change.or(key.created)?;
    let years = days_between(known, as_of).max(0) / AWS_MANAGED_ROTATION_DAYS;
    Some(known + years * AWS_MANAGED_ROTATION_DAYS * DAY_US)
}

/// Builds the view.
pub fn build(kms: &[KmsEvent], as_of: i64, inventory: Option<&Inventory>) -> ViewTable {
    let mut keys: BTreeMap<String, Key> = BTreeMap::new();
    let mut pending = inventory;
    for event in kms {
        if let Some(snapshot) = pending.filter(|i| event.time > i.taken) {
            overlay(&mut keys, snapshot);
            pending = None;
        }
        let Some(arn) = &event.key_arn else { continue };
        let key = keys.entry(arn.clone()).or_default();
        key.from_events = true;
        if is_crypto(&event.name) && event.is_call() {
            if event.ok() {
                key.last_used = Some(event.time);
            }
            if matches!(key.state.as_deref(), Some("Disabled" | "PendingDeletion")) {
                // With the calls the loader folded into this one (`KmsEvent::folded`).
                key.uses_after += 1 + i64::from(event.folded);
                if key.use_evidence.len() < USE_EVIDENCE {
                    key.use_evidence.push(event.evidence_key());
                }
            }
            continue;
        }
        if !event.ok() {
            continue;
        }
        let state = |key: &mut Key, value: &str| {
            key.state = Some(value.to_owned());
            key.state_changed = Some(event.time);
            key.state_changed_by.clone_from(&event.principal);
            key.evidence.insert("state", event.evidence_key());
            key.use_evidence.clear();
            key.uses_after = 0;
        };
        match event.name.as_str() {
            "CreateKey" => {
                key.created = event.key_created_at.or(Some(event.time));
                key.created_by.clone_from(&event.principal);
                key.key_spec = meta_text(event, "keySpec")
                    .or_else(|| meta_text(event, "customerMasterKeySpec"))
                    .map(str::to_owned)
                    .or_else(|| event.key_spec.clone())
                    .or_else(|| Some("SYMMETRIC_DEFAULT".to_owned()));
                key.key_usage = event
                    .key_usage
                    .clone()
                    .or_else(|| Some("ENCRYPT_DECRYPT".to_owned()));
                key.origin = event
                    .key_origin
                    .clone()
                    .or_else(|| Some("AWS_KMS".to_owned()));
                key.key_manager = event
                    .key_manager
                    .clone()
                    .or_else(|| Some("CUSTOMER".to_owned()));
                key.custom_key_store_id = meta_text(event, "customKeyStoreId").map(str::to_owned);
                key.multi_region = meta_bool(event, "multiRegion").or(Some(false));
                key.rotation_enabled = Some(false);
                key.rotation_period_days = None;
                let external = key.origin.as_deref() == Some("EXTERNAL");
                key.last_material_change = if external { None } else { key.created };
                let initial = metadata(event)
                    .and_then(|m| m.get("keyState"))
                    .and_then(Value::as_str)
                    .unwrap_or(if external { "PendingImport" } else { "Enabled" })
                    .to_owned();
                state(key, &initial);
                key.evidence.insert("created", event.evidence_key());
            }
            "DisableKey" => state(key, "Disabled"),
            "EnableKey" => state(key, "Enabled"),
            "ScheduleKeyDeletion" => {
                state(key, "PendingDeletion");
                key.deletion_date = event.deletion_date;
            }
            "CancelKeyDeletion" => {
                state(key, "Disabled");
                key.deletion_date = None;
            }
            "DeleteKey" => state(key, "Deleted"),
            "EnableKeyRotation" => {
                key.rotation_enabled = Some(true);
                key.rotation_period_days = Some(
                    event
                        .rotation_period_days
                        .unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS),
                );
                key.evidence.insert("rotation", event.evidence_key());
            }
            "DisableKeyRotation" => {
                key.rotation_enabled = Some(false);
                key.rotation_period_days = None;
                key.evidence.insert("rotation", event.evidence_key());
            }
            "RotateKey" | "RotateKeyOnDemand" => {
                key.last_rotation = Some(event.time);
                key.last_material_change = Some(event.time);
                key.evidence.insert("material", event.evidence_key());
            }
            "ImportKeyMaterial" => {
                key.last_material_change = Some(event.time);
                let expires =
                    event.request_text("expirationModel") != Some("KEY_MATERIAL_DOES_NOT_EXPIRE");
                key.valid_to = if expires { event.valid_to } else { None };
                key.evidence.insert("material", event.evidence_key());
                if key.state.as_deref() == Some("PendingImport") {
                    state(key, "Enabled");
                }
            }
            // Material an administrator deleted is gone on purpose; material KMS deleted at
            // its ValidTo keeps that date, so the key reads as expired and not replaced
            // until the next ImportKeyMaterial.
            "DeleteImportedKeyMaterial" => {
                key.valid_to = None;
                state(key, "PendingImport");
            }
            "DeleteExpiredKeyMaterial" => state(key, "PendingImport"),
            _ => {}
        }
    }
    if let Some(snapshot) = pending {
        overlay(&mut keys, snapshot);
    }
    let rows = keys
        .into_iter()
        .map(|(arn, mut key)| {
            if key.key_manager.as_deref() == Some(AWS_MANAGED) {
                key.rotation_enabled = Some(true);
                key.rotation_period_days = Some(AWS_MANAGED_ROTATION_DAYS);
                key.last_material_change = aws_managed_material(&key, as_of);
            }
            let (can_rotate, reason) = rotatability(
                key.key_manager.as_deref(),
                key.key_spec.as_deref(),
                key.origin.as_deref(),
                key.custom_key_store_id.as_deref(),
            );
            let source = match (key.from_inventory, key.from_events) {
                (true, true) => "inventory+events",
                (true, false) => "inventory",
                _ => "events",
            };
            let mut evidence: Vec<String> = key.evidence.into_values().collect();
            evidence.extend(key.use_evidence);
            Row {
                cells: vec![
                    Cell::text(Some(&arn)),
                    Cell::text(arn_account(&arn)),
                    Cell::text(arn_region(&arn)),
                    Cell::time(key.created),
                    Cell::text(key.created_by.as_deref()),
                    Cell::text(key.key_spec.as_deref()),
                    Cell::text(key.key_usage.as_deref()),
                    Cell::text(key.origin.as_deref()),
                    Cell::text(key.key_manager.as_deref()),
                    Cell::text(key.custom_key_store_id.as_deref()),
                    Cell::bool(key.multi_region),
                    Cell::text(key.state.as_deref()),
                    Cell::time(key.state_changed),
                    Cell::text(key.state_changed_by.as_deref()),
                    Cell::time(key.deletion_date),
                    Cell::bool(key.rotation_enabled),
                    Cell::int(key.rotation_period_days),
                    Cell::time(key.last_rotation),
                    Cell::time(key.last_material_change),
                    Cell::int(key.last_material_change.map(|t| days_between(t, as_of))),
                    Cell::int(key.created.map(|t| days_between(t, as_of))),
                    Cell::time(key.valid_to),
                    Cell::int(key.valid_to.map(|t| days_between(as_of, t))),
                    Cell::bool(can_rotate),
                    Cell::text(reason.as_deref()),
                    Cell::time(key.last_used),
                    Cell::int(key.last_used.map(|t| days_between(t, as_of))),
                    Cell::Int(key.uses_after),
                    Cell::Text(source.to_owned()),
                ],
                evidence,
            }
        })
        .collect();
    ViewTable {
        view: View::Keys,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotatability_reasons() {
        assert_eq!(
            rotatability(None, Some("SYMMETRIC_DEFAULT"), Some("AWS_KMS"), None),
            (Some(true), None)
        );
        assert_eq!(
            rotatability(None, Some("RSA_2048"), Some("AWS_KMS"), None).1,
            Some("asymmetric key (RSA_2048)".to_owned())
        );
        assert_eq!(
            rotatability(None, Some("HMAC_256"), None, None).1,
            Some("HMAC key (HMAC_256)".to_owned())
        );
        assert_eq!(
            rotatability(None, Some("SYMMETRIC_DEFAULT"), Some("EXTERNAL"), None).0,
            Some(false)
        );
        assert_eq!(
            rotatability(
                None,
                Some("SYMMETRIC_DEFAULT"),
                Some("AWS_CLOUDHSM"),
                Some("cks-1")
            )
            .0,
            Some(false)
        );
        assert_eq!(rotatability(None, None, None, None), (None, None));
    }
}
