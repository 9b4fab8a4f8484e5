//! Writes an [`AuditEvent`] as one compact CloudTrail record, members in the order AWS writes
//! them (reference §1.3 "Key ordering"). `serde_json` keeps object members sorted by name, so
//! the order of nested objects (`keyMetadata`, `responseElements`, …) is restored here from
//! the member orders of the AWS examples; members no example shows follow in name order.

use std::io::Write;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use super::event::{event_time_text, AuditEvent, EventType, KMS_KEY_RESOURCE_TYPE};
use super::identity::WireIdentity;

/// `eventVersion` of current records.
pub const EVENT_VERSION: &str = "1.11";
/// `eventSource` of KMS.
pub const EVENT_SOURCE: &str = "kms.amazonaws.com";
/// `eventCategory` of KMS events.
pub const EVENT_CATEGORY: &str = "Management";

/// Writes `event` as one compact JSON record (no trailing newline) to `out`.
pub fn write_record(event: &AuditEvent, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer(out, &WireRecord::of(event)).map_err(std::io::Error::from)
}

/// `event` as one compact JSON record.
pub fn record_bytes(event: &AuditEvent) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&WireRecord::of(event))
}

/// The record in AWS's member order: `eventVersion, userIdentity, eventTime, eventSource,
/// eventName, awsRegion, sourceIPAddress, userAgent, [errorCode, errorMessage,]
/// requestParameters, responseElements, [additionalEventData,] [requestID,] eventID,
/// readOnly, [resources,] eventType, managementEvent, recipientAccountId, [sharedEventID,]
/// [vpcEndpointId, vpcEndpointAccountId,] [serviceEventDetails,] eventCategory,
/// [tlsDetails,] [sessionCredentialFromConsole]`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRecord<'a> {
    event_version: &'static str,
    user_identity: WireIdentity,
    event_time: String,
    event_source: &'static str,
    event_name: &'a str,
    aws_region: &'a str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: Ordered<'a>,
    response_elements: Option<Ordered<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    additional_event_data: Option<Ordered<'a>>,
    #[serde(rename = "requestID", skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<WireResource<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
    #[serde(rename = "sharedEventID", skip_serializing_if = "Option::is_none")]
    shared_event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpc_endpoint_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpc_endpoint_account_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_event_details: Option<Ordered<'a>>,
    event_category: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tls_details: Option<WireTls<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_credential_from_console: Option<&'static str>,
}

impl<'a> WireRecord<'a> {
    fn of(event: &'a AuditEvent) -> Self {
        // A service acting for the caller connects to KMS itself: its records have no TLS
        // details, whatever the engine passed.
        let direct =
            event.event_type == EventType::AwsApiCall && !event.user_identity.is_service_call();
        Self {
            event_version: EVENT_VERSION,
            user_identity: event.user_identity.wire(),
            event_time: event_time_text(event.event_time),
            event_source: EVENT_SOURCE,
            event_name: &event.event_name,
            aws_region: &event.region,
            source_ip_address: &event.source_ip_address,
            user_agent: event.user_agent.as_deref(),
            error_code: event.error_code.as_deref(),
            error_message: event.error_message.as_deref(),
            request_parameters: Ordered {
                value: &event.request_parameters,
                order: request_order(&event.event_name),
            },
            response_elements: event.response_elements.as_ref().map(|value| Ordered {
                value,
                order: RESPONSE_ORDER,
            }),
            additional_event_data: event.additional_event_data.as_ref().map(|value| Ordered {
                value,
                order: ADDITIONAL_ORDER,
            }),
            request_id: event.request_id.as_deref(),
            event_id: &event.event_id,
            read_only: event.read_only,
            resources: event
                .resources
                .iter()
                .map(|r| WireResource {
                    account_id: &r.account_id,
                    kind: KMS_KEY_RESOURCE_TYPE,
                    arn: &r.arn,
                })
                .collect(),
            event_type: event.event_type.as_str(),
            management_event: true,
            recipient_account_id: &event.recipient_account_id,
            shared_event_id: event.shared_event_id.as_deref(),
            vpc_endpoint_id: event.vpc_endpoint_id.as_deref(),
            vpc_endpoint_account_id: event.vpc_endpoint_account_id.as_deref(),
            service_event_details: event.service_event_details.as_ref().map(|value| Ordered {
                value,
                order: SERVICE_EVENT_DETAILS_ORDER,
            }),
            event_category: EVENT_CATEGORY,
            tls_details: event
                .tls_details
                .as_ref()
                .filter(|_| direct)
                .map(|t| WireTls {
                    tls_version: &t.tls_version,
                    cipher_suite: &t.cipher_suite,
                    client_provided_host_header: &t.client_provided_host_header,
                    key_exchange: t.key_exchange.as_deref(),
                }),
            session_credential_from_console: event
                .session_credential_from_console
                .then_some("true"),
        }
    }
}

#[derive(Serialize)]
struct WireResource<'a> {
    #[serde(rename = "accountId")]
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "ARN")]
    arn: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireTls<'a> {
    tls_version: &'a str,
    cipher_suite: &'a str,
    client_provided_host_header: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_exchange: Option<&'a str>,
}

