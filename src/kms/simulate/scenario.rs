//! The scenario file: accounts, principals and their habits, keys, and incidents to inject,
//! read from YAML and checked once so that a simulation never stops half-way on a typo.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::kms::crypto::{KeySpec, KeyUsage};

/// Why a scenario cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file cannot be read.
    #[error("scenario {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not parse or does not fit the scenario format.
    #[error("scenario {}: {detail}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        detail: String,
    },
    /// The scenario parses but is inconsistent.
    #[error("scenario {}: {field}: {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in the scenario, `keys[2].admins`.
        field: String,
        /// What is wrong.
        detail: String,
    },
}

/// A whole scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A name for the ground truth.
    pub name: String,
    /// The first simulated day (midnight UTC of that date is used).
    pub start: DateTime<Utc>,
    /// How many days of traffic to simulate.
    pub days: u32,
    /// The default seed (`--seed` overrides it).
    #[serde(default)]
    pub seed: u64,
    /// Minutes of event time one log file covers (default 5, as CloudTrail delivers);
    /// `--file-minutes` overrides it.
    #[serde(default)]
    pub file_minutes: Option<i64>,
    /// The AWS Organizations id of the monitored accounts (`aws:PrincipalOrgID`).
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Accounts.
    pub accounts: Vec<Account>,
    /// Who calls KMS.
    pub principals: Vec<Principal>,
    /// The keys.
    pub keys: Vec<KeyPlan>,
    /// Incidents to inject.
    #[serde(default)]
    pub incidents: Vec<Incident>,
}

/// An AWS account.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The 12-digit id.
    pub id: String,
    /// A label.
    #[serde(default)]
    pub name: String,
    /// Whether its trail is written (false for an outsider's account, such as an attacker's).
    #[serde(default = "yes")]
    pub monitored: bool,
    /// Whether it belongs to the scenario's organization.
    #[serde(default = "yes")]
    pub in_organization: bool,
}

fn yes() -> bool {
    true
}

/// How a principal authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PrincipalKind {
    /// An IAM role, used through sessions (`AssumedRole`).
    Role,
    /// An IAM user with access keys.
    User,
    /// The account's root user.
    Root,
}

/// What a principal is for; it decides its default habits' flavour and the key policy
/// statements it appears in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Duty {
    /// Administers keys (creates them, changes policies and rotation).
    Admin,
    /// Uses keys for its data.
    Application,
    /// An AWS service acting for the principal (`via_service`).
    Service,
    /// Build and deployment automation.
    Ci,
    /// Someone who should not be using keys at all.
    Other,
}

/// A principal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// The scenario's name for it.
    pub name: String,
    /// Its account.
    pub account: String,
    /// Role, user or root.
    pub kind: PrincipalKind,
    /// IAM role or user name; defaults to `name`.
    #[serde(default)]
    pub iam_name: Option<String>,
    /// What it is for.
    pub duty: Duty,
    /// Networks (IPv4 CIDR) it calls from.
    #[serde(default)]
    pub networks: Vec<String>,
    /// User agents it calls with.
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// UTC working hours `[from, to)`; calls fall inside them. Absent: around the clock.
    #[serde(default)]
    pub hours: Option<[u32; 2]>,
    /// Only Monday to Friday.
    #[serde(default)]
    pub weekdays: bool,
    /// An AWS service acting for this principal (`s3`, `ebs`, `secretsmanager`): the records
    /// carry `invokedBy`, the service as source address and user agent, and
    /// `kms:ViaService`.
    #[serde(default)]
    pub via_service: Option<String>,
    /// What it does every day.
    #[serde(default)]
    pub habits: Vec<Habit>,
}

/// A daily routine: operations on keys.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Habit {
    /// Keys (scenario names) it works on; account-level operations ignore them.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Operations and their relative weights.
    pub operations: BTreeMap<String, u32>,
    /// Mean number of calls per active day.
    pub daily: f64,
    /// Encryption context sent with cryptographic operations.
    #[serde(default)]
    pub encryption_context: BTreeMap<String, String>,
}

