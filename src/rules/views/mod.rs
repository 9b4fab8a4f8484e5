//! Derived views over the event table, built for `state` rules: `keys` (one row per KMS key),
//! `policy_statements` (the statements of each key's latest policy, one row per statement
//! and principal), `grants` (CreateGrant less RetireGrant / RevokeGrant), `usage` (principal
//! × key × operation) and `access` (principal × key: what the policy and grants allow
//! against what the principal used); and for the trail itself, `log_coverage` (silences in
//! the events of each account and Region) and `log_integrity` (what validating the CloudTrail
//! digest files found: [`crate::ingest::integrity`]). `docs/rule-views.md` documents every column.
//!
//! The KMS events are read from the lake with one lazy Polars query (KMS records only, the
//! raw JSON kept only for the operations whose parameters a view needs), replayed in time
//! order, and each view is a table of typed cells that [`ViewTable::to_frame`] turns into a
//! Polars frame. Every row keeps the events that set its state, for a finding's evidence.
//! Ages (`*_days`) are counted to the latest event in the lake, so a result does not depend
//! on the day the scan runs. An optional key inventory snapshot ([`inventory::Inventory`],
//! `scan --inventory`) covers keys created before the logs begin: it is laid over `keys`,
//! `policy_statements` and `grants` at the time it was taken, and the events after it take
//! precedence.

pub mod access;
pub mod events;
pub mod grants;
pub mod inventory;
pub mod keys;
pub mod log_coverage;
pub mod log_integrity;
pub mod policy_statements;
pub mod usage;

use std::collections::HashMap;
use std::fmt;

use polars::prelude::*;

use crate::rules::error::EvalError;
use crate::rules::finding::Evidence;

pub use events::KmsEvent;

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// Evidence events kept per view row.
pub const MAX_ROW_EVIDENCE: usize = 10;

/// The derived views a `state` rule can filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    /// One row per KMS key.
    Keys,
    /// One row per statement and principal of each key's latest policy.
    PolicyStatements,
    /// One row per grant.
    Grants,
    /// One row per principal, key and operation.
    Usage,
    /// One row per principal and key: allowed against used.
    Access,
    /// One row per silence in the events of an account and Region.
    LogCoverage,
    /// One row per problem the CloudTrail digests reveal.
    LogIntegrity,
}

impl View {
    /// Every view.
    pub const ALL: [View; 7] = [
        Self::Keys,
        Self::PolicyStatements,
        Self::Grants,
        Self::Usage,
        Self::Access,
        Self::LogCoverage,
        Self::LogIntegrity,
    ];

    /// The name used in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keys => "keys",
            Self::PolicyStatements => "policy_statements",
            Self::Grants => "grants",
            Self::Usage => "usage",
            Self::Access => "access",
            Self::LogCoverage => "log_coverage",
            Self::LogIntegrity => "log_integrity",
        }
    }

    /// The view called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// The view's columns, in order.
    pub fn columns(self) -> &'static [(&'static str, ColumnType)] {
        match self {
            Self::Keys => keys::COLUMNS,
            Self::PolicyStatements => policy_statements::COLUMNS,
            Self::Grants => grants::COLUMNS,
            Self::Usage => usage::COLUMNS,
            Self::Access => access::COLUMNS,
            Self::LogCoverage => log_coverage::COLUMNS,
            Self::LogIntegrity => log_integrity::COLUMNS,
        }
    }

    /// The position and type of column `name`.
    pub fn column(self, name: &str) -> Option<(usize, ColumnType)> {
        self.columns()
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| (i, self.columns()[i].1))
    }

    /// The column naming a finding's resource: the key ARN, or for the trail's views the
    /// silence (`log_coverage`) or the file at fault (`log_integrity`).
    pub fn resource_column(self) -> &'static str {
        match self {
            Self::LogCoverage => log_coverage::GAP,
            Self::LogIntegrity => log_integrity::RESOURCE,
            _ => keys::KEY_ARN,
        }
    }

    /// The column naming a finding's principal, when the view has one.
    pub fn principal_column(self) -> Option<&'static str> {
        match self {
            Self::Keys => None,
            Self::PolicyStatements => Some(policy_statements::PRINCIPAL),
            Self::Grants => Some(grants::GRANTEE),
            Self::Usage => Some(usage::PRINCIPAL),
            Self::Access => Some(access::PRINCIPAL),
            Self::LogCoverage | Self::LogIntegrity => None,
        }
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of a view column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text (lists are JSON arrays as text).
    Text,
    /// 64-bit integer (counts, days).
    Int,
    /// Boolean.
    Bool,
    /// Timestamp, microseconds, UTC.
    Time,
}

