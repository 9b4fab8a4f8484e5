//! One CloudTrail event as the mini-KMS records it: an API call (allowed or denied) or a
//! KMS service event. Fields the format fixes for KMS (`eventVersion`, `eventSource`,
//! `managementEvent`, `eventCategory`) are not stored; the emitter writes them.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use super::identity::{CallerIdentity, AWS_INTERNAL};

/// `resources[].type` of KMS keys (aliases are listed with it too, a KMS quirk).
pub const KMS_KEY_RESOURCE_TYPE: &str = "AWS::KMS::Key";

/// `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `AwsApiCall`: a request to the KMS API.
    AwsApiCall,
    /// `AwsServiceEvent`: KMS acting on its own (rotation, deletion, material expiry).
    AwsServiceEvent,
}

impl EventType {
    /// The text CloudTrail writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwsApiCall => "AwsApiCall",
            Self::AwsServiceEvent => "AwsServiceEvent",
        }
    }
}

/// One `resources[]` entry: a KMS key (or alias) ARN and the account that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// The owner's account (`accountId`).
    pub account_id: String,
    /// The key ARN (`ARN`).
    pub arn: String,
}

impl Resource {
    /// The key `arn` owned by `account_id`.
    pub fn kms_key(account_id: &str, arn: &str) -> Self {
        Self {
            account_id: account_id.to_owned(),
            arn: arn.to_owned(),
        }
    }
}

/// `tlsDetails` of a direct (not service-made) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDetails {
    /// `TLSv1.3`.
    pub tls_version: String,
    /// `TLS_AES_256_GCM_SHA384`.
    pub cipher_suite: String,
    /// `kms.<region>.amazonaws.com`.
    pub client_provided_host_header: String,
    /// `X25519MLKEM768` in 2026 records; absent in older ones.
    pub key_exchange: Option<String>,
}

impl TlsDetails {
    /// TLS 1.3 with AES-256-GCM to the Region's KMS endpoint, as current records show.
    pub fn tls13(region: &str) -> Self {
        Self {
            tls_version: "TLSv1.3".to_owned(),
            cipher_suite: "TLS_AES_256_GCM_SHA384".to_owned(),
            client_provided_host_header: format!("kms.{region}.amazonaws.com"),
            key_exchange: None,
        }
    }
}

/// One CloudTrail record of the mini-KMS. Build it with [`AuditEvent::api_call`] or
/// [`AuditEvent::service_event`], then set the fields the call has.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// `eventTime`, written to the second.
    pub event_time: DateTime<Utc>,
    /// `awsRegion`.
    pub region: String,
    /// `recipientAccountId`: the account this copy of the event is delivered to.
    pub recipient_account_id: String,
    /// `userIdentity`.
    pub user_identity: CallerIdentity,
    /// `eventName`.
    pub event_name: String,
    /// `eventType`.
    pub event_type: EventType,
    /// `sourceIPAddress`: an address, a service name, or `AWS Internal`.
    pub source_ip_address: String,
    /// `userAgent`.
    pub user_agent: Option<String>,
    /// `errorCode`: the exception name of a failed call.
    pub error_code: Option<String>,
    /// `errorMessage`.
    pub error_message: Option<String>,
    /// `requestParameters`, already without secrets; `Value::Null` writes `null`.
    pub request_parameters: Value,
    /// `responseElements`; `None` writes `null` (crypto and read-only operations, failures).
    pub response_elements: Option<Value>,
    /// `additionalEventData` (`keyMaterialId`, custom key store ids, `grantId`).
    pub additional_event_data: Option<Value>,
    /// `requestID`; `None` for service events.
    pub request_id: Option<String>,
    /// `eventID`, a version-4 UUID (see [`new_event_id`]).
    pub event_id: String,
    /// `readOnly`.
    pub read_only: bool,
    /// `resources`: the keys acted on, in order (ReEncrypt: source, then destination).
    /// Empty writes no `resources` member.
    pub resources: Vec<Resource>,
    /// `sharedEventID` of a cross-account event (same in the caller's and owner's copies).
    pub shared_event_id: Option<String>,
    /// `vpcEndpointId`.
    pub vpc_endpoint_id: Option<String>,
    /// `vpcEndpointAccountId`.
    pub vpc_endpoint_account_id: Option<String>,
    /// `serviceEventDetails` of a service event.
    pub service_event_details: Option<Value>,
    /// `tlsDetails`; only for direct callers, never when a service called.
    pub tls_details: Option<TlsDetails>,
    /// `sessionCredentialFromConsole`, written as the string `"true"` only when true.
    pub session_credential_from_console: bool,
}

