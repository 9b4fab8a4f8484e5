//! The `policy_statements` view: the statements of each key's latest key policy, one row per
//! statement and principal. The policy is the text of `requestParameters.policy` of the
//! latest successful PutKeyPolicy or CreateKey (a CreateKey without one gets the default
//! key policy, which allows the account root `kms:*`), or the inventory's when no such event
//! came after the inventory was taken.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::rules::views::inventory::Inventory;
use crate::rules::views::{
    action_matches, arn_account, Cell, ColumnType, KmsEvent, Row, View, ViewTable,
    ADMIN_OPERATIONS, CRYPTO_OPERATIONS,
};

/// The key the policy belongs to.
pub const KEY_ARN: &str = "key_arn";
/// The key's account.
pub const KEY_ACCOUNT: &str = "key_account";
/// When the policy was set.
pub const POLICY_SET: &str = "policy_set";
/// Which event set it.
pub const POLICY_SOURCE: &str = "policy_source";
/// 0-based position of the statement in the policy.
pub const STATEMENT: &str = "statement";
/// `Sid`.
pub const SID: &str = "sid";
/// `Effect`.
pub const EFFECT: &str = "effect";
/// One principal of the statement.
pub const PRINCIPAL: &str = "principal";
/// `AWS`, `Service`, `Federated`, `CanonicalUser`, `*` or `NotPrincipal`.
pub const PRINCIPAL_TYPE: &str = "principal_type";
/// The principal's account.
pub const PRINCIPAL_ACCOUNT: &str = "principal_account";
/// Every principal of the statement.
pub const PRINCIPALS: &str = "principals";
/// `Action` (or `NotAction`) values.
pub const ACTIONS: &str = "actions";
/// Whether the statement uses `NotAction`.
pub const NOT_ACTION: &str = "not_action";
/// Whether the actions cover every KMS action.
pub const ALL_ACTIONS: &str = "all_actions";
/// Whether the actions cover a key-administration operation.
pub const ADMIN_ACTIONS: &str = "admin_actions";
/// Whether the actions cover a cryptographic operation.
pub const CRYPTO_ACTIONS: &str = "crypto_actions";
/// Whether the principal is the wildcard.
pub const PRINCIPAL_WILDCARD: &str = "principal_wildcard";
/// Whether the principal is the key account's root.
pub const ACCOUNT_ROOT: &str = "account_root";
/// Whether the principal belongs to another account than the key.
pub const CROSS_ACCOUNT: &str = "cross_account";
/// Whether the statement has a non-empty `Condition`.
pub const HAS_CONDITION: &str = "has_condition";
/// `Condition` as JSON text.
pub const CONDITIONS: &str = "conditions";
/// The condition keys used.
pub const CONDITION_KEYS: &str = "condition_keys";

/// The columns, in order.
pub const COLUMNS: &[(&str, ColumnType)] = &[
    (KEY_ARN, ColumnType::Text),
    (KEY_ACCOUNT, ColumnType::Text),
    (POLICY_SET, ColumnType::Time),
    (POLICY_SOURCE, ColumnType::Text),
    (STATEMENT, ColumnType::Int),
    (SID, ColumnType::Text),
    (EFFECT, ColumnType::Text),
    (PRINCIPAL, ColumnType::Text),
    (PRINCIPAL_TYPE, ColumnType::Text),
    (PRINCIPAL_ACCOUNT, ColumnType::Text),
    (PRINCIPALS, ColumnType::Text),
    (ACTIONS, ColumnType::Text),
    (NOT_ACTION, ColumnType::Bool),
    (ALL_ACTIONS, ColumnType::Bool),
    (ADMIN_ACTIONS, ColumnType::Bool),
    (CRYPTO_ACTIONS, ColumnType::Bool),
    (PRINCIPAL_WILDCARD, ColumnType::Bool),
    (ACCOUNT_ROOT, ColumnType::Bool),
    (CROSS_ACCOUNT, ColumnType::Bool),
    (HAS_CONDITION, ColumnType::Bool),
    (CONDITIONS, ColumnType::Text),
    (CONDITION_KEYS, ColumnType::Text),
];

/// One principal of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// ARN, service name, `*`, or an account id turned into its root ARN.
    pub name: String,
    /// The principal element's member (`AWS`, `Service`, …), `*` or `NotPrincipal`.
    pub kind: String,
}

