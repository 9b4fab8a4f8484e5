//! A key inventory snapshot (`scan --inventory FILE`): what KMS said about each key at one
//! time, so that keys created before the logs begin have a creation date, a key policy,
//! grants and a rotation setting. The events replayed after the snapshot take precedence.
//!
//! The file is built from the AWS CLI's JSON output, pasted verbatim
//! (`scripts/kms-inventory.sh` does it for one account and Region):
//!
//! ```json
//! {
//!   "taken": "2026-01-31T12:00:00Z",
//!   "keys": [
//!     {
//!       "DescribeKey":    { "KeyMetadata": { "Arn": "arn:aws:kms:…", "CreationDate": … } },
//!       "KeyPolicy":      { "Policy": "{\"Version\":\"2012-10-17\",…}", "PolicyName": "default" },
//!       "Grants":         { "Grants": [ { "GrantId": "…", "GranteePrincipal": "…", … } ] },
//!       "RotationStatus": { "KeyRotationEnabled": false, "KeyId": "…" },
//!       "KeyRotations":   { "Rotations": [ { "RotationDate": …, "RotationType": "AUTOMATIC" } ] }
//!     }
//!   ]
//! }
//! ```
//!
//! `DescribeKey` is the output of `aws kms describe-key`, `KeyPolicy` of `get-key-policy`,
//! `Grants` of `list-grants`, `RotationStatus` of `get-key-rotation-status` and
//! `KeyRotations` of `list-key-rotations`. Only `taken` and `DescribeKey` are required.
//! Times are ISO 8601 texts with a UTC offset or epoch seconds (with a fraction or not), as
//! the CLI prints them under either `cli_timestamp_format`. The members of the file and of
//! each key are checked strictly (an unknown one is an error); inside the AWS outputs, members
//! this reader does not use are ignored, so newer CLI versions keep working. Every error names
//! the file and the path of the member at fault (`keys[3].RotationStatus.KeyRotationEnabled`).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::rules::finding::{rfc3339, Evidence};
use crate::rules::views::policy_statements::parse_policy;

/// The `event_name` of the evidence an inventory entry gives a view row.
pub const EVIDENCE_NAME: &str = "(inventory)";

/// The `KeyManager` of AWS managed keys.
pub const AWS_MANAGED: &str = "AWS";

/// `ExpirationModel` of imported key material that never expires.
pub const DOES_NOT_EXPIRE: &str = "KEY_MATERIAL_DOES_NOT_EXPIRE";

/// Why an inventory file cannot be used. The message says it all (the underlying error is
/// part of it, not a separate `source`, so that it is not printed twice).
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file cannot be read.
    #[error("{file}: cannot be read: {error}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        error: std::io::Error,
    },
    /// The file is not JSON, or a member has the wrong type or is missing or unknown.
    #[error("{file}: {}{error}", place(.path))]
    Format {
        /// The file.
        file: String,
        /// The path of the member at fault (`keys[3].RotationStatus`); `.` or empty for the
        /// file as a whole.
        path: String,
        /// Why, with the line and column.
        error: serde_json::Error,
    },
    /// A member has a value the inventory cannot use.
    #[error("{file}: {path}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// The path of the member at fault.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// `path: ` before a message, or nothing for the whole file.
fn place(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// A key's automatic rotation setting (`GetKeyRotationStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationSetting {
    /// `KeyRotationEnabled`.
    pub enabled: bool,
    /// `RotationPeriodInDays`.
    pub period_days: Option<i64>,
}

/// A grant of the snapshot (`ListGrants`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryGrant {
    /// `GrantId`.
    pub id: String,
    /// `GranteePrincipal`.
    pub grantee: Option<String>,
    /// `RetiringPrincipal`.
    pub retiring: Option<String>,
    /// `Operations`.
    pub operations: Vec<String>,
    /// Whether `Constraints` is not empty.
    pub constraints: bool,
    /// `Name`.
    pub name: Option<String>,
    /// `IssuingAccount`.
    pub issuing_account: Option<String>,
    /// `CreationDate` (µs).
    pub created: Option<i64>,
}

