//! The KMS-specific record rules of reference §2.1 the engine applies when it builds an
//! [`super::AuditEvent`]: which operations are read-only or cryptographic, the December-2022
//! `responseElements.keyId`, Java-style date text inside `responseElements`, and
//! `keyMetadata` as CloudTrail writes it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// Cryptographic operations: their records have `responseElements: null` (the response holds
/// plaintext, ciphertext, signatures or MACs, which are never logged).
pub const CRYPTOGRAPHIC_OPERATIONS: &[&str] = &[
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom",
    "GenerateMac",
    "VerifyMac",
    "Sign",
    "Verify",
    "DeriveSharedSecret",
];

/// State-changing operations that return nothing (or only the key id) and whose records carry
/// `responseElements: {"keyId": "<key ARN>"}` since December 2022 (reference §2.1 rule 5).
/// The AWS pages state it for EnableKeyRotation, RotateKey (old variant) and
/// ImportKeyMaterial; real 2026 records show it for DisableKey; the rest of the list is
/// INFERENCE from "state-changing operations that return nothing".
pub const KEY_ID_RESPONSE_OPERATIONS: &[&str] = &[
    "EnableKey",
    "DisableKey",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "PutKeyPolicy",
    "RevokeGrant",
    "ImportKeyMaterial",
    "DeleteImportedKeyMaterial",
    "TagResource",
    "UntagResource",
    "UpdateKeyDescription",
    "CancelKeyDeletion",
];

/// Whether CloudTrail marks `event_name` `readOnly: true`: cryptographic operations and
/// `Describe*`/`List*`/`Get*` (rule 9). Everything else, and every service event, is `false`.
pub fn is_read_only(event_name: &str) -> bool {
    is_cryptographic(event_name)
        || ["Describe", "List", "Get"]
            .iter()
            .any(|prefix| event_name.starts_with(prefix))
}

/// Whether `event_name` is a cryptographic operation ([`CRYPTOGRAPHIC_OPERATIONS`]).
pub fn is_cryptographic(event_name: &str) -> bool {
    CRYPTOGRAPHIC_OPERATIONS.contains(&event_name)
}

/// `responseElements` as current KMS logs it for a successful `event_name` on `key_arn`,
/// given what the operation itself returned for the log (`response`):
/// - cryptographic and read-only operations: `None` (`null`), whatever was passed;
/// - [`KEY_ID_RESPONSE_OPERATIONS`]: `{"keyId": key_arn}`, merged into `response` if it
///   has other members (ImportKeyMaterial 2025 adds `keyMaterialId`);
/// - CreateGrant: the response with `keyId` (the key ARN) added, as in real 2026 records;
/// - anything else: `response` unchanged.
pub fn response_elements(
    event_name: &str,
    key_arn: Option<&str>,
    response: Option<Value>,
) -> Option<Value> {
    if is_read_only(event_name) {
        return None;
    }
    let adds_key = KEY_ID_RESPONSE_OPERATIONS.contains(&event_name) || event_name == "CreateGrant";
    match (adds_key, key_arn) {
        (true, Some(arn)) => {
            let mut map = match response {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            map.insert("keyId".to_owned(), Value::String(arn.to_owned()));
            Some(Value::Object(map))
        }
        _ => response,
    }
}

/// A date inside `requestParameters`/`responseElements` in KMS's Java `DateFormat` text,
/// `MMM d, yyyy, h:mm:ss a` in UTC: `Aug 10, 2022, 10:38:27 PM`.
pub fn java_date(time: DateTime<Utc>) -> String {
    time.format("%b %-d, %Y, %-I:%M:%S %p").to_string()
}

/// `keyMetadata` (CreateKey, DescribeKey responses) as CloudTrail writes it inside
/// `responseElements`: camelCase members, `aWSAccountId`, Java date text, absent members
/// left out. Serialize it (or call [`KeyMetadataRecord::to_value`]); the emitter writes the
/// members in AWS's order whatever the map order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyMetadataRecord {
    /// `aWSAccountId` (sic: the spelling of most AWS examples).
    #[serde(rename = "aWSAccountId")]
    pub aws_account_id: String,
    /// The key id.
    pub key_id: String,
    /// The key ARN.
    pub arn: String,
    /// `creationDate`, Java date text (see [`java_date`]).
    pub creation_date: String,
    /// `enabled`.
    pub enabled: bool,
    /// `description`.
    pub description: String,
    /// `keyUsage`: `ENCRYPT_DECRYPT`, `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`, `KEY_AGREEMENT`.
    pub key_usage: String,
    /// `keyState`.
    pub key_state: String,
    /// `deletionDate`, Java date text, while pending deletion.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion_date: Option<String>,
    /// `validTo`, Java date text, for expiring imported material.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_to: Option<String>,
    /// `origin`: `AWS_KMS`, `EXTERNAL`, …
    pub origin: String,
    /// `expirationModel` of imported material.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_model: Option<String>,
    /// `keyManager`: `CUSTOMER` or `AWS`.
    pub key_manager: String,
    /// `customerMasterKeySpec` (deprecated twin of `keySpec`, still logged).
    pub customer_master_key_spec: String,
    /// `keySpec`.
    pub key_spec: String,
    /// `encryptionAlgorithms` (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encryption_algorithms: Vec<String>,
    /// `signingAlgorithms` (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signing_algorithms: Vec<String>,
    /// `multiRegion`.
    pub multi_region: bool,
    /// `pendingDeletionWindowInDays`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_deletion_window_in_days: Option<u32>,
    /// `macAlgorithms` (omitted when empty).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mac_algorithms: Vec<String>,
}

