//! The AWS JSON 1.1 protocol as KMS and CloudTrail speak it: `POST /` with the operation in
//! `X-Amz-Target`, a JSON body, a JSON answer with `x-amzn-RequestId`, and errors as
//! `{"__type": …, "message": …}` with the HTTP status AWS uses for each exception.

use axum::body::Body;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;

/// `Content-Type` of requests and responses.
pub const CONTENT_TYPE_JSON_1_1: &str = "application/x-amz-json-1.1";
/// `X-Amz-Target` prefix of KMS operations (`TrentService.Encrypt`).
pub const KMS_TARGET_PREFIX: &str = "TrentService.";
/// `X-Amz-Target` prefix of CloudTrail operations as botocore (the AWS CLI, boto3) sends it.
pub const CLOUDTRAIL_TARGET_PREFIX: &str =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
/// The short prefix the smithy-generated SDKs (aws-sdk-cloudtrail for Rust, …) send:
/// `CloudTrail_20131101.LookupEvents`. CloudTrail accepts both.
pub const CLOUDTRAIL_SDK_TARGET_PREFIX: &str = "CloudTrail_20131101.";
/// The header naming the operation.
pub const TARGET_HEADER: &str = "x-amz-target";
/// The header carrying the request id (CloudTrail's `requestID`).
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
/// SigV4 service name (credential scope) of KMS.
pub const KMS_SERVICE: &str = "kms";
/// SigV4 service name (credential scope) of CloudTrail.
pub const CLOUDTRAIL_SERVICE: &str = "cloudtrail";
/// The CloudTrail operation the server answers.
pub const LOOKUP_EVENTS: &str = "LookupEvents";

/// The service and operation a request's `X-Amz-Target` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// A KMS operation (`Encrypt`).
    Kms(&'a str),
    /// A CloudTrail operation (`LookupEvents`).
    CloudTrail(&'a str),
}

impl Target<'_> {
    /// The SigV4 service name the request must be signed for.
    pub fn service(self) -> &'static str {
        match self {
            Self::Kms(_) => KMS_SERVICE,
            Self::CloudTrail(_) => CLOUDTRAIL_SERVICE,
        }
    }

    /// The operation name as sent.
    pub fn name(&self) -> &str {
        match self {
            Self::Kms(name) | Self::CloudTrail(name) => name,
        }
    }
}

/// Reads `X-Amz-Target`: `None` when it is missing or names neither service.
pub fn target(headers: &HeaderMap) -> Option<Target<'_>> {
    let text = headers.get(TARGET_HEADER)?.to_str().ok()?;
    if let Some(name) = text.strip_prefix(KMS_TARGET_PREFIX) {
        return Some(Target::Kms(name));
    }
    text.strip_prefix(CLOUDTRAIL_TARGET_PREFIX)
        .or_else(|| text.strip_prefix(CLOUDTRAIL_SDK_TARGET_PREFIX))
        .map(Target::CloudTrail)
}

/// An error answer: the exception name, its message and the HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The exception name (`__type`).
    pub code: String,
    /// The message.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "__type")]
    code: &'a str,
    message: &'a str,
}

impl AwsError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// `UnknownOperationException` (400): the target names no operation the server knows.
    pub fn unknown_operation() -> Self {
        Self::new(400, "UnknownOperationException", "")
    }

    /// `SerializationException` (400): the body is not the JSON the operation takes.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new(400, "SerializationException", message)
    }

    /// `KMSInternalException` (500).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "KMSInternalException", message)
    }

    /// The answer, with `request_id` in `x-amzn-RequestId`.
    pub fn into_response(self, request_id: &str) -> Response {
        let body = serde_json::to_vec(&ErrorBody {
            code: &self.code,
            message: &self.message,
        })
        .unwrap_or_else(|_| b"{}".to_vec());
        respond(self.status, body, request_id)
    }
}

/// A 200 answer carrying `body` (JSON text; empty for operations without output).
pub fn ok(body: Vec<u8>, request_id: &str) -> Response {
    respond(StatusCode::OK, body, request_id)
}

fn respond(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let length = body.len();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_JSON_1_1),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// A fresh request id (a version-4 UUID) for answers the engine did not record.
pub fn new_request_id() -> String {
    crate::kms::audit::new_event_id(&mut rand::rng())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_service_and_an_operation() {
        let mut headers = HeaderMap::new();
        assert_eq!(target(&headers), None);
        headers.insert(
            TARGET_HEADER,
            HeaderValue::from_static("TrentService.Encrypt"),
        );
        assert_eq!(target(&headers), Some(Target::Kms("Encrypt")));
        assert_eq!(target(&headers).map(Target::service), Some("kms"));
        headers.insert(
            TARGET_HEADER,
            HeaderValue::from_static(
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
            ),
        );
        assert_eq!(target(&headers), Some(Target::CloudTrail("LookupEvents")));
        assert_eq!(target(&headers).map(Target::service), Some("cloudtrail"));
        headers.insert(
            TARGET_HEADER,
            HeaderValue::from_static("CloudTrail_20131101.LookupEvents"),
        );
        assert_eq!(target(&headers), Some(Target::CloudTrail("LookupEvents")));
        headers.insert(
            TARGET_HEADER,
            HeaderValue::from_static("DynamoDB_20120810.GetItem"),
        );
        assert_eq!(target(&headers), None);
    }

    #[tokio::test]
    async fn errors_are_aws_json_bodies_with_the_request_id() {
        let response =
            AwsError::new(400, "NotFoundException", "Key 'x' does not exist").into_response("r-1");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONTENT_TYPE], CONTENT_TYPE_JSON_1_1);
        assert_eq!(response.headers()[REQUEST_ID_HEADER], "r-1");
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"__type": "NotFoundException", "message": "Key 'x' does not exist"})
        );
        assert_eq!(
            AwsError::internal("x").status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