/// One key of the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryKey {
    /// `KeyMetadata.Arn`.
    pub arn: String,
    /// `KeyMetadata.CreationDate` (µs).
    pub created: Option<i64>,
    /// `KeyMetadata.KeySpec` (or the older `CustomerMasterKeySpec`).
    pub key_spec: Option<String>,
    /// `KeyMetadata.KeyUsage`.
    pub key_usage: Option<String>,
    /// `KeyMetadata.Origin`.
    pub origin: Option<String>,
    /// `KeyMetadata.KeyManager`.
    pub key_manager: Option<String>,
    /// `KeyMetadata.CustomKeyStoreId`.
    pub custom_key_store_id: Option<String>,
    /// `KeyMetadata.MultiRegion`.
    pub multi_region: Option<bool>,
    /// `KeyMetadata.KeyState`.
    pub state: Option<String>,
    /// `KeyMetadata.DeletionDate` (µs).
    pub deletion_date: Option<i64>,
    /// `KeyMetadata.ValidTo` (µs), unless `ExpirationModel` is
    /// `KEY_MATERIAL_DOES_NOT_EXPIRE`.
    pub valid_to: Option<i64>,
    /// `GetKeyRotationStatus`, when given.
    pub rotation: Option<RotationSetting>,
    /// The latest `RotationDate` of `ListKeyRotations` (µs).
    pub last_rotation: Option<i64>,
    /// `GetKeyPolicy`'s `Policy` text, when given.
    pub policy: Option<String>,
    /// `ListGrants`'s grants, when given (`Some` of an empty list: the key had none).
    pub grants: Option<Vec<InventoryGrant>>,
}

impl InventoryKey {
    /// Whether the key is an AWS managed key (`KeyManager` `AWS`).
    pub fn aws_managed(&self) -> bool {
        self.key_manager.as_deref() == Some(AWS_MANAGED)
    }
}

/// A key inventory snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The file it was read from, as shown in messages and evidence.
    pub file: String,
    /// When it was taken (µs).
    pub taken: i64,
    /// The keys, in file order.
    pub keys: Vec<InventoryKey>,
}

impl Inventory {
    /// Reads inventory file `path`.
    pub fn read(path: &Path) -> Result<Self, InventoryError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| InventoryError::Io {
            file: file.clone(),
            error,
        })?;
        Self::parse(&file, &text)
    }

    /// Reads the text of inventory `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self, InventoryError> {
        let format = |path: String, error: serde_json::Error| InventoryError::Format {
            file: file.to_owned(),
            path,
            error,
        };
        let mut json = serde_json::Deserializer::from_str(text);
        let raw: RawFile = serde_path_to_error::deserialize(&mut json)
            .map_err(|err| format(err.path().to_string(), err.into_inner()))?;
        json.end().map_err(|err| format(String::new(), err))?;
        let invalid = |path: String, message: String| InventoryError::Invalid {
            file: file.to_owned(),
            path,
            message,
        };
        let mut keys = Vec::with_capacity(raw.keys.len());
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (index, item) in raw.keys.into_iter().enumerate() {
            let key = item
                .into_key(index)
                .map_err(|(path, message)| invalid(path, message))?;
            if let Some(first) = seen.insert(key.arn.clone(), index) {
                return Err(invalid(
                    format!("keys[{index}].DescribeKey.KeyMetadata.Arn"),
                    format!("key `{}` is also keys[{first}]", key.arn),
                ));
            }
            keys.push(key);
        }
        Ok(Self {
            file: file.to_owned(),
            taken: raw.taken.0,
            keys,
        })
    }

    /// The evidence key ([`crate::rules::views::Row::evidence`]) of keys entry `index`.
    pub fn evidence_key(&self, index: usize) -> String {
        format!("{}#keys[{index}]", self.file)
    }

    /// Keys entry `index` as finding evidence: the file, the entry's position and `taken`.
    pub fn evidence(&self, index: usize) -> Evidence {
        Evidence {
            event_id: None,
            event_time: rfc3339(self.taken),
            event_name: EVIDENCE_NAME.to_owned(),
            source_file: self.file.clone(),
            source_record: u32::try_from(index).unwrap_or(u32::MAX),
        }
    }

    /// The evidence of every entry, by evidence key.
    pub fn all_evidence(&self) -> impl Iterator<Item = (String, Evidence)> + '_ {
        (0..self.keys.len()).map(|i| (self.evidence_key(i), self.evidence(i)))
    }
}

/// A time as the AWS CLI prints it: ISO 8601 text with a UTC offset, or epoch seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timestamp(i64);