impl KeyMetadataRecord {
    /// The record as a JSON value, for `responseElements: {"keyMetadata": …}`.
    pub fn to_value(&self) -> Value {
        // A struct of strings, bools, numbers and lists always converts.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// `{"keyMetadata": …}`: the `responseElements` of CreateKey.
pub fn key_metadata_json(metadata: &KeyMetadataRecord) -> Value {
    let mut map = Map::new();
    map.insert("keyMetadata".to_owned(), metadata.to_value());
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn java_dates_match_the_examples() {
        assert_eq!(
            java_date(at("2022-08-10T22:38:27Z")),
            "Aug 10, 2022, 10:38:27 PM"
        );
        assert_eq!(
            java_date(at("2021-11-02T23:25:25Z")),
            "Nov 2, 2021, 11:25:25 PM"
        );
        assert_eq!(
            java_date(at("2025-05-21T05:47:45Z")),
            "May 21, 2025, 5:47:45 AM"
        );
        assert_eq!(
            java_date(at("2020-11-18T01:29:18Z")),
            "Nov 18, 2020, 1:29:18 AM"
        );
        assert_eq!(
            java_date(at("2020-11-18T00:05:00Z")),
            "Nov 18, 2020, 12:05:00 AM"
        );
        assert_eq!(
            java_date(at("2020-11-18T12:05:00Z")),
            "Nov 18, 2020, 12:05:00 PM"
        );
    }

    #[test]
    fn response_elements_follow_the_kms_rules() {
        let arn = "arn:aws:kms:us-east-1:111122223333:key/k";
        assert_eq!(
            response_elements("DisableKey", Some(arn), None),
            Some(json!({ "keyId": arn }))
        );
        assert_eq!(
            response_elements(
                "ImportKeyMaterial",
                Some(arn),
                Some(json!({"keyMaterialId": "ab"}))
            ),
            Some(json!({ "keyId": arn, "keyMaterialId": "ab" }))
        );
        assert_eq!(
            response_elements("Encrypt", Some(arn), Some(json!({"x": 1}))),
            None
        );
        assert_eq!(
            response_elements("DescribeKey", Some(arn), Some(json!({"x": 1}))),
            None
        );
        assert_eq!(response_elements("CreateAlias", Some(arn), None), None);
        assert!(is_read_only("ListAliases") && is_read_only("Sign"));
        assert!(!is_read_only("ScheduleKeyDeletion") && !is_read_only("RotateKey"));
    }
}
