//! Turns what the engine knows about a call or a service action into the CloudTrail record
//! the audit sink writes.

use crate::kms::audit::{AuditEvent, Resource, TlsDetails};
use crate::kms::engine::lifecycle::ServiceRecord;
use crate::kms::engine::{CallRecord, Caller};

/// The record of an API call.
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

/// The record of a service action.
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
}
