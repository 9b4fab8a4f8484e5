//! The `usage` view: one row per principal, key and operation over the KMS API calls that
//! name a key (service events such as RotateKey are not usage).

use std::collections::{BTreeMap, BTreeSet};

use crate::rules::views::events::CallTotals;
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

/// A group's calls counted one by one.
#[derive(Debug, Default)]
struct Acc<'a> {
    principal_account: Option<&'a str>,
    key_account: Option<&'a str>,
    calls: i64,
    errors: i64,
    first: i64,
    last: i64,
    last_success: Option<i64>,
    ips: BTreeSet<&'a str>,
    regions: BTreeSet<&'a str>,
    evidence: Vec<String>,
}

impl Acc<'_> {
    fn totals(self) -> CallTotals {
        CallTotals {
            principal_account: self.principal_account.map(str::to_owned),
            key_account: self.key_account.map(str::to_owned),
            calls: self.calls,
            errors: self.errors,
            first: self.first,
            last: self.last,
            last_success: self.last_success,
            source_ips: self.ips.len() as i64,
            regions: self.regions.len() as i64,
            evidence: self.evidence,
        }
    }
}

/// Builds the view. A group whose first call carries its totals ([`KmsEvent::calls`], from
/// [`crate::rules::views::events::load`]) is taken from them; the others are counted call by
/// call.
pub fn build(kms: &[KmsEvent], as_of: i64) -> ViewTable {
    type Group<'a> = (&'a str, &'a str, &'a str);
    let calls = || {
        kms.iter().filter(|e| e.is_call()).filter_map(|e| {
            let (Some(principal), Some(key)) = (&e.principal, &e.key_arn) else {
                return None;
            };
            Some(((principal.as_str(), key.as_str(), e.name.as_str()), e))
        })
    };
    let mut totals: BTreeMap<Group<'_>, CallTotals> = BTreeMap::new();
    for (group, event) in calls() {
        if let Some(given) = &event.calls {
            totals.entry(group).or_insert_with(|| (**given).clone());
        }
    }
    let mut counted: BTreeMap<Group<'_>, Acc<'_>> = BTreeMap::new();
    for (group, event) in calls() {
        if totals.contains_key(&group) {
            continue;
        }
        let acc = counted.entry(group).or_insert_with(|| Acc {
            first: event.time,
            ..Acc::default()
        });
        acc.principal_account = acc.principal_account.or(event.principal_account.as_deref());
        acc.key_account = acc.key_account.or(event.key_account.as_deref());
        if event.ok() {
            acc.calls += 1;
            acc.last_success = Some(event.time);
        } else {
            acc.errors += 1;
        }
        acc.first = acc.first.min(event.time);
        acc.last = acc.last.max(event.time);
        acc.ips.extend(event.source_ip.as_deref());
        acc.regions.extend(event.region.as_deref());
        if acc.evidence.len() < MAX_ROW_EVIDENCE {
            acc.evidence.push(event.evidence_key());
        }
    }
    totals.extend(
        counted
            .into_iter()
            .map(|(group, acc)| (group, acc.totals())),
    );
    let rows = totals
        .into_iter()
        .map(|((principal, key, operation), acc)| {
            let crypto = is_crypto(operation);
            Row {
                cells: vec![
                    Cell::Text(principal.to_owned()),
                    Cell::text(acc.principal_account.as_deref()),
                    Cell::Text(key.to_owned()),
                    Cell::text(acc.key_account.as_deref()),
                    Cell::Text(operation.to_owned()),
                    Cell::Bool(crypto),
                    Cell::Int(acc.calls),
                    Cell::Int(acc.errors),
                    Cell::Time(acc.first),
                    Cell::Time(acc.last),
                    Cell::time(acc.last_success),
                    Cell::int(acc.last_success.map(|t| days_between(t, as_of))),
                    Cell::Int(acc.source_ips),
                    Cell::Int(acc.regions),
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