/// Parses an ISO 8601 / RFC 3339 time with a UTC offset (`2024-05-01T12:00:00Z`,
/// `2024-05-01T14:00:00.123000+02:00`, `…+0200`) into µs.
pub fn parse_iso_time(text: &str) -> Option<i64> {
    let text = text.trim();
    chrono::DateTime::parse_from_rfc3339(text)
        .or_else(|_| chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Epoch seconds (with a fraction or not) into µs, when in chrono's range.
pub fn epoch_seconds(seconds: f64) -> Option<i64> {
    let micros = (seconds * 1e6).round();
    if !micros.is_finite() || micros.abs() >= i64::MAX as f64 {
        return None;
    }
    let micros = micros as i64;
    chrono::DateTime::from_timestamp_micros(micros).map(|_| micros)
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;

        impl Visitor<'_> for TimeVisitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a time: ISO 8601 text with a UTC offset, or epoch seconds")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                parse_iso_time(v).map(Timestamp).ok_or_else(|| {
                    E::custom(format!(
                        "`{v}` is not an ISO 8601 time with a UTC offset \
                         (2024-05-01T12:00:00Z) nor epoch seconds"
                    ))
                })
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
                epoch_seconds(v)
                    .map(Timestamp)
                    .ok_or_else(|| E::custom(format!("{v} is out of range for epoch seconds")))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                v.checked_mul(1_000_000)
                    .filter(|m| chrono::DateTime::from_timestamp_micros(*m).is_some())
                    .map(Timestamp)
                    .ok_or_else(|| E::custom(format!("{v} is out of range for epoch seconds")))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                let v = i64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is out of range for epoch seconds")))?;
                self.visit_i64(v)
            }
        }

        deserializer.deserialize_any(TimeVisitor)
    }
}

/// The file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    taken: Timestamp,
    keys: Vec<RawKey>,
}

/// One key: the outputs of the CLI calls about it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    #[serde(rename = "DescribeKey")]
    describe_key: DescribeKeyOutput,
    #[serde(rename = "KeyPolicy", default)]
    key_policy: Option<GetKeyPolicyOutput>,
    #[serde(rename = "Grants", default)]
    grants: Option<ListGrantsOutput>,
    #[serde(rename = "RotationStatus", default)]
    rotation_status: Option<GetKeyRotationStatusOutput>,
    #[serde(rename = "KeyRotations", default)]
    key_rotations: Option<ListKeyRotationsOutput>,
}

/// `aws kms describe-key`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeKeyOutput {
    key_metadata: KeyMetadata,
}

/// The `KeyMetadata` members the views use.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyMetadata {
    key_id: Option<String>,
    arn: String,
    creation_date: Option<Timestamp>,
    key_spec: Option<String>,
    customer_master_key_spec: Option<String>,
    key_usage: Option<String>,
    origin: Option<String>,
    key_manager: Option<String>,
    key_state: Option<String>,
    multi_region: Option<bool>,
    custom_key_store_id: Option<String>,
    deletion_date: Option<Timestamp>,
    valid_to: Option<Timestamp>,
    expiration_model: Option<String>,
}

/// `aws kms get-key-policy`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetKeyPolicyOutput {
    policy: String,
}

/// Whether a list output is complete: not cut short by `--no-paginate` or `--max-items`
/// (`Truncated`, `NextMarker`, `NextToken`).
fn complete(
    truncated: Option<bool>,
    next_marker: &Option<String>,
    next_token: &Option<String>,
) -> bool {
    truncated != Some(true) && next_marker.is_none() && next_token.is_none()
}

/// `aws kms list-grants`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrantsOutput {
    grants: Vec<GrantListEntry>,
    truncated: Option<bool>,
    next_marker: Option<String>,
    next_token: Option<String>,
}

/// One grant of `list-grants`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GrantListEntry {
    key_id: Option<String>,
    grant_id: String,
    name: Option<String>,
    creation_date: Option<Timestamp>,
    grantee_principal: Option<String>,
    retiring_principal: Option<String>,
    issuing_account: Option<String>,
    operations: Option<Vec<String>>,
    constraints: Option<serde_json::Value>,
}

/// `aws kms get-key-rotation-status`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetKeyRotationStatusOutput {
    key_rotation_enabled: bool,
    key_id: Option<String>,
    rotation_period_in_days: Option<i64>,
}

/// `aws kms list-key-rotations`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyRotationsOutput {
    rotations: Vec<RotationsListEntry>,
    truncated: Option<bool>,
    next_marker: Option<String>,
    next_token: Option<String>,
}

/// One rotation of `list-key-rotations`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RotationsListEntry {
    key_id: Option<String>,
    rotation_date: Option<Timestamp>,
}

/// Whether `arn` is a KMS key ARN (`arn:PARTITION:kms:REGION:ACCOUNT:key/ID`).
fn is_key_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "kms", region, account, resource]
            if !partition.is_empty()
                && !region.is_empty()
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty())
    )
}

/// A member failure: (path, message).
type Failure = (String, String);