impl ColumnType {
    /// The name used in docs and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Int => "integer",
            Self::Bool => "boolean",
            Self::Time => "timestamp",
        }
    }
}

/// One value of a view row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value.
    Null,
    /// Text.
    Text(String),
    /// Integer.
    Int(i64),
    /// Boolean.
    Bool(bool),
    /// Microseconds since the epoch, UTC.
    Time(i64),
}

impl Cell {
    /// A text cell, or null.
    pub fn text(value: Option<&str>) -> Self {
        value.map_or(Self::Null, |v| Self::Text(v.to_owned()))
    }

    /// An integer cell, or null.
    pub fn int(value: Option<i64>) -> Self {
        value.map_or(Self::Null, Self::Int)
    }

    /// A time cell, or null.
    pub fn time(value: Option<i64>) -> Self {
        value.map_or(Self::Null, Self::Time)
    }

    /// A boolean cell, or null.
    pub fn bool(value: Option<bool>) -> Self {
        value.map_or(Self::Null, Self::Bool)
    }

    /// A JSON array of texts.
    pub fn list(values: &[String]) -> Self {
        Self::Text(serde_json::Value::from(values.to_vec()).to_string())
    }

    /// The cell as text, for messages (`null` when empty).
    pub fn display(&self) -> String {
        match self {
            Self::Null => "null".to_owned(),
            Self::Text(t) => t.clone(),
            Self::Int(i) => i.to_string(),
            Self::Bool(b) => b.to_string(),
            Self::Time(t) => crate::rules::finding::rfc3339(*t),
        }
    }
}

/// One row of a view: its cells in column order and the events behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Values, in the view's column order.
    pub cells: Vec<Cell>,
    /// Evidence keys ([`KmsEvent::evidence_key`]) of the events that set the row, oldest
    /// first.
    pub evidence: Vec<String>,
}

/// A built view.
#[derive(Debug, Clone)]
pub struct ViewTable {
    /// Which view.
    pub view: View,
    /// Its rows.
    pub rows: Vec<Row>,
}

impl ViewTable {
    /// The value of column `name` in row `row` (null for an unknown column).
    pub fn get(&self, row: usize, name: &str) -> &Cell {
        static NULL: Cell = Cell::Null;
        self.view
            .column(name)
            .and_then(|(i, _)| self.rows.get(row).and_then(|r| r.cells.get(i)))
            .unwrap_or(&NULL)
    }

