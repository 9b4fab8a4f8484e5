//! The `grants` view: one row per grant created by a successful CreateGrant or listed by the
//! inventory's ListGrants, marked retired when a successful RetireGrant or RevokeGrant names
//! its grant id.
//!
//! The inventory's grants are the live grants of a key when it was taken: a listed grant is
//! open then (whatever earlier events said), and a grant of that key created by an earlier
//! event but not listed was retired or revoked by then (`retired_by` `inventory`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::rules::views::inventory::Inventory;
use crate::rules::views::{
    arn_account, days_between, is_crypto, Cell, ColumnType, KmsEvent, Row, View, ViewTable,
};

/// The grant id.
pub const GRANT_ID: &str = "grant_id";
/// The key.
pub const KEY_ARN: &str = "key_arn";
/// The key's account.
pub const KEY_ACCOUNT: &str = "key_account";
/// `granteePrincipal`.
pub const GRANTEE: &str = "grantee";
/// The grantee's account.
pub const GRANTEE_ACCOUNT: &str = "grantee_account";
/// `retiringPrincipal`.
pub const RETIRING_PRINCIPAL: &str = "retiring_principal";
/// `operations`, JSON array.
pub const OPERATIONS: &str = "operations";
/// Whether an operation is cryptographic.
pub const CRYPTO_OPERATIONS: &str = "crypto_operations";
/// Whether the grant has constraints.
pub const HAS_CONSTRAINTS: &str = "has_constraints";
/// The grant's name.
pub const NAME: &str = "name";
/// Who created it.
pub const CREATED_BY: &str = "created_by";
/// When it was created.
pub const CREATED: &str = "created";
/// Whether it was retired or revoked.
pub const RETIRED: &str = "retired";
/// When.
pub const RETIRED_AT: &str = "retired_at";
/// `RetireGrant` or `RevokeGrant`.
pub const RETIRED_BY: &str = "retired_by";
/// Days from creation to retirement, or to the end of the logs.
pub const AGE_DAYS: &str = "age_days";
/// Whether the grantee belongs to another account than the key.
pub const CROSS_ACCOUNT: &str = "cross_account";

/// The columns, in order.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    (GRANT_ID, ColumnType::Text),
    (KEY_ARN, ColumnType::Text),
    (KEY_ACCOUNT, ColumnType::Text),
    (GRANTEE, ColumnType::Text),
    (GRANTEE_ACCOUNT, ColumnType::Text),
    (RETIRING_PRINCIPAL, ColumnType::Text),
    (OPERATIONS, ColumnType::Text),
    (CRYPTO_OPERATIONS, ColumnType::Bool),
    (HAS_CONSTRAINTS, ColumnType::Bool),
    (NAME, ColumnType::Text),
    (CREATED_BY, ColumnType::Text),
    (CREATED, ColumnType::Time),
    (RETIRED, ColumnType::Bool),
    (RETIRED_AT, ColumnType::Time),
    (RETIRED_BY, ColumnType::Text),
    (AGE_DAYS, ColumnType::Int),
    (CROSS_ACCOUNT, ColumnType::Bool),
];

/// A grant, as replayed from the events and the inventory.
#[derive(Debug, Clone, Default)]
pub struct Grant {
    /// The grant id.
    pub id: String,
    /// The key.
    pub key_arn: Option<String>,
    /// The grantee.
    pub grantee: Option<String>,
    /// The retiring principal.
    pub retiring: Option<String>,
    /// Operations allowed.
    pub operations: Vec<String>,
    /// Constraints given.
    pub constraints: bool,
    /// Grant name.
    pub name: Option<String>,
    /// Creator (unknown for a grant only the inventory lists).
    pub created_by: Option<String>,
    /// Creation time (µs): the CreateGrant's, else the inventory's `CreationDate`, else the
    /// time the inventory was taken.
    pub created: i64,
    /// Retirement: (time, event name).
    pub retired: Option<(i64, String)>,
    /// Evidence keys.
    pub evidence: Vec<String>,
}

/// `retired_by` of a grant the inventory no longer lists.
pub const RETIRED_BY_INVENTORY: &str = "inventory";

