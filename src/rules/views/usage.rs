//! The `usage` view: one row per principal, key and operation over the KMS API calls that
//! name a key (service events such as RotateKey are not usage).

use std::collections::{BTreeMap, BTreeSet};

use crate::rules::views::{
    days_between, is_crypto, Cell, ColumnType, KmsEvent, Row, View, ViewTable, MAX_ROW_EVIDENCE,
};

/// The principal (lake column `principal`).
pub const PRINCIPAL: &str = "principal";
/// Its account.
pub const PRINCIPAL_ACCOUNT: &str = "principal_account";
/// The key.
pub const KEY_ARN: &str = "key_arn";
/// The key's account.
pub const KEY_ACCOUNT: &str = "key_account";
/// `eventName`.
pub const OPERATION: &str = "operation";
/// Whether the operation is cryptographic.
pub const CRYPTO: &str = "crypto";
/// Successful calls.
pub const CALLS: &str = "calls";
/// Failed calls.
pub const ERRORS: &str = "errors";
/// First call.
pub const FIRST_SEEN: &str = "first_seen";
/// Last call.
pub const LAST_SEEN: &str = "last_seen";
/// Last successful call.
pub const LAST_SUCCESS: &str = "last_success";
/// Days from the last successful call to the end of the logs.
pub const DAYS_SINCE_USE: &str = "days_since_use";
/// Distinct source IP addresses.
pub const SOURCE_IPS: &str = "source_ips";
/// Distinct Regions.
pub const REGIONS: &str = "regions";
/// Whether the principal's account differs from the key's.
pub const CROSS_ACCOUNT: &str = "cross_account";

/// The columns, in order.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    (PRINCIPAL, ColumnType::Text),
    (PRINCIPAL_ACCOUNT, ColumnType::Text),
    (KEY_ARN, ColumnType::Text),
    (KEY_ACCOUNT, ColumnType::Text),
    (OPERATION, ColumnType::Text),
    (CRYPTO, ColumnType::Bool),
    (CALLS, ColumnType::Int),
    (ERRORS, ColumnType::Int),
    (FIRST_SEEN, ColumnType::Time),
    (LAST_SEEN, ColumnType::Time),
    (LAST_SUCCESS, ColumnType::Time),
    (DAYS_SINCE_USE, ColumnType::Int),
    (SOURCE_IPS, ColumnType::Int),
    (REGIONS, ColumnType::Int),
    (CROSS_ACCOUNT, ColumnType::Bool),
];

#[derive(Debug, Default)]
struct Acc {
    principal_account: Option<String>,
    key_account: Option<String>,
    calls: i64,
    errors: i64,
    first: i64,
    last: i64,
    last_success: Option<i64>,
    ips: BTreeSet<String>,
    regions: BTreeSet<String>,
    evidence: Vec<String>,
}

/// Builds the view.
pub fn build(kms: &[KmsEvent], as_of: i64) -> ViewTable {
    let mut groups: BTreeMap<(String, String, String), Acc> = BTreeMap::new();
    for event in kms.iter().filter(|e| e.is_call()) {
        let (Some(principal), Some(key)) = (&event.principal, &event.key_arn) else {
            continue;
        };
        let acc = groups
            .entry((principal.clone(), key.clone(), event.name.clone()))
            .or_insert_with(|| Acc {
                first: event.time,
                ..Acc::default()
            });
        acc.principal_account = acc
            .principal_account
            .take()
            .or_else(|| event.principal_account.clone());
        acc.key_account = acc.key_account.take().or_else(|| event.key_account.clone());
        if event.ok() {
            acc.calls += 1;
            acc.last_success = Some(event.time);
        } else {
            acc.errors += 1;
        }
        acc.first = acc.first.min(event.time);
        acc.last = acc.last.max(event.time);
        acc.ips.extend(event.source_ip.clone());
        acc.regions.extend(event.region.clone());
        if acc.evidence.len() < MAX_ROW_EVIDENCE {
            acc.evidence.push(event.evidence_key());
        }
    }
    let rows = groups
        .into_iter()
        .map(|((principal, key, operation), acc)| {
            let crypto = is_crypto(&operation);
            Row {
                cells: vec![
                    Cell::Text(principal),
                    Cell::text(acc.principal_account.as_deref()),
                    Cell::Text(key),
                    Cell::text(acc.key_account.as_deref()),
                    Cell::Text(operation),
                    Cell::Bool(crypto),
                    Cell::Int(acc.calls),
                    Cell::Int(acc.errors),
                    Cell::Time(acc.first),
                    Cell::Time(acc.last),
                    Cell::time(acc.last_success),
                    Cell::int(acc.last_success.map(|t| days_between(t, as_of))),
                    Cell::Int(acc.ips.len() as i64),
                    Cell::Int(acc.regions.len() as i64),
                    Cell::Bool(matches!(
                        (&acc.principal_account, &acc.key_account),
                        (Some(a), Some(k)) if a != k
                    )),
                ],
                evidence: acc.evidence,
            }
        })
        .collect();
    ViewTable {
        view: View::Usage,
        rows,
    }
}
