//! The mini-KMS audit trail: every API call and service event becomes one CloudTrail record
//! in AWS's exact shape, handed to an [`AuditSink`] before the operation takes effect. A sink
//! that cannot record makes the operation fail, so nothing happens unaudited.
//!
//! - [`identity`]: `userIdentity` ([`CallerIdentity`]).
//! - [`event`]: the record model ([`AuditEvent`]).
//! - [`emit`]: the JSON text, members in AWS's order ([`write_record`]).
//! - [`rules`]: KMS record rules the engine applies (read-only, crypto `null` responses, the
//!   December-2022 `responseElements.keyId`, Java date text, `keyMetadata`).
//! - [`file_sink`]: the S3-layout trail writer ([`FileSink`]), with CloudTrail digest files
//!   ([`digest_writer`], [`DigestConfig`]) when asked for.
//!
//! How the engine builds a record: [`AuditEvent::api_call`] (or
//! [`AuditEvent::service_event`]) with ids from its seeded RNG ([`new_event_id`]); then
//! `source_ip_address`, `user_agent`, `request_parameters` (camelCase, no secrets),
//! `read_only` ([`rules::is_read_only`]), `resources` (resolved key ARNs), on success
//! `response_elements` through [`rules::response_elements`], on failure
//! [`AuditEvent::fail`], `additionalEventData.keyMaterialId` through
//! [`AuditEvent::set_key_material_id`], and `tls_details` for direct callers.

pub mod digest_writer;
pub mod emit;
pub mod event;
pub mod file_sink;
pub mod file_writer;
pub mod identity;
pub mod rules;

use std::path::PathBuf;
use std::sync::Mutex;

pub use digest_writer::{DigestChainState, DigestConfig};
pub use emit::{record_bytes, write_record};
pub use event::{
    event_time_text, new_event_id, AuditEvent, EventType, Resource, TlsDetails,
    KMS_KEY_RESOURCE_TYPE,
};
pub use file_sink::{FileSink, FileSinkConfig};
pub use identity::{CallerIdentity, SessionAttributes, AWS_INTERNAL};
pub use rules::{java_date, key_metadata_json, KeyMetadataRecord};

/// Why a sink could not record or flush.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink refuses every record ([`FailingSink`]).
    #[error("the audit sink refused the record")]
    Refused,
    /// Writing a trail file failed.
    #[error("audit log {}: {source}", path.display())]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The record could not be encoded as JSON.
    #[error("the audit record could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
    /// The sink's settings are unusable.
    #[error("audit sink configuration: {0}")]
    Config(String),
    /// Another thread panicked while holding the sink.
    #[error("the audit sink is unavailable after a failure in another thread")]
    Poisoned,
}

/// Where audit records go. `record` returns only once the record is accepted; a record
/// accepted by `record` is durable once `flush` returns `Ok`.
pub trait AuditSink: Send + Sync {
    /// Records `event`; on error nothing of it was recorded.
    fn record(&self, event: &AuditEvent) -> Result<(), SinkError>;
    /// Makes every accepted record durable.
    fn flush(&self) -> Result<(), SinkError>;
}

/// Keeps events in memory, for tests.
#[derive(Debug, Default)]
pub struct MemorySink {
    events: Mutex<Vec<AuditEvent>>,
}

impl MemorySink {
    /// A copy of the events recorded so far, in order (empty if the sink is poisoned).
    pub fn events(&self) -> Vec<AuditEvent> {
        self.events
            .lock()
            .map(|events| events.clone())
            .unwrap_or_default()
    }

    /// The recorded events as CloudTrail JSON records, in order.
    pub fn records(&self) -> Result<Vec<Vec<u8>>, SinkError> {
        self.events()
            .iter()
            .map(|event| record_bytes(event).map_err(SinkError::from))
            .collect()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, event: &AuditEvent) -> Result<(), SinkError> {
        self.events
            .lock()
            .map_err(|_| SinkError::Poisoned)?
            .push(event.clone());
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Refuses every record and flush: proves that an operation that cannot be audited fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct FailingSink;

impl AuditSink for FailingSink {
    fn record(&self, _event: &AuditEvent) -> Result<(), SinkError> {
        Err(SinkError::Refused)
    }

    fn flush(&self) -> Result<(), SinkError> {
        Err(SinkError::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn event() -> AuditEvent {
        let time = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("time");
        AuditEvent::api_call(
            "Encrypt",
            time,
            "us-east-1",
            CallerIdentity::iam_user("111122223333", "app"),
            "r".into(),
            "e".into(),
        )
    }

    #[test]
    fn failing_sink_refuses_everything() {
        assert!(matches!(
            FailingSink.record(&event()),
            Err(SinkError::Refused)
        ));
        assert!(FailingSink.flush().is_err());
    }

    #[test]
    fn memory_sink_keeps_events_in_order() {
        let sink = MemorySink::default();
        sink.record(&event()).expect("record");
        let mut second = event();
        second.event_name = "Decrypt".into();
        sink.record(&second).expect("record");
        let names: Vec<String> = sink.events().into_iter().map(|e| e.event_name).collect();
        assert_eq!(names, ["Encrypt", "Decrypt"]);
        assert_eq!(sink.records().expect("json").len(), 2);
    }

    #[test]
    fn event_ids_are_uuid_v4_from_the_rng() {
        let mut a = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let mut b = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let id = new_event_id(&mut a);
        assert_eq!(id, new_event_id(&mut b));
        assert_ne!(id, new_event_id(&mut a));
        let groups: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn event_time_is_written_to_the_second() {
        let mut e = event();
        e.event_time += chrono::Duration::milliseconds(750);
        let text = String::from_utf8(record_bytes(&e).expect("json")).expect("utf8");
        assert!(
            text.contains("\"eventTime\":\"2026-01-01T00:00:00Z\""),
            "{text}"
        );
        // Absent optional members are left out, `null` members are written.
        assert!(text.contains("\"requestParameters\":null,\"responseElements\":null,"));
        assert!(!text.contains("tlsDetails") && !text.contains("sessionCredentialFromConsole"));
        assert!(!text.contains("resources"));
    }
}