/// Lays the inventory's grants over those replayed from the events before it was taken.
fn overlay(grants: &mut BTreeMap<String, Grant>, inventory: &Inventory) {
    for (index, key) in inventory.keys.iter().enumerate() {
        let Some(listed) = &key.grants else { continue };
        let evidence = inventory.evidence_key(index);
        for grant in grants.values_mut() {
            let gone = grant.key_arn.as_deref() == Some(key.arn.as_str())
                && grant.retired.is_none()
                && !listed.iter().any(|g| g.id == grant.id);
            if gone {
                grant.retired = Some((inventory.taken, RETIRED_BY_INVENTORY.to_owned()));
                grant.evidence.push(evidence.clone());
            }
        }
        for item in listed {
            if let Some(grant) = grants.get_mut(&item.id) {
                // Live when the inventory was taken, whatever an earlier event said.
                grant.retired = None;
                grant.key_arn = Some(key.arn.clone());
                if !grant.evidence.contains(&evidence) {
                    grant.evidence.push(evidence.clone());
                }
                continue;
            }
            grants.insert(
                item.id.clone(),
                Grant {
                    id: item.id.clone(),
                    key_arn: Some(key.arn.clone()),
                    grantee: item.grantee.clone(),
                    retiring: item.retiring.clone(),
                    operations: item.operations.clone(),
                    constraints: item.constraints,
                    name: item.name.clone(),
                    created_by: None,
                    created: item.created.unwrap_or(inventory.taken),
                    retired: None,
                    evidence: vec![evidence.clone()],
                },
            );
        }
    }
}

/// Replays the grants of `kms`, by grant id, with the inventory laid over them at the time
/// it was taken.
pub fn replay(kms: &[KmsEvent], inventory: Option<&Inventory>) -> BTreeMap<String, Grant> {
    let mut grants: BTreeMap<String, Grant> = BTreeMap::new();
    let mut pending = inventory;
    for event in kms {
        if let Some(snapshot) = pending.filter(|i| event.time > i.taken) {
            overlay(&mut grants, snapshot);
            pending = None;
        }
        if !event.ok() {
            continue;
        }
        match event.name.as_str() {
            "CreateGrant" => {
                let Some(id) = event.response_text("grantId") else {
                    continue;
                };
                let request = event.request.as_ref();
                let operations = match request.and_then(|r| r.get("operations")) {
                    Some(Value::Array(items)) => items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    Some(Value::String(s)) => vec![s.clone()],
                    _ => Vec::new(),
                };
                grants.insert(
                    id.to_owned(),
                    Grant {
                        id: id.to_owned(),
                        key_arn: event.key_arn.clone(),
                        grantee: event.request_text("granteePrincipal").map(str::to_owned),
                        retiring: event.request_text("retiringPrincipal").map(str::to_owned),
                        operations,
                        constraints: request
                            .and_then(|r| r.get("constraints"))
                            .is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty())),
                        name: event.request_text("name").map(str::to_owned),
                        created_by: event.principal.clone(),
                        created: event.time,
                        retired: None,
                        evidence: vec![event.evidence_key()],
                    },
                );
            }
            "RetireGrant" | "RevokeGrant" => {
                let id = event.request_text("grantId").or_else(|| {
                    event
                        .additional
                        .as_ref()
                        .and_then(|a| a.get("grantId"))
                        .and_then(Value::as_str)
                });
                if let Some(grant) = id.and_then(|id| grants.get_mut(id)) {
                    if grant.retired.is_none() {
                        grant.retired = Some((event.time, event.name.clone()));
                        grant.evidence.push(event.evidence_key());
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(snapshot) = pending {
        overlay(&mut grants, snapshot);
    }
    grants
}

/// Builds the view.
pub fn build(kms: &[KmsEvent], as_of: i64, inventory: Option<&Inventory>) -> ViewTable {
    let rows = replay(kms, inventory)
        .into_values()
        .map(|g| {
            let key_account = g.key_arn.as_deref().and_then(arn_account);
            let grantee_account = g.grantee.as_deref().and_then(arn_account);
            let end = g.retired.as_ref().map_or(as_of, |(t, _)| *t);
            Row {
                cells: vec![
                    Cell::Text(g.id.clone()),
                    Cell::text(g.key_arn.as_deref()),
                    Cell::text(key_account),
                    Cell::text(g.grantee.as_deref()),
                    Cell::text(grantee_account),
                    Cell::text(g.retiring.as_deref()),
                    Cell::list(&g.operations),
                    Cell::Bool(g.operations.iter().any(|o| is_crypto(o))),
                    Cell::Bool(g.constraints),
                    Cell::text(g.name.as_deref()),
                    Cell::text(g.created_by.as_deref()),
                    Cell::Time(g.created),
                    Cell::Bool(g.retired.is_some()),
                    Cell::time(g.retired.as_ref().map(|(t, _)| *t)),
                    Cell::text(g.retired.as_ref().map(|(_, n)| n.as_str())),
                    Cell::Int(days_between(g.created, end)),
                    Cell::Bool(
                        matches!((grantee_account, key_account), (Some(a), Some(k)) if a != k),
                    ),
                ],
                evidence: g.evidence,
            }
        })
        .collect();
    ViewTable {
        view: View::Grants,
        rows,
    }
}
