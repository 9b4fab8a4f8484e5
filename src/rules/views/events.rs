//! Reads the KMS events the views need from the lake with one lazy Polars query: KMS records
//! only, with the raw JSON kept for the operations whose parameters a view reads (policies,
//! grants, key creation), and returns them in time order.

use polars::prelude::*;
use serde_json::Value;

use crate::ingest::schema::{
    ADDITIONAL_EVENT_DATA, AWS_REGION, DELETION_DATE, ERROR_CODE, EVENT_ID, EVENT_NAME,
    EVENT_SOURCE, EVENT_TIME, EVENT_TYPE, KEY_ACCOUNT, KEY_ARN, KEY_CREATED_AT, KEY_MANAGER,
    KEY_ORIGIN, KEY_SPEC, KEY_USAGE, PRINCIPAL, PRINCIPAL_ACCOUNT, REQUEST_PARAMETERS,
    RESPONSE_ELEMENTS, ROTATION_PERIOD_DAYS, SOURCE_FILE, SOURCE_IP, SOURCE_RECORD, VALID_TO,
};
use crate::rules::error::EvalError;
use crate::rules::finding::{rfc3339, Evidence};

/// The `eventSource` of KMS records.
pub const KMS_SOURCE: &str = "kms.amazonaws.com";

/// Operations whose raw JSON the views read.
pub const JSON_OPERATIONS: &[&str] = &[
    "CreateKey",
    "ReplicateKey",
    "PutKeyPolicy",
    "CreateGrant",
    "RetireGrant",
    "RevokeGrant",
    "ImportKeyMaterial",
];

/// One KMS record, as the views read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KmsEvent {
    /// `eventTime`, µs since the epoch.
    pub time: i64,
    /// `eventName`.
    pub name: String,
    /// `eventType`.
    pub event_type: Option<String>,
    /// `eventID`.
    pub event_id: Option<String>,
    /// The file the record came from.
    pub source_file: String,
    /// Its position in that file.
    pub source_record: u32,
    /// The stable principal (lake column `principal`).
    pub principal: Option<String>,
    /// The principal's account.
    pub principal_account: Option<String>,
    /// The key the event acts on.
    pub key_arn: Option<String>,
    /// The key's account.
    pub key_account: Option<String>,
    /// `awsRegion`.
    pub region: Option<String>,
    /// `sourceIPAddress`.
    pub source_ip: Option<String>,
    /// `errorCode`; `None` on success.
    pub error_code: Option<String>,
    /// Lake column `key_spec`.
    pub key_spec: Option<String>,
    /// Lake column `key_usage`.
    pub key_usage: Option<String>,
    /// Lake column `key_origin`.
    pub key_origin: Option<String>,
    /// Lake column `key_manager`.
    pub key_manager: Option<String>,
    /// Lake column `key_created_at` (µs).
    pub key_created_at: Option<i64>,
    /// Lake column `valid_to` (µs).
    pub valid_to: Option<i64>,
    /// Lake column `deletion_date` (µs).
    pub deletion_date: Option<i64>,
    /// Lake column `rotation_period_days`.
    pub rotation_period_days: Option<i64>,
    /// `requestParameters`, parsed (only for [`JSON_OPERATIONS`]).
    pub request: Option<Value>,
    /// `responseElements`, parsed (only for [`JSON_OPERATIONS`]).
    pub response: Option<Value>,
    /// `additionalEventData`, parsed (only for [`JSON_OPERATIONS`]).
    pub additional: Option<Value>,
}

impl KmsEvent {
    /// Whether the call succeeded.
    pub fn ok(&self) -> bool {
        self.error_code.is_none()
    }

    /// Whether the record is an API call made by a principal (not a KMS service event).
    pub fn is_call(&self) -> bool {
        self.event_type.as_deref() != Some("AwsServiceEvent")
    }

    /// The key that identifies the event among the views' evidence.
    pub fn evidence_key(&self) -> String {
        match &self.event_id {
            Some(id) => id.clone(),
            None => format!("{}#{}", self.source_file, self.source_record),
        }
    }

    /// The event as finding evidence.
    pub fn evidence(&self) -> Evidence {
        Evidence {
            event_id: self.event_id.clone(),
            event_time: rfc3339(self.time),
            event_name: self.name.clone(),
            source_file: self.source_file.clone(),
            source_record: self.source_record,
        }
    }

    /// A text member of `requestParameters`.
    pub fn request_text(&self, key: &str) -> Option<&str> {
        self.request.as_ref()?.get(key)?.as_str()
    }

    /// A text member of `responseElements`.
    pub fn response_text(&self, key: &str) -> Option<&str> {
        self.response.as_ref()?.get(key)?.as_str()
    }
}