/// Text that is not empty.
fn text(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

impl RawKey {
    /// Checks the outputs against each other and keeps what the views use.
    fn into_key(self, index: usize) -> Result<InventoryKey, Failure> {
        let at = |member: &str| format!("keys[{index}].{member}");
        let meta = self.describe_key.key_metadata;
        if !is_key_arn(&meta.arn) {
            return Err((
                at("DescribeKey.KeyMetadata.Arn"),
                format!(
                    "`{}` is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)",
                    meta.arn
                ),
            ));
        }
        let arn = meta.arn;
        let key_id = meta.key_id;
        let names_key = |id: &str| {
            id == arn
                || key_id.as_deref() == Some(id)
                || arn.rsplit_once('/').is_some_and(|(_, tail)| tail == id)
        };
        let other_key = |path: String, id: &str| {
            (
                path,
                format!(
                    "`{id}` is not the key of DescribeKey (`{arn}`): outputs of two keys mixed up"
                ),
            )
        };
        let incomplete = |path: String, command: &str| {
            (
                path,
                format!(
                    "the list is incomplete (truncated): run `aws kms {command}` without \
                     --no-paginate or --max-items"
                ),
            )
        };

        let policy = match self.key_policy {
            None => None,
            Some(out) => {
                if parse_policy(&out.policy).is_none() {
                    return Err((
                        at("KeyPolicy.Policy"),
                        "not a JSON key policy document with a `Statement`".to_owned(),
                    ));
                }
                Some(out.policy)
            }
        };

        let rotation = match self.rotation_status {
            None => None,
            Some(out) => {
                if let Some(id) = out.key_id.as_deref().filter(|id| !names_key(id)) {
                    return Err(other_key(at("RotationStatus.KeyId"), id));
                }
                if let Some(days) = out.rotation_period_in_days.filter(|d| *d <= 0) {
                    return Err((
                        at("RotationStatus.RotationPeriodInDays"),
                        format!("{days} is not a number of days"),
                    ));
                }
                Some(RotationSetting {
                    enabled: out.key_rotation_enabled,
                    period_days: out.rotation_period_in_days,
                })
            }
        };

        let last_rotation = match self.key_rotations {
            None => None,
            Some(out) => {
                if !complete(out.truncated, &out.next_marker, &out.next_token) {
                    return Err(incomplete(at("KeyRotations"), "list-key-rotations"));
                }
                let mut latest: Option<i64> = None;
                for (i, rotation) in out.rotations.iter().enumerate() {
                    if let Some(id) = rotation.key_id.as_deref().filter(|id| !names_key(id)) {
                        return Err(other_key(
                            at(&format!("KeyRotations.Rotations[{i}].KeyId")),
                            id,
                        ));
                    }
                    if let Some(Timestamp(t)) = rotation.rotation_date {
                        latest = Some(latest.map_or(t, |l| l.max(t)));
                    }
                }
                latest
            }
        };

        let grants = match self.grants {
            None => None,
            Some(out) => {
                if !complete(out.truncated, &out.next_marker, &out.next_token) {
                    return Err(incomplete(at("Grants"), "list-grants"));
                }
                let mut grants = Vec::with_capacity(out.grants.len());
                for (i, grant) in out.grants.into_iter().enumerate() {
                    if let Some(id) = grant.key_id.as_deref().filter(|id| !names_key(id)) {
                        return Err(other_key(at(&format!("Grants.Grants[{i}].KeyId")), id));
                    }
                    if grant.grant_id.is_empty() {
                        return Err((
                            at(&format!("Grants.Grants[{i}].GrantId")),
                            "empty grant id".to_owned(),
                        ));
                    }
                    grants.push(InventoryGrant {
                        id: grant.grant_id,
                        grantee: text(grant.grantee_principal),
                        retiring: text(grant.retiring_principal),
                        operations: grant.operations.unwrap_or_default(),
                        constraints: grant.constraints.as_ref().is_some_and(not_empty),
                        name: text(grant.name),
                        issuing_account: text(grant.issuing_account),
                        created: grant.creation_date.map(|t| t.0),
                    });
                }
                Some(grants)
            }
        };

        let expires = meta.expiration_model.as_deref() != Some(DOES_NOT_EXPIRE);
        Ok(InventoryKey {
            created: meta.creation_date.map(|t| t.0),
            key_spec: text(meta.key_spec).or_else(|| text(meta.customer_master_key_spec)),
            key_usage: text(meta.key_usage),
            origin: text(meta.origin),
            key_manager: text(meta.key_manager),
            custom_key_store_id: text(meta.custom_key_store_id),
            multi_region: meta.multi_region,
            state: text(meta.key_state),
            deletion_date: meta.deletion_date.map(|t| t.0),
            valid_to: meta.valid_to.filter(|_| expires).map(|t| t.0),
            rotation,
            last_rotation,
            policy,
            grants,
            arn,
        })
    }
}

/// Whether a JSON value holds something (grant `Constraints`: an encryption context or a
/// source ARN).
fn not_empty(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => false,
        serde_json::Value::String(s) => !s.is_empty(),
        serde_json::Value::Array(items) => items.iter().any(not_empty),
        serde_json::Value::Object(members) => members.values().any(not_empty),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn file(keys: &str) -> String {
        format!(r#"{{"taken":"2026-01-31T12:00:00Z","keys":[{keys}]}}"#)
    }

    fn describe(created: &str) -> String {
        format!(
            r#"{{"DescribeKey":{{"KeyMetadata":{{"AWSAccountId":"111122223333","KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","Arn":"{ARN}","CreationDate":{created},"Enabled":true,"KeyUsage":"ENCRYPT_DECRYPT","KeyState":"Enabled","Origin":"AWS_KMS","KeyManager":"CUSTOMER","CustomerMasterKeySpec":"SYMMETRIC_DEFAULT","KeySpec":"SYMMETRIC_DEFAULT","EncryptionAlgorithms":["SYMMETRIC_DEFAULT"],"MultiRegion":false,"CurrentKeyMaterialId":"abc"}}}}"#
        )
    }

    fn error(text: &str) -> String {
        Inventory::parse("inv.json", text)
            .expect_err("invalid inventory")
            .to_string()
    }

    #[test]
    fn reads_iso_and_epoch_times_alike() {
        let iso = Inventory::parse(
            "inv.json",
            &file(&(describe(r#""2019-08-13T22:16:29.610000+00:00""#) + "}")),
        )
        .expect("ISO 8601 (CLI v2)");
        let epoch =
            Inventory::parse("inv.json", &file(&(describe("1565734589.61") + "}"))).expect("epoch");
        let offset = Inventory::parse(
            "inv.json",
            &file(&(describe(r#""2019-08-14T00:16:29.61+0200""#) + "}")),
        )
        .expect("offset without colon");
        let whole = Inventory::parse("inv.json", &file(&(describe("1565734589") + "}")))
            .expect("whole seconds");
        assert_eq!(iso.keys[0].created, Some(1_565_734_589_610_000));
        assert_eq!(epoch.keys[0].created, iso.keys[0].created);
        assert_eq!(offset.keys[0].created, iso.keys[0].created);
        assert_eq!(whole.keys[0].created, Some(1_565_734_589_000_000));
        assert_eq!(iso.taken, 1_769_860_800_000_000);
        let key = &iso.keys[0];
        assert_eq!(key.arn, ARN);
        assert_eq!(key.key_spec.as_deref(), Some("SYMMETRIC_DEFAULT"));
        assert_eq!(key.state.as_deref(), Some("Enabled"));
        assert_eq!(key.rotation, None);
        assert_eq!(key.grants, None);
        assert!(!key.aws_managed());
        let epoch_taken = Inventory::parse(
            "inv.json",
            &format!(r#"{{"taken":1769860800.0,"keys":[{}}}]}}"#, describe("0")),
        )
        .expect("epoch taken");
        assert_eq!(epoch_taken.taken, iso.taken);
    }

    #[test]
    fn reads_every_output() {
        let policy = serde_json::to_string(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}"#,
        )
        .expect("json text");
        let entry = format!(
            r#"{},
            "KeyPolicy":{{"Policy":{policy},"PolicyName":"default"}},
            "Grants":{{"Grants":[{{"KeyId":"{ARN}","GrantId":"g1","Name":"","CreationDate":1500000000,"GranteePrincipal":"arn:aws:iam::444455556666:role/x","IssuingAccount":"arn:aws:iam::111122223333:root","Operations":["Decrypt"],"Constraints":{{"EncryptionContextSubset":{{"a":"b"}}}}}},
                                 {{"GrantId":"g2","Operations":["Encrypt"],"Constraints":{{}}}}]}},
            "RotationStatus":{{"KeyRotationEnabled":true,"KeyId":"{ARN}","RotationPeriodInDays":730,"NextRotationDate":"2026-06-01T00:00:00+00:00"}},
            "KeyRotations":{{"Rotations":[{{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","RotationDate":1600000000.5,"RotationType":"AUTOMATIC"}},{{"RotationDate":"2021-01-01T00:00:00Z","RotationType":"ON_DEMAND"}}]}}}}"#,
            describe("1500000000")
        );
        let inventory = Inventory::parse("inv.json", &file(&entry)).expect("valid");
        let key = &inventory.keys[0];
        assert!(key
            .policy
            .as_deref()
            .is_some_and(|p| p.contains("Principal")));
        assert_eq!(
            key.rotation,
            Some(RotationSetting {
                enabled: true,
                period_days: Some(730)
            })
        );
        assert_eq!(key.last_rotation, Some(1_609_459_200_000_000));
        let grants = key.grants.as_ref().expect("grants");
        assert_eq!(grants.len(), 2);
        assert_eq!(grants[0].name, None, "empty name");
        assert!(grants[0].constraints);
        assert!(!grants[1].constraints, "empty constraints");
        assert_eq!(grants[0].created, Some(1_500_000_000_000_000));
        assert_eq!(inventory.evidence_key(0), "inv.json#keys[0]");
        let evidence = inventory.evidence(0);
        assert_eq!(evidence.event_time, "2026-01-31T12:00:00Z");
        assert_eq!(evidence.source_file, "inv.json");
    }

    #[test]
    fn errors_name_the_file_and_the_member() {
        let cases = [
            (
                file(&(describe("0") + r#","RotationStatus":{"KeyRotationEnabled":"yes"}}"#)),
                "inv.json: keys[0].RotationStatus.KeyRotationEnabled: ",
                "expected a boolean",
            ),
            (
                file(&(describe(r#""yesterday""#) + "}")),
                "inv.json: keys[0].DescribeKey.KeyMetadata.CreationDate: ",
                "`yesterday` is not an ISO 8601 time",
            ),
            (
                file(&(describe("true") + "}")),
                "inv.json: keys[0].DescribeKey.KeyMetadata.CreationDate: ",
                "expected a time",
            ),
            (
                file(&(describe("0") + r#","Colour":"red"}"#)),
                "inv.json: keys[0].Colour: ",
                "unknown field `Colour`",
            ),
            (
                r#"{"taken":"2026-01-01T00:00:00Z","keys":[],"extra":1}"#.to_owned(),
                "inv.json: extra: ",
                "unknown field `extra`",
            ),
            (
                r#"{"keys":[]}"#.to_owned(),
                "inv.json: ",
                "missing field `taken`",
            ),
            (
                file(r#"{"KeyPolicy":{"Policy":"{}"}}"#),
                "inv.json: keys[0]: ",
                "missing field `DescribeKey`",
            ),
            (
                file(r#"{"DescribeKey":{"KeyMetadata":{"KeyId":"k"}}}"#),
                "inv.json: keys[0].DescribeKey.KeyMetadata: ",
                "missing field `Arn`",
            ),
            (
                file(r#"{"DescribeKey":{"KeyMetadata":{"Arn":"alias/x"}}}"#),
                "inv.json: keys[0].DescribeKey.KeyMetadata.Arn: ",
                "not a KMS key ARN",
            ),
            (
                file(&(describe("0") + r#","KeyPolicy":{"Policy":"not json"}}"#)),
                "inv.json: keys[0].KeyPolicy.Policy: ",
                "not a JSON key policy",
            ),
            (
                file(&(describe("0") + r#","Grants":{"Grants":[],"Truncated":true}}"#)),
                "inv.json: keys[0].Grants: ",
                "incomplete",
            ),
            (
                file(
                    &(describe("0") + r#","Grants":{"Grants":[{"GrantId":"g","KeyId":"other"}]}}"#),
                ),
                "inv.json: keys[0].Grants.Grants[0].KeyId: ",
                "mixed up",
            ),
            (
                file(&format!("{}}},{}}}", describe("0"), describe("0"))),
                "inv.json: keys[1].DescribeKey.KeyMetadata.Arn: ",
                "also keys[0]",
            ),
            ("{\"taken\": ".to_owned(), "inv.json: ", "EOF"),
            (
                r#"{"taken":"2026-01-01T00:00:00Z","keys":[]} trailing"#.to_owned(),
                "inv.json: ",
                "trailing characters",
            ),
        ];
        for (text, prefix, needle) in cases {
            let message = error(&text);
            assert!(
                message.starts_with(prefix),
                "{message}\nwanted prefix {prefix}"
            );
            assert!(message.contains(needle), "{message}\nwanted {needle}");
        }
    }

    #[test]
    fn aws_managed_and_expiring_material() {
        let text = file(&format!(
            r#"{{"DescribeKey":{{"KeyMetadata":{{"Arn":"{ARN}","KeyManager":"AWS","Origin":"EXTERNAL","ValidTo":1700000000,"ExpirationModel":"KEY_MATERIAL_EXPIRES"}}}}}},
               {{"DescribeKey":{{"KeyMetadata":{{"Arn":"{ARN}x","ValidTo":1700000000,"ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"}}}}}}"#
        ));
        let inventory = Inventory::parse("inv.json", &text).expect("valid");
        assert!(inventory.keys[0].aws_managed());
        assert_eq!(inventory.keys[0].valid_to, Some(1_700_000_000_000_000));
        assert_eq!(inventory.keys[1].valid_to, None);
    }

    mod merge {
        use serde_json::json;

        use super::super::*;
        use crate::rules::views::{grants, keys, policy_statements as ps};
        use crate::rules::views::{Cell, KmsEvent, View, ViewTable, Views, DAY_US};

        const A: &str = "arn:aws:kms:us-east-1:111122223333:key/aaaa";
        const B: &str = "arn:aws:kms:us-east-1:111122223333:key/bbbb";
        const D: &str = "arn:aws:kms:us-east-1:111122223333:key/dddd";
        const OPEN: &str =
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt"}]}"#;
        const ROOT: &str = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*"}]}"#;

        fn at(text: &str) -> i64 {
            parse_iso_time(text).expect("time")
        }

        fn event(name: &str, time: &str, key: &str, request: serde_json::Value) -> KmsEvent {
            KmsEvent {
                time: at(time),
                name: name.to_owned(),
                event_type: Some("AwsApiCall".to_owned()),
                event_id: Some(format!("{name}-{time}")),
                principal: Some("arn:aws:iam::111122223333:user/Alice".to_owned()),
                key_arn: Some(key.to_owned()),
                key_account: Some("111122223333".to_owned()),
                request: Some(request),
                ..KmsEvent::default()
            }
        }

        fn inventory() -> Inventory {
            let describe = |arn: &str, created: &str, manager: &str| {
                json!({"KeyMetadata": {"Arn": arn, "CreationDate": created, "KeyManager": manager,
                    "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS", "KeyState": "Enabled"}})
            };
            let text = json!({"taken": "2025-06-15T00:00:00Z", "keys": [
                {"DescribeKey": describe(A, "2019-01-01T00:00:00Z", "CUSTOMER"),
                 "KeyPolicy": {"Policy": OPEN, "PolicyName": "default"},
                 "Grants": {"Grants": [{"GrantId": "g-live", "CreationDate": "2020-02-01T00:00:00Z",
                    "GranteePrincipal": "arn:aws:iam::111122223333:role/Batch", "Operations": ["Decrypt"]}]},
                 "RotationStatus": {"KeyRotationEnabled": false},
                 "KeyRotations": {"Rotations": [{"RotationDate": 1577836800, "RotationType": "ON_DEMAND"}]}},
                {"DescribeKey": describe(B, "2018-01-15T00:00:00Z", "AWS")},
                {"DescribeKey": describe(D, "2024-01-01T00:00:00Z", "CUSTOMER"),
                 "KeyPolicy": {"Policy": ROOT.replace(",", ", ")}}
            ]});
            Inventory::parse("inv.json", &text.to_string()).expect("valid inventory")
        }

        fn events() -> Vec<KmsEvent> {
            let mut created = event(
                "CreateGrant",
                "2025-06-01T00:00:00Z",
                A,
                json!({"granteePrincipal": "arn:aws:iam::111122223333:role/Gone", "operations": ["Decrypt"]}),
            );
            created.response = Some(json!({"grantId": "g-evt"}));
            let mut rotation = event("EnableKeyRotation", "2025-06-20T00:00:00Z", A, json!({}));
            rotation.rotation_period_days = Some(180);
            vec![
                created,
                event(
                    "PutKeyPolicy",
                    "2025-06-02T00:00:00Z",
                    A,
                    json!({"policy": ROOT}),
                ),
                event(
                    "PutKeyPolicy",
                    "2025-06-02T00:00:00Z",
                    D,
                    json!({"policy": ROOT}),
                ),
                event("DisableKey", "2025-06-03T00:00:00Z", A, json!({})),
                rotation,
                event(
                    "RevokeGrant",
                    "2025-06-21T00:00:00Z",
                    A,
                    json!({"grantId": "g-live"}),
                ),
                event("Decrypt", "2025-06-22T00:00:00Z", A, json!({})),
            ]
        }

        fn find(table: &ViewTable, column: &str, value: &str) -> usize {
            (0..table.rows.len())
                .find(|&r| table.get(r, column) == &Cell::Text(value.to_owned()))
                .unwrap_or_else(|| panic!("{}: no row with {column} {value}", table.view))
        }

        #[test]
        fn the_inventory_replaces_earlier_events_and_later_events_replace_it() {
            let inventory = inventory();
            let kms = events();
            let views = Views::from_events(&kms, at("2025-06-22T00:00:00Z"), Some(&inventory));
            assert_eq!(views.as_of, at("2025-06-22T00:00:00Z"));
            assert!(views.evidence.contains_key("inv.json#keys[0]"));

            let k = &views.keys;
            let a = find(k, keys::KEY_ARN, A);
            assert_eq!(
                k.get(a, keys::CREATED),
                &Cell::Time(at("2019-01-01T00:00:00Z"))
            );
            assert_eq!(
                k.get(a, keys::STATE),
                &Cell::Text("Enabled".into()),
                "snapshot wins"
            );
            assert_eq!(k.get(a, keys::STATE_CHANGED), &Cell::Null, "unknown change");
            assert_eq!(
                k.get(a, keys::ROTATION_ENABLED),
                &Cell::Bool(true),
                "later event wins"
            );
            assert_eq!(k.get(a, keys::ROTATION_PERIOD_DAYS), &Cell::Int(180));
            assert_eq!(
                k.get(a, keys::LAST_ROTATION),
                &Cell::Time(at("2020-01-01T00:00:00Z"))
            );
            assert_eq!(
                k.get(a, keys::LAST_MATERIAL_CHANGE),
                &Cell::Time(at("2020-01-01T00:00:00Z"))
            );
            assert_eq!(
                k.get(a, keys::LAST_USED),
                &Cell::Time(at("2025-06-22T00:00:00Z"))
            );
            assert_eq!(
                k.get(a, keys::SOURCE),
                &Cell::Text("inventory+events".into())
            );
            assert!(k.rows[a].evidence.contains(&"inv.json#keys[0]".to_owned()));

            let b = find(k, keys::KEY_ARN, B);
            assert_eq!(k.get(b, keys::SOURCE), &Cell::Text("inventory".into()));
            assert_eq!(
                k.get(b, keys::ROTATION_ENABLED),
                &Cell::Bool(true),
                "AWS managed"
            );
            assert_eq!(k.get(b, keys::ROTATION_PERIOD_DAYS), &Cell::Int(365));
            assert_eq!(k.get(b, keys::CAN_ROTATE), &Cell::Bool(true));
            let Cell::Int(age) = k.get(b, keys::MATERIAL_AGE_DAYS) else {
                panic!("material age of an AWS managed key")
            };
            assert!((0..365).contains(age), "rotated yearly: {age}");

            let p = &views.policy_statements;
            let pa = find(p, ps::KEY_ARN, A);
            assert_eq!(
                p.get(pa, ps::POLICY_SOURCE),
                &Cell::Text("inventory".into())
            );
            assert_eq!(p.get(pa, ps::POLICY_SET), &Cell::Time(inventory.taken));
            assert_eq!(p.get(pa, ps::PRINCIPAL_WILDCARD), &Cell::Bool(true));
            let pd = find(p, ps::KEY_ARN, D);
            assert_eq!(
                p.get(pd, ps::POLICY_SOURCE),
                &Cell::Text("PutKeyPolicy".into()),
                "same policy"
            );
            assert_eq!(
                p.get(pd, ps::POLICY_SET),
                &Cell::Time(at("2025-06-02T00:00:00Z"))
            );

            let g = &views.grants;
            let gone = find(g, grants::GRANT_ID, "g-evt");
            assert_eq!(g.get(gone, grants::RETIRED), &Cell::Bool(true));
            assert_eq!(
                g.get(gone, grants::RETIRED_BY),
                &Cell::Text("inventory".into())
            );
            assert_eq!(
                g.get(gone, grants::RETIRED_AT),
                &Cell::Time(inventory.taken)
            );
            let live = find(g, grants::GRANT_ID, "g-live");
            assert_eq!(
                g.get(live, grants::CREATED),
                &Cell::Time(at("2020-02-01T00:00:00Z"))
            );
            assert_eq!(
                g.get(live, grants::RETIRED_BY),
                &Cell::Text("RevokeGrant".into())
            );
            assert_eq!(g.get(live, grants::CREATED_BY), &Cell::Null);
            assert_eq!(
                g.get(live, grants::AGE_DAYS),
                &Cell::Int((at("2025-06-21T00:00:00Z") - at("2020-02-01T00:00:00Z")) / DAY_US)
            );
            assert_eq!(views.table(View::Grants).rows.len(), 2);
        }

        #[test]
        fn an_inventory_taken_after_the_logs_has_the_last_word() {
            let inventory = inventory();
            let kms: Vec<KmsEvent> = events()
                .into_iter()
                .filter(|e| e.time < inventory.taken)
                .collect();
            let views = Views::from_events(&kms, at("2025-06-03T00:00:00Z"), Some(&inventory));
            assert_eq!(views.as_of, inventory.taken, "ages counted to the snapshot");
            let k = &views.keys;
            let a = find(k, keys::KEY_ARN, A);
            assert_eq!(k.get(a, keys::ROTATION_ENABLED), &Cell::Bool(false));
            assert_eq!(k.get(a, keys::ROTATION_PERIOD_DAYS), &Cell::Null);
            let g = &views.grants;
            let live = find(g, grants::GRANT_ID, "g-live");
            assert_eq!(g.get(live, grants::RETIRED), &Cell::Bool(false));
        }
    }

    #[test]
    fn key_arns_are_checked() {
        assert!(is_key_arn(ARN));
        assert!(is_key_arn(
            "arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1"
        ));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:111122223333:alias/x"));
        assert!(!is_key_arn("arn:aws:kms:us-east-1:1111:key/x"));
        assert!(!is_key_arn("1234abcd"));
    }
}