    /// The view as a Polars frame, with an `event_ids` column (JSON array of eventIDs).
    pub fn to_frame(&self, evidence: &HashMap<String, Evidence>) -> PolarsResult<DataFrame> {
        let mut columns = Vec::new();
        for (i, (name, ty)) in self.view.columns().iter().enumerate() {
            let cells = self
                .rows
                .iter()
                .map(|r| r.cells.get(i).unwrap_or(&Cell::Null));
            let column = match ty {
                ColumnType::Text => Column::new(
                    (*name).into(),
                    cells
                        .map(|c| match c {
                            Cell::Text(t) => Some(t.clone()),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                ColumnType::Int => Column::new(
                    (*name).into(),
                    cells
                        .map(|c| match c {
                            Cell::Int(v) => Some(*v),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                ColumnType::Bool => Column::new(
                    (*name).into(),
                    cells
                        .map(|c| match c {
                            Cell::Bool(v) => Some(*v),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                ),
                ColumnType::Time => Column::new(
                    (*name).into(),
                    cells
                        .map(|c| match c {
                            Cell::Time(v) => Some(*v),
                            _ => None,
                        })
                        .collect::<Vec<_>>(),
                )
                .cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
            };
            columns.push(column);
        }
        let ids: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                let ids: Vec<String> = r
                    .evidence
                    .iter()
                    .filter_map(|k| evidence.get(k).and_then(|e| e.event_id.clone()))
                    .collect();
                serde_json::Value::from(ids).to_string()
            })
            .collect();
        columns.push(Column::new(EVENT_IDS.into(), ids));
        DataFrame::new(self.rows.len(), columns)
    }
}

/// The column [`ViewTable::to_frame`] adds to every view: the eventIDs of the row's
/// evidence, as a JSON array.
pub const EVENT_IDS: &str = "event_ids";

/// Every view, built from the lake's events.
#[derive(Debug, Clone)]
pub struct Views {
    /// The time ages are counted to: the latest event in the lake (µs).
    pub as_of: i64,
    /// The `keys` view.
    pub keys: ViewTable,
    /// The `policy_statements` view.
    pub policy_statements: ViewTable,
    /// The `grants` view.
    pub grants: ViewTable,
    /// The `usage` view.
    pub usage: ViewTable,
    /// The `access` view.
    pub access: ViewTable,
    /// The `log_coverage` view (empty unless [`Views::build_with`] is asked for it).
    pub log_coverage: ViewTable,
    /// The `log_integrity` view (empty unless [`Views::build_with`] is asked for it).
    pub log_integrity: ViewTable,
    /// The events rows refer to, by evidence key.
    pub evidence: HashMap<String, Evidence>,
}

impl Views {
    /// Builds every view from `events` (a scan of the lake), merged with an optional key
    /// inventory (see [`Views::from_events`]).
    pub fn build(
        events: LazyFrame,
        inventory: Option<&inventory::Inventory>,
    ) -> Result<Self, EvalError> {
        let (kms, as_of) = events::load(events, inventory)?;
        Ok(Self::from_events(&kms, as_of, inventory))
    }

    /// The views `wanted` asks for (`&|_| true`: all): the key views through
    /// [`Views::build`] (all of them, or none, which leaves them empty), `log_coverage` (a
    /// pass over every event's time) and `log_integrity` (from the lake's integrity side
    /// tables).
    pub fn build_with(
        events: LazyFrame,
        inventory: Option<&inventory::Inventory>,
        integrity: Option<&crate::ingest::integrity::Integrity>,
        wanted: &dyn Fn(View) -> bool,
    ) -> Result<Self, EvalError> {
        let trail_views = [View::LogCoverage, View::LogIntegrity];
        let mut views = if View::ALL
            .iter()
            .any(|v| !trail_views.contains(v) && wanted(*v))
        {
            Self::build(events.clone(), inventory)?
        } else {
            Self::from_events(&[], 0, None)
        };
        if wanted(View::LogCoverage) {
            let (table, evidence) = log_coverage::build(events, integrity)?;
            views.log_coverage = table;
            views.evidence.extend(evidence);
        }
        if wanted(View::LogIntegrity) {
            let (table, evidence) = log_integrity::build(integrity, views.as_of);
            views.log_integrity = table;
            views.evidence.extend(evidence);
        }
        Ok(views)
    }

    /// Builds every view from KMS events in time order, with an optional key inventory laid
    /// over them at the time it was taken. Ages are counted to the latest event, or to the
    /// time the inventory was taken when that is later.
    pub fn from_events(
        kms: &[KmsEvent],
        as_of: i64,
        inventory: Option<&inventory::Inventory>,
    ) -> Self {
        let as_of = inventory.map_or(as_of, |i| i.taken.max(as_of));
        let mut evidence: HashMap<String, Evidence> = kms
            .iter()
            .map(|e| (e.evidence_key(), e.evidence()))
            .collect();
        if let Some(inventory) = inventory {
            evidence.extend(inventory.all_evidence());
        }
        let statements = policy_statements::build(kms, inventory);
        let grants = grants::build(kms, as_of, inventory);
        let usage = usage::build(kms, as_of);
        let keys = keys::build(kms, as_of, inventory);
        let access = access::build(&statements, &grants, &usage, as_of);
        Self {
            as_of,
            keys,
            policy_statements: statements,
            grants,
            usage,
            access,
            log_coverage: ViewTable {
                view: View::LogCoverage,
                rows: Vec::new(),
            },
            log_integrity: ViewTable {
                view: View::LogIntegrity,
                rows: Vec::new(),
            },
            evidence,
        }
    }

    /// The table of `view`.
    pub fn table(&self, view: View) -> &ViewTable {
        match view {
            View::Keys => &self.keys,
            View::PolicyStatements => &self.policy_statements,
            View::Grants => &self.grants,
            View::Usage => &self.usage,
            View::Access => &self.access,
            View::LogCoverage => &self.log_coverage,
            View::LogIntegrity => &self.log_integrity,
        }
    }

    /// `view` as a lazy Polars frame.
    pub fn frame(&self, view: View) -> PolarsResult<LazyFrame> {
        Ok(self.table(view).to_frame(&self.evidence)?.lazy())
    }
}

/// Whole days from `from` to `to` (µs), rounded down; negative when `to` is earlier.
pub fn days_between(from: i64, to: i64) -> i64 {
    (to - from).div_euclid(DAY_US)
}

/// The account id in an ARN (`arn:aws:iam::111122223333:role/x`), if any.
pub fn arn_account(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// The Region in an ARN, if any.
pub fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// Case-insensitive match of an IAM action pattern (`kms:Create*`, `kms:*`, `*`) against an
/// action name (`kms:CreateGrant`).
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn glob(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&p[1..], t) || (!t.is_empty() && glob(p, &t[1..])),
            (Some(b'?'), Some(_)) => glob(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => glob(&p[1..], &t[1..]),
            _ => false,
        }
    }
    glob(pattern.as_bytes(), action.as_bytes())
}

/// KMS operations that use key material (the "key user" operations): AWS's list of
/// cryptographic operations less GenerateRandom, which uses no key. GetPublicKey is not one:
/// the console's default policy gives `kms:Get*` to key administrators, and reading a public
/// key makes nobody a key user.
pub const CRYPTO_OPERATIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "Sign",
    "Verify",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// KMS operations that administer a key (change its policy, state, rotation or material).
pub const ADMIN_OPERATIONS: &[&str] = &[
    "PutKeyPolicy",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "DisableKey",
    "EnableKey",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "RotateKeyOnDemand",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "CreateAlias",
    "DeleteAlias",
    "UpdateAlias",
    "TagResource",
    "UntagResource",
    // Not RevokeGrant: the console's default policy gives it to key users (with
    // CreateGrant and ListGrants, for AWS services' grants), so it marks no administrator.
];

/// Whether `operation` is a cryptographic operation.
pub fn is_crypto(operation: &str) -> bool {
    CRYPTO_OPERATIONS.contains(&operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_column_is_documented() {
        let doc = include_str!("../../../docs/rule-views.md");
        assert!(doc.contains(&format!("| `{EVENT_IDS}` |")));
        for view in View::ALL {
            let heading = format!("## `{}`", view.as_str());
            let start = doc
                .find(&heading)
                .unwrap_or_else(|| panic!("docs/rule-views.md lacks {heading}"));
            let section = &doc[start + heading.len()..];
            let section = &section[..section.find("\n## ").unwrap_or(section.len())];
            for (name, ty) in view.columns() {
                assert!(
                    section.contains(&format!("| `{name}` | {} |", ty.as_str())),
                    "docs/rule-views.md, view {view}: lacks `{name}` ({})",
                    ty.as_str()
                );
            }
        }
    }

    #[test]
    fn column_names_are_unique_per_view() {
        for view in View::ALL {
            let mut seen = std::collections::HashSet::new();
            for (name, _) in view.columns() {
                assert!(seen.insert(*name), "{view}: {name} twice");
                assert_ne!(*name, EVENT_IDS);
            }
            assert!(view.column(view.resource_column()).is_some(), "{view}");
            if let Some(p) = view.principal_column() {
                assert!(view.column(p).is_some(), "{view}");
            }
        }
    }

    #[test]
    fn helpers() {
        assert!(action_matches("kms:*", "kms:Decrypt"));
        assert!(action_matches("KMS:create*", "kms:CreateGrant"));
        assert!(!action_matches("kms:Create*", "kms:Decrypt"));
        assert!(action_matches("*", "kms:Decrypt"));
        assert_eq!(
            arn_account("arn:aws:iam::111122223333:root"),
            Some("111122223333")
        );
        assert_eq!(arn_account("*"), None);
        assert_eq!(days_between(0, DAY_US * 3 - 1), 2);
        assert_eq!(days_between(DAY_US, 0), -1);
    }
}