/// One parsed policy statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// `Sid`.
    pub sid: Option<String>,
    /// `Effect`.
    pub effect: Option<String>,
    /// Principals.
    pub principals: Vec<Principal>,
    /// Action patterns.
    pub actions: Vec<String>,
    /// Whether they came from `NotAction`.
    pub not_action: bool,
    /// `Condition`, when present and not empty.
    pub condition: Option<Value>,
}

/// Reads the statements of a policy document; `None` when the text is not a JSON policy.
pub fn parse_policy(text: &str) -> Option<Vec<Statement>> {
    let doc: Value = serde_json::from_str(text).ok()?;
    let statements = match doc.get("Statement")? {
        Value::Array(items) => items.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => return None,
    };
    Some(statements.iter().map(statement).collect())
}

fn texts(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn statement(value: &Value) -> Statement {
    let mut principals = Vec::new();
    let (element, negated) = match value.get("Principal") {
        Some(p) => (Some(p), false),
        None => (value.get("NotPrincipal"), true),
    };
    match element {
        Some(Value::String(s)) => principals.push(Principal {
            name: s.clone(),
            kind: if negated { "NotPrincipal" } else { "*" }.to_owned(),
        }),
        Some(Value::Object(members)) => {
            for (kind, names) in members {
                for name in texts(Some(names)) {
                    let name = if name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit()) {
                        format!("arn:aws:iam::{name}:root")
                    } else {
                        name
                    };
                    principals.push(Principal {
                        name: if negated { "*".to_owned() } else { name },
                        kind: if negated { "NotPrincipal" } else { kind }.to_owned(),
                    });
                }
            }
        }
        _ => {}
    }
    let (actions, not_action) = match value.get("Action") {
        Some(a) => (texts(Some(a)), false),
        None => (texts(value.get("NotAction")), true),
    };
    let condition = value
        .get("Condition")
        .filter(|c| c.as_object().is_some_and(|m| !m.is_empty()))
        .cloned();
    Statement {
        sid: value.get("Sid").and_then(Value::as_str).map(str::to_owned),
        effect: value
            .get("Effect")
            .and_then(Value::as_str)
            .map(str::to_owned),
        principals,
        actions,
        not_action,
        condition,
    }
}

/// The default key policy of a key in `account`: the account root may do everything.
pub fn default_policy(key_arn: &str, account: &str) -> String {
    let partition = key_arn.split(':').nth(1).unwrap_or("aws");
    serde_json::json!({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": { "AWS": format!("arn:{partition}:iam::{account}:root") },
            "Action": "kms:*",
            "Resource": "*"
        }]
    })
    .to_string()
}

/// The latest policy of a key: (time, event name or `inventory`, text, evidence keys).
type Latest = (i64, String, String, Vec<String>);

/// `policy_source` of a policy read from the inventory.
pub const INVENTORY_SOURCE: &str = "inventory";

/// Whether two policy texts are the same JSON document.
fn same_policy(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)),
            (Ok(a), Ok(b)) if a == b
        )
}

/// Lays the inventory's policies over those the events set before it was taken. A policy
/// equal to the one an event set keeps that event's time and evidence.
fn overlay(latest: &mut BTreeMap<String, Latest>, inventory: &Inventory) {
    for (index, key) in inventory.keys.iter().enumerate() {
        let Some(policy) = &key.policy else { continue };
        if latest
            .get(&key.arn)
            .is_some_and(|(_, _, text, _)| same_policy(text, policy))
        {
            continue;
        }
        latest.insert(
            key.arn.clone(),
            (
                inventory.taken,
                INVENTORY_SOURCE.to_owned(),
                policy.clone(),
                vec![inventory.evidence_key(index)],
            ),
        );
    }
}

