//! What the engine's records learn from the HTTP request they belong to: the `Host` header
//! (`tlsDetails.clientProvidedHostHeader`), and in return the `requestID` the engine gave the
//! call, which the answer carries as `x-amzn-RequestId`.
//!
//! The engine runs a call synchronously on the thread that calls it and hands the call's
//! records to its sink on that same thread, so the server marks the thread for the duration
//! of the call ([`enter`] … [`leave`]) and the sink wrapper ([`RequestSink`]) reads the mark.
//! Records made outside a call (rotations, deletions) see no mark and pass unchanged.

use std::cell::RefCell;
use std::sync::Arc;

use crate::kms::audit::{AuditEvent, AuditSink, EventType, SinkError};

struct Scope {
    host: Option<String>,
    request_id: Option<String>,
}

thread_local! {
    static CURRENT: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Marks the current thread as running a call whose request carried `host`.
pub fn enter(host: Option<String>) {
    CURRENT.with(|current| {
        *current.borrow_mut() = Some(Scope {
            host,
            request_id: None,
        });
    });
}

/// Ends the mark; the `requestID` of the call's first API-call record, if one was made.
pub fn leave() -> Option<String> {
    CURRENT.with(|current| current.borrow_mut().take().and_then(|s| s.request_id))
}

/// An audit sink that writes the request's `Host` header into the records of the call
/// running on the thread, and notes the call's `requestID`.
pub struct RequestSink {
    inner: Arc<dyn AuditSink>,
}

impl RequestSink {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn AuditSink>) -> Self {
        Self { inner }
    }
}

impl AuditSink for RequestSink {
    fn record(&self, event: &AuditEvent) -> Result<(), SinkError> {
        let patched = CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            let scope = current.as_mut()?;
            if event.event_type == EventType::AwsApiCall && scope.request_id.is_none() {
                scope.request_id.clone_from(&event.request_id);
            }
            let host = scope.host.as_deref()?;
            let tls = event.tls_details.as_ref()?;
            if tls.client_provided_host_header == host {
                return None;
            }
            let mut event = event.clone();
            if let Some(tls) = &mut event.tls_details {
                host.clone_into(&mut tls.client_provided_host_header);
            }
            Some(event)
        });
        match patched {
            Some(event) => self.inner.record(&event),
            None => self.inner.record(event),
        }
    }

    fn flush(&self) -> Result<(), SinkError> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::audit::{CallerIdentity, MemorySink, TlsDetails};

    fn event() -> AuditEvent {
        let time = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("time");
        let mut event = AuditEvent::api_call(
            "Encrypt",
            time,
            "us-east-1",
            CallerIdentity::iam_user("111122223333", "app"),
            "req-1".into(),
            "evt-1".into(),
        );
        event.tls_details = Some(TlsDetails::tls13("us-east-1"));
        event
    }

    #[test]
    fn records_of_a_call_get_its_host_and_give_back_its_request_id() {
        let memory = Arc::new(MemorySink::default());
        let sink = RequestSink::new(memory.clone());
        enter(Some("127.0.0.1:4599".into()));
        sink.record(&event()).expect("record");
        assert_eq!(leave().as_deref(), Some("req-1"));
        // Outside a call nothing changes.
        sink.record(&event()).expect("record");
        assert_eq!(leave(), None);
        let hosts: Vec<String> = memory
            .events()
            .into_iter()
            .filter_map(|e| e.tls_details.map(|t| t.client_provided_host_header))
            .collect();
        assert_eq!(hosts, ["127.0.0.1:4599", "kms.us-east-1.amazonaws.com"]);
    }
}