/// Automatic rotation settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationPlan {
    /// Whether automatic rotation is enabled at creation.
    pub enabled: bool,
    /// `RotationPeriodInDays`.
    #[serde(default)]
    pub period_days: Option<u32>,
}

/// A key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPlan {
    /// The scenario's name for it; also its alias, `alias/<name>`.
    pub name: String,
    /// The owner account.
    pub account: String,
    /// The Region.
    pub region: String,
    /// `KeySpec`.
    #[serde(default = "default_spec")]
    pub spec: String,
    /// `KeyUsage`; defaults to the spec's usual usage.
    #[serde(default)]
    pub usage: Option<String>,
    /// `AWS_KMS` or `EXTERNAL` (material imported at creation).
    #[serde(default = "default_origin")]
    pub origin: String,
    /// For `EXTERNAL` keys: days until the imported material expires (`ValidTo`); absent:
    /// it does not expire.
    #[serde(default)]
    pub material_valid_days: Option<u32>,
    /// Rotation settings; absent: rotation stays disabled.
    #[serde(default)]
    pub rotation: Option<RotationPlan>,
    /// How many days before the start the key was created.
    #[serde(default)]
    pub age_days: u32,
    /// Administrators named in its key policy; the first creates it (the account root when
    /// empty).
    #[serde(default)]
    pub admins: Vec<String>,
    /// Users named in its key policy (principals of any account).
    #[serde(default)]
    pub users: Vec<String>,
    /// `Description`.
    #[serde(default)]
    pub description: String,
    /// Everyone (`"AWS": "*"`) may use it: an outsider's key that accepts anything.
    #[serde(default)]
    pub open_to_all: bool,
}

fn default_spec() -> String {
    "SYMMETRIC_DEFAULT".to_owned()
}

fn default_origin() -> String {
    "AWS_KMS".to_owned()
}

/// The incidents the simulator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IncidentType {
    /// Many decrypts in a short window.
    DecryptSpike,
    /// A principal that never used the key starts using it.
    NewPrincipal,
    /// Use outside the principal's working hours.
    OffHours,
    /// Use from a network the principal never used.
    NewNetwork,
    /// Use of a key in a Region the principal never used.
    NewRegion,
    /// A principal of another account uses the key.
    CrossAccount,
    /// An administrator disables automatic rotation.
    RotationDisabled,
    /// A key whose material is older than the cryptoperiod (from the key's settings).
    RotationOverdue,
    /// The key is disabled while applications still use it.
    KeyDisabledInUse,
    /// The key is scheduled for deletion while applications still use it.
    KeyDeletionInUse,
    /// The key policy is opened to `"AWS": "*"` without a condition.
    PolicyPublic,
    /// A grant is created, used and never retired.
    GrantNeverRetired,
    /// A key administrator gives itself usage rights and uses the key.
    AdminAndUser,
    /// A principal without rights tries many keys and operations.
    AccessDeniedProbing,
    /// Imported key material reaches its `ValidTo` (from the key's settings).
    ImportedMaterialExpiring,
    /// Data re-encrypted to, or encrypted under, a key of a foreign account.
    Ransomware,
    /// The account's root user uses KMS.
    RootUse,
}

impl IncidentType {
    /// The rule family expected to flag it: the theme folder of `rules/` its rules live in.
    pub fn family(self) -> &'static str {
        match self {
            Self::DecryptSpike
            | Self::NewPrincipal
            | Self::OffHours
            | Self::NewNetwork
            | Self::NewRegion
            | Self::CrossAccount
            | Self::Ransomware => "unusual-usage",
            Self::RotationDisabled | Self::RotationOverdue => "rotation",
            Self::KeyDisabledInUse | Self::KeyDeletionInUse | Self::ImportedMaterialExpiring => {
                "lifecycle"
            }
            Self::PolicyPublic
            | Self::GrantNeverRetired
            | Self::AdminAndUser
            | Self::AccessDeniedProbing
            | Self::RootUse => "least-privilege",
        }
    }
}