/// Builds the view.
pub fn build(kms: &[KmsEvent], inventory: Option<&Inventory>) -> ViewTable {
    let mut latest: BTreeMap<String, Latest> = BTreeMap::new();
    let mut pending = inventory;
    for event in kms {
        if let Some(snapshot) = pending.filter(|i| event.time > i.taken) {
            overlay(&mut latest, snapshot);
            pending = None;
        }
        if !event.ok() {
            continue;
        }
        let Some(key) = &event.key_arn else { continue };
        let text = match event.name.as_str() {
            "PutKeyPolicy" => event.request_text("policy").map(str::to_owned),
            "CreateKey" | "ReplicateKey" => Some(
                event
                    .request_text("policy")
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        let account = event
                            .key_account
                            .as_deref()
                            .or_else(|| arn_account(key))
                            .unwrap_or_default();
                        default_policy(key, account)
                    }),
            ),
            _ => None,
        };
        if let Some(text) = text {
            latest.insert(
                key.clone(),
                (
                    event.time,
                    event.name.clone(),
                    text,
                    vec![event.evidence_key()],
                ),
            );
        }
    }
    if let Some(snapshot) = pending {
        overlay(&mut latest, snapshot);
    }
    let mut rows = Vec::new();
    for (key, (time, source, text, evidence)) in latest {
        let Some(statements) = parse_policy(&text) else {
            continue;
        };
        let key_account = arn_account(&key).map(str::to_owned);
        for (index, st) in statements.iter().enumerate() {
            let all_principals: Vec<String> =
                st.principals.iter().map(|p| p.name.clone()).collect();
            let covers = |ops: &[&str]| {
                st.not_action
                    || st
                        .actions
                        .iter()
                        .any(|a| ops.iter().any(|op| action_matches(a, &format!("kms:{op}"))))
            };
            let all_actions = st.not_action
                || st
                    .actions
                    .iter()
                    .any(|a| a == "*" || a.eq_ignore_ascii_case("kms:*"));
            let admin = covers(ADMIN_OPERATIONS);
            let crypto = covers(CRYPTO_OPERATIONS);
            let condition_keys: Vec<String> = st
                .condition
                .as_ref()
                .and_then(Value::as_object)
                .map(|ops| {
                    ops.values()
                        .filter_map(Value::as_object)
                        .flat_map(|m| m.keys().cloned())
                        .collect()
                })
                .unwrap_or_default();
            let principals: Vec<Option<&Principal>> = if st.principals.is_empty() {
                vec![None]
            } else {
                st.principals.iter().map(Some).collect()
            };
            for principal in principals {
                let name = principal.map(|p| p.name.as_str());
                let wildcard = name == Some("*");
                let account = name.and_then(arn_account);
                let root = match (name, account) {
                    (Some(n), Some(a)) => Some(a) == key_account.as_deref() && n.ends_with(":root"),
                    _ => false,
                };
                let cross =
                    matches!((account, key_account.as_deref()), (Some(a), Some(k)) if a != k);
                rows.push(Row {
                    cells: vec![
                        Cell::Text(key.clone()),
                        Cell::text(key_account.as_deref()),
                        Cell::Time(time),
                        Cell::Text(source.clone()),
                        Cell::Int(index as i64),
                        Cell::text(st.sid.as_deref()),
                        Cell::text(st.effect.as_deref()),
                        Cell::text(name),
                        Cell::text(principal.map(|p| p.kind.as_str())),
                        Cell::text(account),
                        Cell::list(&all_principals),
                        Cell::list(&st.actions),
                        Cell::Bool(st.not_action),
                        Cell::Bool(all_actions),
                        Cell::Bool(admin),
                        Cell::Bool(crypto),
                        Cell::Bool(wildcard),
                        Cell::Bool(root),
                        Cell::Bool(cross),
                        Cell::Bool(st.condition.is_some()),
                        Cell::text(st.condition.as_ref().map(Value::to_string).as_deref()),
                        Cell::list(&condition_keys),
                    ],
                    evidence: evidence.clone(),
                });
            }
        }
    }
    ViewTable {
        view: View::PolicyStatements,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_and_actions_are_read_in_every_shape() {
        let policy = r#"{"Statement":[
            {"Sid":"a","Effect":"Allow","Principal":"*","Action":"kms:Decrypt"},
            {"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::444455556666:role/x"],"Service":"logs.amazonaws.com"},"Action":["kms:*"],"Condition":{"StringEquals":{"kms:CallerAccount":"1"}}},
            {"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"NotAction":"kms:Decrypt"}
        ]}"#;
        let statements = parse_policy(policy).expect("valid policy");
        assert_eq!(statements.len(), 3);
        assert_eq!(statements[0].principals[0].name, "*");
        assert_eq!(
            statements[1].principals[0].name,
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(statements[1].principals[2].kind, "Service");
        assert!(statements[1].condition.is_some());
        assert!(statements[2].not_action);
        assert_eq!(statements[2].principals[0].kind, "NotPrincipal");
        assert!(parse_policy("not json").is_none());
    }
}
