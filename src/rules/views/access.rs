//! The `access` view: one row per principal and key, joining what the key policy
//! (`policy_statements`, Allow statements naming the principal) and the open grants
//! (`grants`) allow with what the principal did (`usage`): granted against used.

use std::collections::BTreeMap;

use crate::rules::views::{
    arn_account, days_between, grants, policy_statements as ps, usage, Cell, ColumnType, Row, View,
    ViewTable, MAX_ROW_EVIDENCE,
};

/// The key.
pub const KEY_ARN: &str = "key_arn";
/// The principal.
pub const PRINCIPAL: &str = "principal";
/// Its account.
pub const PRINCIPAL_ACCOUNT: &str = "principal_account";
/// Whether the principal is the key account's root.
pub const ACCOUNT_ROOT: &str = "account_root";
/// Whether an Allow statement of the key policy names the principal.
pub const VIA_POLICY: &str = "via_policy";
/// Whether an open grant names the principal as grantee.
pub const VIA_GRANT: &str = "via_grant";
/// Whether the policy allows it a key-administration operation.
pub const ADMIN_ALLOWED: &str = "admin_allowed";
/// Whether the policy or a grant allows it a cryptographic operation.
pub const CRYPTO_ALLOWED: &str = "crypto_allowed";
/// Whether a statement allowing it has a condition.
pub const CONDITIONED: &str = "conditioned";
/// When the earliest allowance was set.
pub const ALLOWED_SINCE: &str = "allowed_since";
/// Successful key-administration calls.
pub const ADMIN_CALLS: &str = "admin_calls";
/// Successful cryptographic calls.
pub const CRYPTO_CALLS: &str = "crypto_calls";
/// Last successful cryptographic call.
pub const LAST_CRYPTO_USE: &str = "last_crypto_use";
/// Days without cryptographic use: since the last one, else since the allowance.
pub const IDLE_DAYS: &str = "idle_days";
/// Whether the principal's account differs from the key's.
pub const CROSS_ACCOUNT: &str = "cross_account";

/// The columns, in order.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    (KEY_ARN, ColumnType::Text),
    (PRINCIPAL, ColumnType::Text),
    (PRINCIPAL_ACCOUNT, ColumnType::Text),
    (ACCOUNT_ROOT, ColumnType::Bool),
    (VIA_POLICY, ColumnType::Bool),
    (VIA_GRANT, ColumnType::Bool),
    (ADMIN_ALLOWED, ColumnType::Bool),
    (CRYPTO_ALLOWED, ColumnType::Bool),
    (CONDITIONED, ColumnType::Bool),
    (ALLOWED_SINCE, ColumnType::Time),
    (ADMIN_CALLS, ColumnType::Int),
    (CRYPTO_CALLS, ColumnType::Int),
    (LAST_CRYPTO_USE, ColumnType::Time),
    (IDLE_DAYS, ColumnType::Int),
    (CROSS_ACCOUNT, ColumnType::Bool),
];

#[derive(Debug, Default)]
struct Acc {
    root: bool,
    via_policy: bool,
    via_grant: bool,
    admin: bool,
    crypto: bool,
    conditioned: bool,
    since: Option<i64>,
    admin_calls: i64,
    crypto_calls: i64,
    last_crypto: Option<i64>,
    evidence: Vec<String>,
}

impl Acc {
    fn allowed_at(&mut self, time: Option<i64>) {
        if let Some(t) = time {
            self.since = Some(self.since.map_or(t, |s| s.min(t)));
        }
    }

    fn cite(&mut self, evidence: &[String]) {
        for key in evidence {
            if self.evidence.len() < MAX_ROW_EVIDENCE && !self.evidence.contains(key) {
                self.evidence.push(key.clone());
            }
        }
    }
}

fn text(table: &ViewTable, row: usize, column: &str) -> Option<String> {
    match table.get(row, column) {
        Cell::Text(t) => Some(t.clone()),
        _ => None,
    }
}

fn flag(table: &ViewTable, row: usize, column: &str) -> bool {
    matches!(table.get(row, column), Cell::Bool(true))
}

fn time(table: &ViewTable, row: usize, column: &str) -> Option<i64> {
    match table.get(row, column) {
        Cell::Time(t) => Some(*t),
        _ => None,
    }
}