/// Reads the KMS events of `events` in time order, and the time of the latest event of any
/// kind (µs; 0 for an empty lake).
pub fn load(events: LazyFrame) -> Result<(Vec<KmsEvent>, i64), EvalError> {
    let latest = events
        .clone()
        .select([col(EVENT_TIME).cast(DataType::Int64).max()])
        .collect()?;
    let as_of = latest.column(EVENT_TIME)?.i64()?.get(0).unwrap_or_default();

    let wants_json = JSON_OPERATIONS
        .iter()
        .map(|op| col(EVENT_NAME).eq(lit(*op)))
        .reduce(|a, b| a.or(b))
        .unwrap_or_else(|| lit(false));
    let json = |name: &str| {
        when(wants_json.clone())
            .then(col(name).cast(DataType::String))
            .otherwise(lit(NULL).cast(DataType::String))
            .alias(name)
    };
    let text = |name: &str| col(name).cast(DataType::String);
    let frame = events
        .filter(col(EVENT_SOURCE).eq(lit(KMS_SOURCE)))
        .select([
            col(EVENT_TIME).cast(DataType::Int64),
            text(EVENT_NAME),
            text(EVENT_TYPE),
            text(EVENT_ID),
            text(SOURCE_FILE),
            col(SOURCE_RECORD).cast(DataType::UInt32),
            text(PRINCIPAL),
            text(PRINCIPAL_ACCOUNT),
            text(KEY_ARN),
            text(KEY_ACCOUNT),
            text(AWS_REGION),
            text(SOURCE_IP),
            text(ERROR_CODE),
            text(KEY_SPEC),
            text(KEY_USAGE),
            text(KEY_ORIGIN),
            text(KEY_MANAGER),
            col(KEY_CREATED_AT).cast(DataType::Int64),
            col(VALID_TO).cast(DataType::Int64),
            col(DELETION_DATE).cast(DataType::Int64),
            col(ROTATION_PERIOD_DAYS).cast(DataType::Int64),
            json(REQUEST_PARAMETERS),
            json(RESPONSE_ELEMENTS),
            json(ADDITIONAL_EVENT_DATA),
        ])
        .collect()?;

    let texts = |name: &str| -> PolarsResult<Vec<Option<String>>> {
        Ok(frame
            .column(name)?
            .str()?
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect())
    };
    let ints = |name: &str| -> PolarsResult<Vec<Option<i64>>> {
        Ok(frame.column(name)?.i64()?.iter().collect())
    };
    let parse = |v: Option<String>| v.and_then(|t| serde_json::from_str::<Value>(&t).ok());
    let times = ints(EVENT_TIME)?;
    let records: Vec<Option<u32>> = frame.column(SOURCE_RECORD)?.u32()?.iter().collect();
    let columns: Vec<Vec<Option<String>>> = [
        EVENT_NAME,
        EVENT_TYPE,
        EVENT_ID,
        SOURCE_FILE,
        PRINCIPAL,
        PRINCIPAL_ACCOUNT,
        KEY_ARN,
        KEY_ACCOUNT,
        AWS_REGION,
        SOURCE_IP,
        ERROR_CODE,
        KEY_SPEC,
        KEY_USAGE,
        KEY_ORIGIN,
        KEY_MANAGER,
        REQUEST_PARAMETERS,
        RESPONSE_ELEMENTS,
        ADDITIONAL_EVENT_DATA,
    ]
    .iter()
    .map(|name| texts(name))
    .collect::<PolarsResult<_>>()?;
    let created = ints(KEY_CREATED_AT)?;
    let valid_to = ints(VALID_TO)?;
    let deletion = ints(DELETION_DATE)?;
    let period = ints(ROTATION_PERIOD_DAYS)?;
    let mut out = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        let next = |i: usize| columns[i][row].clone();
        out.push(KmsEvent {
            time: times[row].unwrap_or_default(),
            name: next(0).unwrap_or_default(),
            event_type: next(1),
            event_id: next(2),
            source_file: next(3).unwrap_or_default(),
            source_record: records[row].unwrap_or_default(),
            principal: next(4),
            principal_account: next(5),
            key_arn: next(6),
            key_account: next(7),
            region: next(8),
            source_ip: next(9),
            error_code: next(10),
            key_spec: next(11),
            key_usage: next(12),
            key_origin: next(13),
            key_manager: next(14),
            key_created_at: created[row],
            valid_to: valid_to[row],
            deletion_date: deletion[row],
            rotation_period_days: period[row],
            request: parse(next(15)),
            response: parse(next(16)),
            additional: parse(next(17)),
        });
    }
    out.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.source_file.cmp(&b.source_file))
            .then_with(|| a.source_record.cmp(&b.source_record))
    });
    Ok((out, as_of))
}