impl AuditEvent {
    /// An API call `event_name` by `caller` at `event_time` in `region`, delivered to the
    /// caller's account (change [`AuditEvent::recipient_account_id`] for the owner's copy of
    /// a cross-account call). `requestParameters` and `responseElements` start as `null`,
    /// `readOnly` as `false`, and there are no resources.
    pub fn api_call(
        event_name: &str,
        event_time: DateTime<Utc>,
        region: &str,
        caller: CallerIdentity,
        request_id: String,
        event_id: String,
    ) -> Self {
        let recipient = caller.account_id().unwrap_or_default().to_owned();
        Self {
            event_time,
            region: region.to_owned(),
            recipient_account_id: recipient,
            user_identity: caller,
            event_name: event_name.to_owned(),
            event_type: EventType::AwsApiCall,
            source_ip_address: String::new(),
            user_agent: None,
            error_code: None,
            error_message: None,
            request_parameters: Value::Null,
            response_elements: None,
            additional_event_data: None,
            request_id: Some(request_id),
            event_id,
            read_only: false,
            resources: Vec::new(),
            shared_event_id: None,
            vpc_endpoint_id: None,
            vpc_endpoint_account_id: None,
            service_event_details: None,
            tls_details: None,
            session_credential_from_console: false,
        }
    }

    /// A KMS service event (`RotateKey`, `DeleteKey`, `DeleteExpiredKeyMaterial`) on key
    /// `key_arn` of `account_id`: type-less identity, `AWS Internal` address and agent,
    /// `null` request and response, no `requestID`, `readOnly: false`.
    pub fn service_event(
        event_name: &str,
        event_time: DateTime<Utc>,
        region: &str,
        account_id: &str,
        key_arn: &str,
        event_id: String,
    ) -> Self {
        Self {
            event_time,
            region: region.to_owned(),
            recipient_account_id: account_id.to_owned(),
            user_identity: CallerIdentity::kms_service(account_id),
            event_name: event_name.to_owned(),
            event_type: EventType::AwsServiceEvent,
            source_ip_address: AWS_INTERNAL.to_owned(),
            user_agent: Some(AWS_INTERNAL.to_owned()),
            error_code: None,
            error_message: None,
            request_parameters: Value::Null,
            response_elements: None,
            additional_event_data: None,
            request_id: None,
            event_id,
            read_only: false,
            resources: vec![Resource::kms_key(account_id, key_arn)],
            shared_event_id: None,
            vpc_endpoint_id: None,
            vpc_endpoint_account_id: None,
            service_event_details: None,
            tls_details: None,
            session_credential_from_console: false,
        }
    }

    /// Records a failure: `errorCode` (the exception name) and `errorMessage`; a failed call
    /// has `responseElements: null`.
    pub fn fail(&mut self, error_code: &str, error_message: &str) {
        self.error_code = Some(error_code.to_owned());
        self.error_message = Some(error_message.to_owned());
        self.response_elements = None;
    }

    /// Sets `additionalEventData.keyMaterialId` (2025+ cryptographic events), keeping other
    /// members of `additionalEventData`.
    pub fn set_key_material_id(&mut self, key_material_id: &str) {
        let mut data = match self.additional_event_data.take() {
            Some(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        data.insert(
            "keyMaterialId".to_owned(),
            Value::String(key_material_id.to_owned()),
        );
        self.additional_event_data = Some(Value::Object(data));
    }

    /// The account whose trail receives this copy (the file layout is keyed by it).
    pub fn recipient(&self) -> &str {
        &self.recipient_account_id
    }
}

/// `eventTime` text: `YYYY-MM-DDTHH:MM:SSZ`, second precision.
pub fn event_time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A random version-4 UUID in lowercase text, drawn from `rng` so that a seeded simulation
/// writes the same `eventID`s every run.
pub fn new_event_id(rng: &mut impl rand::Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