/// An incident to inject.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// What happens.
    #[serde(rename = "type")]
    pub kind: IncidentType,
    /// Who does it (the victim application for `ransomware`).
    #[serde(default)]
    pub principal: Option<String>,
    /// The key it concerns.
    #[serde(default)]
    pub key: Option<String>,
    /// The foreign key of a `ransomware` incident.
    #[serde(default)]
    pub foreign_key: Option<String>,
    /// The day (0 = the start) it begins.
    #[serde(default)]
    pub day: u32,
    /// The UTC hour it begins; defaults depend on the type.
    #[serde(default)]
    pub hour: Option<u32>,
    /// How many calls it makes; defaults depend on the type.
    #[serde(default)]
    pub count: Option<u32>,
    /// The new network (`new-network`).
    #[serde(default)]
    pub network: Option<String>,
    /// Days until it is undone (`key-disabled-in-use`, `key-deletion-in-use`).
    #[serde(default)]
    pub undo_after_days: Option<u32>,
}

impl Scenario {
    /// Reads and checks the scenario at `path`.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses and checks scenario `text`; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        let scenario: Self = serde_yaml_ng::from_str(text).map_err(|err| ScenarioError::Parse {
            path: path.to_owned(),
            detail: err.to_string(),
        })?;
        scenario
            .check()
            .map_err(|(field, detail)| ScenarioError::Invalid {
                path: path.to_owned(),
                field,
                detail,
            })?;
        Ok(scenario)
    }

    /// The account with `id`.
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The index of the principal named `name`.
    pub fn principal_index(&self, name: &str) -> Option<usize> {
        self.principals.iter().position(|p| p.name == name)
    }

    /// The index of the key named `name`.
    pub fn key_index(&self, name: &str) -> Option<usize> {
        self.keys.iter().position(|k| k.name == name)
    }

    fn check(&self) -> Result<(), (String, String)> {
        if self.days == 0 {
            return Err(("days".into(), "must be at least 1".into()));
        }
        if self
            .file_minutes
            .is_some_and(|m| !(1..=10_080).contains(&m))
        {
            return Err(("file_minutes".into(), "must be 1 to 10080 (a week)".into()));
        }
        let mut ids = BTreeSet::new();
        for (i, account) in self.accounts.iter().enumerate() {
            if account.id.len() != 12 || !account.id.bytes().all(|b| b.is_ascii_digit()) {
                return Err((
                    format!("accounts[{i}].id"),
                    format!("{:?} is not a 12-digit account id", account.id),
                ));
            }
            if !ids.insert(account.id.as_str()) {
                return Err((format!("accounts[{i}].id"), "appears twice".into()));
            }
        }
        let mut names = BTreeSet::new();
        for (i, p) in self.principals.iter().enumerate() {
            let at = format!("principals[{i}]");
            if !names.insert(p.name.as_str()) {
                return Err((format!("{at}.name"), format!("{:?} appears twice", p.name)));
            }
            if self.account(&p.account).is_none() {
                return Err((
                    format!("{at}.account"),
                    format!("{} is not in accounts", p.account),
                ));
            }
            for (j, net) in p.networks.iter().enumerate() {
                parse_cidr(net).map_err(|detail| (format!("{at}.networks[{j}]"), detail))?;
            }
            if let Some([from, to]) = p.hours {
                if from >= to || to > 24 {
                    return Err((
                        format!("{at}.hours"),
                        "must be [from, to) with 0 <= from < to <= 24".into(),
                    ));
                }
            }
            for (j, habit) in p.habits.iter().enumerate() {
                let at = format!("{at}.habits[{j}]");
                if !(habit.daily >= 0.0 && habit.daily.is_finite()) {
                    return Err((format!("{at}.daily"), "must be a number >= 0".into()));
                }
                if habit.operations.values().all(|w| *w == 0) {
                    return Err((
                        format!("{at}.operations"),
                        "needs at least one operation with a weight above 0".into(),
                    ));
                }
                for op in habit.operations.keys() {
                    let Some(needs_key) = habit_operation_needs_key(op) else {
                        return Err((
                            format!("{at}.operations.{op}"),
                            format!(
                                "not an operation a habit can do (one of: {})",
                                HABIT_OPERATIONS.join(", ")
                            ),
                        ));
                    };
                    if needs_key && habit.keys.is_empty() {
                        return Err((format!("{at}.keys"), format!("{op} needs keys")));
                    }
                }
                for (k, key) in habit.keys.iter().enumerate() {
                    if self.key_index(key).is_none() {
                        return Err((format!("{at}.keys[{k}]"), format!("{key} is not in keys")));
                    }
                }
            }
        }
        let mut key_names = BTreeSet::new();
        for (i, key) in self.keys.iter().enumerate() {
            let at = format!("keys[{i}]");
            if !key_names.insert(key.name.as_str()) {
                return Err((
                    format!("{at}.name"),
                    format!("{:?} appears twice", key.name),
                ));
            }
            crate::kms::engine::ids::check_alias_name(&format!("alias/{}", key.name))
                .map_err(|err| (format!("{at}.name"), err.message))?;
            if self.account(&key.account).is_none() {
                return Err((
                    format!("{at}.account"),
                    format!("{} is not in accounts", key.account),
                ));
            }
            let spec: KeySpec = key.spec.parse().map_err(|_| {
                (
                    format!("{at}.spec"),
                    format!("unknown key spec {}", key.spec),
                )
            })?;
            if let Some(usage) = &key.usage {
                let usage: KeyUsage = usage
                    .parse()
                    .map_err(|_| (format!("{at}.usage"), format!("unknown key usage {usage}")))?;
                if !spec.allows_usage(usage) {
                    return Err((
                        format!("{at}.usage"),
                        format!("{spec} keys cannot be used for {usage}"),
                    ));
                }
            }
            if !matches!(key.origin.as_str(), "AWS_KMS" | "EXTERNAL") {
                return Err((format!("{at}.origin"), "must be AWS_KMS or EXTERNAL".into()));
            }
            if key.origin == "EXTERNAL" && key.spec != "SYMMETRIC_DEFAULT" {
                return Err((
                    format!("{at}.origin"),
                    "the simulator imports material for SYMMETRIC_DEFAULT keys only".into(),
                ));
            }
            if key
                .material_valid_days
                .is_some_and(|d| !(1..=365).contains(&d))
            {
                return Err((
                    format!("{at}.material_valid_days"),
                    "must be 1 to 365 (KMS accepts a ValidTo at most 365 days ahead)".into(),
                ));
            }
            for (field, list) in [("admins", &key.admins), ("users", &key.users)] {
                for (j, name) in list.iter().enumerate() {
                    let Some(p) = self.principal_index(name) else {
                        return Err((
                            format!("{at}.{field}[{j}]"),
                            format!("{name} is not in principals"),
                        ));
                    };
                    if field == "admins" && self.principals[p].account != key.account {
                        return Err((
                            format!("{at}.admins[{j}]"),
                            "an administrator must be of the key's account".into(),
                        ));
                    }
                }
            }
        }
        for (i, incident) in self.incidents.iter().enumerate() {
            self.check_incident(incident)
                .map_err(|(field, detail)| (format!("incidents[{i}].{field}"), detail))?;
        }
        Ok(())
    }

    fn check_incident(&self, incident: &Incident) -> Result<(), (String, String)> {
        use IncidentType as T;
        if incident.day >= self.days {
            return Err(("day".into(), format!("must be below days ({})", self.days)));
        }
        if incident.hour.is_some_and(|h| h > 23) {
            return Err(("hour".into(), "must be 0-23".into()));
        }
        let needs_principal = !matches!(
            incident.kind,
            T::RotationDisabled
                | T::RotationOverdue
                | T::KeyDisabledInUse
                | T::KeyDeletionInUse
                | T::PolicyPublic
                | T::ImportedMaterialExpiring
        );
        let needs_key = incident.kind != T::AccessDeniedProbing;
        let principal = match &incident.principal {
            Some(name) => Some(self.principal_index(name).ok_or_else(|| {
                (
                    "principal".to_owned(),
                    format!("{name} is not in principals"),
                )
            })?),
            None if needs_principal => {
                return Err(("principal".into(), "is required for this type".into()))
            }
            None => None,
        };
        let key = match &incident.key {
            Some(name) => Some(
                self.key_index(name)
                    .ok_or_else(|| ("key".to_owned(), format!("{name} is not in keys")))?,
            ),
            None if needs_key => return Err(("key".into(), "is required for this type".into())),
            None => None,
        };
        let key_plan = key.map(|k| &self.keys[k]);
        let principal_plan = principal.map(|p| &self.principals[p]);
        match (incident.kind, key_plan, principal_plan) {
            (T::RotationDisabled, Some(k), _)
                if !k.rotation.as_ref().is_some_and(|r| r.enabled) =>
            {
                Err(("key".into(), "needs a key with rotation enabled".into()))
            }
            (T::RotationOverdue, Some(k), _) => {
                if k.rotation.as_ref().is_some_and(|r| r.enabled) {
                    return Err(("key".into(), "needs a key with rotation disabled".into()));
                }
                if u64::from(k.age_days) + u64::from(self.days) <= 365 {
                    return Err((
                        "key".into(),
                        "the key does not pass 365 days of age within the simulation".into(),
                    ));
                }
                Ok(())
            }
            (T::ImportedMaterialExpiring, Some(k), _) => match k.material_valid_days {
                Some(days)
                    if k.origin == "EXTERNAL"
                        && days > k.age_days
                        && days - k.age_days < self.days =>
                {
                    Ok(())
                }
                _ => Err((
                    "key".into(),
                    "needs an EXTERNAL key whose material_valid_days ends within the simulation"
                        .into(),
                )),
            },
            (T::CrossAccount, Some(k), Some(p)) if p.account == k.account => Err((
                "principal".into(),
                "must be of another account than the key".into(),
            )),
            (
                T::CrossAccount
                | T::NewPrincipal
                | T::DecryptSpike
                | T::OffHours
                | T::NewNetwork
                | T::NewRegion
                | T::Ransomware,
                Some(k),
                Some(p),
            ) if !k.users.contains(&p.name) => Err((
                "principal".into(),
                format!(
                    "must be among the users of key {} to be allowed to use it",
                    k.name
                ),
            )),
            (T::AdminAndUser, Some(k), Some(p)) if !k.admins.contains(&p.name) => {
                Err(("principal".into(), "must be one of the key's admins".into()))
            }
            (T::RootUse, _, Some(p)) if p.kind != PrincipalKind::Root => {
                Err(("principal".into(), "must be of kind root".into()))
            }
            (T::NewNetwork, _, _) => match &incident.network {
                Some(net) => parse_cidr(net)
                    .map(|_| ())
                    .map_err(|d| ("network".into(), d)),
                None => Err(("network".into(), "is required for this type".into())),
            },
            (T::Ransomware, _, _) => {
                let Some(name) = &incident.foreign_key else {
                    return Err(("foreign_key".into(), "is required for this type".into()));
                };
                let Some(foreign) = self.key_index(name) else {
                    return Err(("foreign_key".into(), format!("{name} is not in keys")));
                };
                let foreign = &self.keys[foreign];
                let victim = key_plan.map(|k| k.account.as_str());
                if Some(foreign.account.as_str()) == victim || !foreign.open_to_all {
                    return Err((
                        "foreign_key".into(),
                        "must be an open_to_all key of another account".into(),
                    ));
                }
                Ok(())
            }
            (
                T::KeyDisabledInUse | T::KeyDeletionInUse | T::RotationDisabled | T::PolicyPublic,
                Some(k),
                _,
            ) if k.admins.is_empty() => {
                Err(("key".into(), "needs a key with an administrator".into()))
            }
            _ => Ok(()),
        }
    }
}

