//! Turns what the engine knows about a call or a service action into the CloudTrail record
//! the audit sink writes, and decides which accounts receive a copy.

use crate::kms::audit::{AuditEvent, EventType, Resource, TlsDetails};
use crate::kms::engine::error::KmsErrorKind;
use crate::kms::engine::lifecycle::ServiceRecord;
use crate::kms::engine::{CallRecord, Caller, RelatedCall};

/// `invokedBy` of the records KMS writes in other Regions for one request.
pub const KMS_SERVICE: &str = "kms.amazonaws.com";

/// The record of an API call, addressed to the caller's account.
pub fn api_call(caller: &Caller, record: &CallRecord) -> AuditEvent {
    let mut event = AuditEvent::api_call(
        record.name,
        record.time,
        &record.region,
        caller.identity.clone(),
        record.request_id.clone(),
        record.event_id.clone(),
    );
    event.source_ip_address.clone_from(&caller.source_ip);
    event.user_agent = Some(caller.user_agent.clone());
    event.request_parameters = record.parameters.clone();
    event
        .response_elements
        .clone_from(&record.response_elements);
    event.read_only = record.read_only;
    event.resources = record
        .resources
        .iter()
        .map(|(account, arn)| Resource::kms_key(account, arn))
        .collect();
    // Services calling on a user's behalf have no TLS details of their own.
    if !caller.identity.is_service_call() && caller.via_service.is_none() {
        event.tls_details = Some(TlsDetails::tls13(&record.region));
    }
    event
        .additional_event_data
        .clone_from(&record.additional_event_data);
    if let Some(material) = &record.key_material_id {
        event.set_key_material_id(material);
    }
    if let Some(error) = &record.error {
        event.fail(error.kind.code(), &error.message);
    }
    event
}

/// The accounts that receive a copy of a call's record, caller's first: the caller's
/// account and the owners of the keys the call named (`resources`), unless the call was
/// denied access, which only the caller's account sees.
pub fn recipients(caller: &Caller, record: &CallRecord) -> Vec<String> {
    let mut accounts: Vec<String> = Vec::new();
    let caller_account = if caller.account.is_empty() {
        caller.identity.account_id().unwrap_or_default()
    } else {
        caller.account.as_str()
    };
    if !caller_account.is_empty() {
        accounts.push(caller_account.to_owned());
    }
    let denied = record
        .error
        .as_ref()
        .is_some_and(|e| e.kind == KmsErrorKind::AccessDenied);
    if !denied || accounts.is_empty() {
        for (owner, _) in &record.resources {
            if !owner.is_empty() && !accounts.contains(owner) {
                accounts.push(owner.clone());
            }
        }
    }
    accounts
}

/// The record of the same request in another Region: the caller's identity with KMS
/// acting for it (`invokedBy: kms.amazonaws.com`, as on the IAM user of AWS's second
/// `UpdatePrimaryRegion` example; the audit model carries it for IAM users, role sessions
/// and other accounts), the call's address, agent, time and `requestID`, no TLS details (KMS
/// made the call), `readOnly: false`.
pub fn related_call(caller: &Caller, record: &CallRecord, related: &RelatedCall) -> AuditEvent {
    let mut event = AuditEvent::api_call(
        related.name,
        record.time,
        &related.region,
        caller.identity.clone().invoked_by(KMS_SERVICE),
        record.request_id.clone(),
        related.event_id.clone(),
    );
    if !caller.account.is_empty() {
        event.recipient_account_id.clone_from(&caller.account);
    }
    event.source_ip_address.clone_from(&caller.source_ip);
    event.user_agent = Some(caller.user_agent.clone());
    event.request_parameters = related.parameters.clone();
    event
        .response_elements
        .clone_from(&related.response_elements);
    event.read_only = false;
    event.resources = related
        .resources
        .iter()
        .map(|(account, arn)| Resource::kms_key(account, arn))
        .collect();
    event
}

/// The record of a service action. One with a `requestID` is written as KMS writes
/// `SynchronizeMultiRegionKey`: an `AwsApiCall` by the type-less KMS identity.
pub fn service_event(record: &ServiceRecord) -> AuditEvent {
    let mut event = AuditEvent::service_event(
        record.name,
        record.time,
        &record.region,
        &record.account,
        &record.key_arn,
        record.event_id.clone(),
    );
    event.service_event_details.clone_from(&record.details);
    event
        .additional_event_data
        .clone_from(&record.additional_event_data);
    if let Some(request_id) = &record.request_id {
        event.event_type = EventType::AwsApiCall;
        event.request_id = Some(request_id.clone());
        event
            .response_elements
            .clone_from(&record.response_elements);
    }
    event
}