fn int(table: &ViewTable, row: usize, column: &str) -> i64 {
    match table.get(row, column) {
        Cell::Int(i) => *i,
        _ => 0,
    }
}

/// Builds the view from the other views.
pub fn build(
    statements: &ViewTable,
    grants_view: &ViewTable,
    usage_view: &ViewTable,
    as_of: i64,
) -> ViewTable {
    let mut groups: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for row in 0..statements.rows.len() {
        let allow = text(statements, row, ps::EFFECT).as_deref() == Some("Allow");
        let (Some(key), Some(principal)) = (
            text(statements, row, ps::KEY_ARN),
            text(statements, row, ps::PRINCIPAL),
        ) else {
            continue;
        };
        if !allow || principal == "*" || flag(statements, row, ps::NOT_ACTION) {
            continue;
        }
        let acc = groups.entry((key, principal)).or_default();
        acc.via_policy = true;
        acc.root |= flag(statements, row, ps::ACCOUNT_ROOT);
        acc.admin |= flag(statements, row, ps::ADMIN_ACTIONS);
        acc.crypto |= flag(statements, row, ps::CRYPTO_ACTIONS);
        acc.conditioned |= flag(statements, row, ps::HAS_CONDITION);
        acc.allowed_at(time(statements, row, ps::POLICY_SET));
        acc.cite(&statements.rows[row].evidence);
    }
    for row in 0..grants_view.rows.len() {
        if flag(grants_view, row, grants::RETIRED) {
            continue;
        }
        let (Some(key), Some(principal)) = (
            text(grants_view, row, grants::KEY_ARN),
            text(grants_view, row, grants::GRANTEE),
        ) else {
            continue;
        };
        let acc = groups.entry((key, principal)).or_default();
        acc.via_grant = true;
        acc.crypto |= flag(grants_view, row, grants::CRYPTO_OPERATIONS);
        acc.allowed_at(time(grants_view, row, grants::CREATED));
        acc.cite(&grants_view.rows[row].evidence);
    }
    for row in 0..usage_view.rows.len() {
        let (Some(key), Some(principal), Some(operation)) = (
            text(usage_view, row, usage::KEY_ARN),
            text(usage_view, row, usage::PRINCIPAL),
            text(usage_view, row, usage::OPERATION),
        ) else {
            continue;
        };
        let calls = int(usage_view, row, usage::CALLS);
        let acc = groups.entry((key, principal)).or_default();
        if flag(usage_view, row, usage::CRYPTO) {
            acc.crypto_calls += calls;
            if let Some(t) = time(usage_view, row, usage::LAST_SUCCESS) {
                acc.last_crypto = Some(acc.last_crypto.map_or(t, |l| l.max(t)));
            }
            if calls > 0 {
                acc.cite(&usage_view.rows[row].evidence);
            }
        } else if crate::rules::views::ADMIN_OPERATIONS.contains(&operation.as_str()) {
            acc.admin_calls += calls;
        }
    }
    let rows = groups
        .into_iter()
        .map(|((key, principal), acc)| {
            let principal_account = arn_account(&principal).map(str::to_owned);
            let cross = matches!(
                (principal_account.as_deref(), arn_account(&key)),
                (Some(a), Some(k)) if a != k
            );
            let idle = acc
                .last_crypto
                .or(acc.since)
                .map(|t| days_between(t, as_of));
            Row {
                cells: vec![
                    Cell::Text(key),
                    Cell::Text(principal),
                    Cell::text(principal_account.as_deref()),
                    Cell::Bool(acc.root),
                    Cell::Bool(acc.via_policy),
                    Cell::Bool(acc.via_grant),
                    Cell::Bool(acc.admin),
                    Cell::Bool(acc.crypto),
                    Cell::Bool(acc.conditioned),
                    Cell::time(acc.since),
                    Cell::Int(acc.admin_calls),
                    Cell::Int(acc.crypto_calls),
                    Cell::time(acc.last_crypto),
                    Cell::int(idle),
                    Cell::Bool(cross),
                ],
                evidence: acc.evidence,
            }
        })
        .collect();
    ViewTable {
        view: View::Access,
        rows,
    }
}