/// A JSON value written with the members of each object in a preferred order: members named
/// in `order` first, in that order, then the rest by name. Nested objects take their order
/// from their member name ([`child_order`]); array items share the array's.
struct Ordered<'a> {
    value: &'a Value,
    order: &'static [&'static str],
}

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Object(map) => {
                let mut members: Vec<(&String, &Value)> = map.iter().collect();
                // `map` is sorted by name and the sort is stable: unlisted members stay in
                // name order after the listed ones.
                members.sort_by_key(|(name, _)| {
                    self.order
                        .iter()
                        .position(|o| o == name)
                        .unwrap_or(usize::MAX)
                });
                let mut out = serializer.serialize_map(Some(members.len()))?;
                for (name, value) in members {
                    out.serialize_entry(
                        name,
                        &Ordered {
                            value,
                            order: child_order(name),
                        },
                    )?;
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for value in items {
                    out.serialize_element(&Ordered {
                        value,
                        order: self.order,
                    })?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// `keyMetadata` / `replicaKeyMetadata` members: the CreateKey examples' order, which is the
/// API model's `KeyMetadata` member order.
pub const KEY_METADATA_ORDER: &[&str] = &[
    "aWSAccountId",
    "keyId",
    "arn",
    "creationDate",
    "enabled",
    "description",
    "keyUsage",
    "keyState",
    "deletionDate",
    "validTo",
    "origin",
    "customKeyStoreId",
    "cloudHsmClusterId",
    "expirationModel",
    "keyManager",
    "customerMasterKeySpec",
    "keySpec",
    "encryptionAlgorithms",
    "signingAlgorithms",
    "keyAgreementAlgorithms",
    "multiRegion",
    "multiRegionConfiguration",
    "pendingDeletionWindowInDays",
    "macAlgorithms",
    "xksKeyConfiguration",
    "currentKeyMaterialId",
];

/// `responseElements` members (CreateGrant 2026: grantId, keyId; ScheduleKeyDeletion:
/// keyId, keyState, deletionDate / pendingWindowInDays; ImportKeyMaterial 2025: keyId,
/// keyMaterialId; ReplicateKey: replicaKeyMetadata, replicaPolicy).
const RESPONSE_ORDER: &[&str] = &[
    "keyMetadata",
    "replicaKeyMetadata",
    "replicaPolicy",
    "grantId",
    "keyId",
    "keyState",
    "deletionDate",
    "pendingWindowInDays",
    "keyMaterialId",
    "customKeyStoreId",
];

const ADDITIONAL_ORDER: &[&str] = &[
    "keyMaterialId",
    "customKeyStoreId",
    "customKeyStoreName",
    "clusterId",
    "backingKey",
    "backingKeys",
    "xksKeyId",
    "grantId",
];

/// RotateKey 2025 (B1) order.
const SERVICE_EVENT_DETAILS_ORDER: &[&str] = &[
    "rotationType",
    "keyOrigin",
    "previousKeyMaterialId",
    "currentKeyMaterialId",
    "keyId",
];

fn child_order(name: &str) -> &'static [&'static str] {
    match name {
        "keyMetadata" | "replicaKeyMetadata" => KEY_METADATA_ORDER,
        "multiRegionConfiguration" => &["multiRegionKeyType", "primaryKey", "replicaKeys"],
        "primaryKey" | "replicaKeys" => &["arn", "region"],
        "constraints" => &["encryptionContextSubset", "encryptionContextEquals"],
        _ => &[],
    }
}

/// `requestParameters` member order per operation, from the newest reference example of
/// each (AWS's own order varies between examples; consumers must not depend on it).
fn request_order(event_name: &str) -> &'static [&'static str] {
    match event_name {
        "Encrypt" => &["encryptionContext", "keyId", "encryptionAlgorithm"],
        "Decrypt" => &["encryptionAlgorithm", "keyId", "encryptionContext"],
        "GenerateDataKey" | "GenerateDataKeyPair" => &[
            "keyId",
            "encryptionContext",
            "keySpec",
            "numberOfBytes",
            "keyPairSpec",
        ],
        "GenerateDataKeyWithoutPlaintext" | "GenerateDataKeyPairWithoutPlaintext" => &[
            "encryptionContext",
            "numberOfBytes",
            "keySpec",
            "keyPairSpec",
            "keyId",
        ],
        "ReEncrypt" => &[
            "sourceEncryptionAlgorithm",
            "sourceEncryptionContext",
            "sourceKeyId",
            "destinationKeyId",
            "destinationEncryptionAlgorithm",
            "destinationEncryptionContext",
        ],
        "CreateKey" => &[
            "description",
            "origin",
            "bypassPolicyLockoutSafetyCheck",
            "customerMasterKeySpec",
            "keySpec",
            "keyUsage",
            "policy",
            "tags",
            "multiRegion",
            "customKeyStoreId",
            "xksKeyId",
        ],
        "ScheduleKeyDeletion" => &["pendingWindowInDays", "keyId"],
        "CreateGrant" => &[
            "constraints",
            "retiringPrincipal",
            "operations",
            "keyId",
            "granteePrincipal",
            "name",
        ],
        "EnableKeyRotation" => &["keyId", "rotationPeriodInDays"],
        "ImportKeyMaterial" => &[
            "keyId",
            "validTo",
            "expirationModel",
            "importType",
            "keyMaterialDescription",
        ],
        "PutKeyPolicy" => &[
            "keyId",
            "policyName",
            "policy",
            "bypassPolicyLockoutSafetyCheck",
        ],
        "CreateAlias" => &["aliasName", "targetKeyId"],
        "UpdateAlias" => &["aliasName", "targetKeyId"],
        "Sign" => &["messageType", "keyId", "signingAlgorithm"],
        "Verify" => &["signingAlgorithm", "keyId", "messageType"],
        "GenerateMac" | "VerifyMac" => &["macAlgorithm", "keyId"],
        "ReplicateKey" => &[
            "keyId",
            "replicaRegion",
            "bypassPolicyLockoutSafetyCheck",
            "description",
        ],
        "RevokeGrant" => &["keyId", "grantId"],
        "ListGrants" => &["keyId", "marker", "limit"],
        "ListAliases" => &["limit", "marker"],
        _ => &["keyId"],
    }
}