/// Operations a habit may name.
pub const HABIT_OPERATIONS: &[&str] = &[
    "Decrypt",
    "DescribeKey",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetPublicKey",
    "ListAliases",
    "ListGrants",
    "ListKeys",
    "ListResourceTags",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// Whether a habit operation needs a key (`None`: not a habit operation).
pub fn habit_operation_needs_key(op: &str) -> Option<bool> {
    HABIT_OPERATIONS
        .contains(&op)
        .then(|| !matches!(op, "ListAliases" | "ListKeys" | "GenerateRandom"))
}

/// Parses an IPv4 CIDR (`203.0.113.0/24`) or a single address into (network, prefix).
pub fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u32), String> {
    let (addr, prefix) = text.split_once('/').unwrap_or((text, "32"));
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{text:?} is not an IPv4 address or CIDR"))?;
    let prefix: u32 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("{text:?} has a prefix that is not 0-32"))?;
    Ok((addr, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name: t
start: 2026-01-01T00:00:00Z
days: 10
accounts: [{ id: "111122223333" }]
principals:
  - { name: admin, account: "111122223333", kind: role, duty: admin }
  - name: app
    account: "111122223333"
    kind: role
    duty: application
    habits: [{ keys: [k], operations: { Decrypt: 1 }, daily: 5 }]
keys:
  - { name: k, account: "111122223333", region: us-east-1, admins: [admin], users: [app] }
"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(text, Path::new("s.yaml"))
    }

    #[test]
    fn a_minimal_scenario_loads() {
        let s = parse(MINIMAL).expect("valid");
        assert_eq!(s.keys[0].spec, "SYMMETRIC_DEFAULT");
        assert!(s.accounts[0].monitored);
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let bad = MINIMAL.replace("users: [app]", "users: [nobody]");
        let err = parse(&bad).expect_err("unknown principal").to_string();
        assert!(
            err.contains("s.yaml") && err.contains("keys[0].users[0]"),
            "{err}"
        );
        let bad = MINIMAL.replace("Decrypt: 1", "Explode: 1");
        let err = parse(&bad).expect_err("unknown op").to_string();
        assert!(
            err.contains("principals[1].habits[0].operations.Explode"),
            "{err}"
        );
        let bad = MINIMAL.replace("days: 10", "days: 10\nfoo: 1");
        let err = parse(&bad).expect_err("unknown field").to_string();
        assert!(
            err.contains("unknown field `foo`") && err.contains("line"),
            "{err}"
        );
    }

    #[test]
    fn incidents_are_checked_against_the_scenario() {
        let with = |incident: &str| format!("{MINIMAL}incidents:\n  - {incident}\n");
        assert!(parse(&with(
            "{ type: decrypt-spike, principal: app, key: k, day: 3 }"
        ))
        .is_ok());
        let err = parse(&with(
            "{ type: decrypt-spike, principal: app, key: k, day: 30 }",
        ))
        .expect_err("day past the end")
        .to_string();
        assert!(err.contains("incidents[0].day"), "{err}");
        let err = parse(&with("{ type: rotation-disabled, key: k, day: 1 }"))
            .expect_err("rotation is not enabled")
            .to_string();
        assert!(err.contains("rotation enabled"), "{err}");
        let err = parse(&with(
            "{ type: new-network, principal: app, key: k, day: 1 }",
        ))
        .expect_err("network missing")
        .to_string();
        assert!(err.contains("incidents[0].network"), "{err}");
    }

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr("10.1.0.0/16"),
            Ok((Ipv4Addr::new(10, 1, 0, 0), 16))
        );
        assert_eq!(
            parse_cidr("192.0.2.7"),
            Ok((Ipv4Addr::new(192, 0, 2, 7), 32))
        );
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("example").is_err());
    }
}
