//! The `grants` view: one row per grant created by a successful CreateGrant, marked retired
//! when a successful RetireGrant or RevokeGrant names its grant id.

use std::collections::BTreeMap;

use serde_json::Value;

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

/// A grant, as replayed from the events.
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
    /// Creator.
    pub created_by: Option<String>,
    /// Creation time (µs).
    pub created: i64,
    /// Retirement: (time, event name).
    pub retired: Option<(i64, String)>,
    /// Evidence keys.
    pub evidence: Vec<String>,
}

/// Replays the grants of `kms`, by grant id.
pub fn replay(kms: &[KmsEvent]) -> BTreeMap<String, Grant> {
    let mut grants: BTreeMap<String, Grant> = BTreeMap::new();
    for event in kms.iter().filter(|e| e.ok()) {
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
    grants
}

/// Builds the view.
pub fn build(kms: &[KmsEvent], as_of: i64) -> ViewTable {
    let rows = replay(kms)
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
