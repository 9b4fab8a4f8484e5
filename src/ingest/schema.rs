//! The normalized event table: one row per CloudTrail record. Column names are defined
//! here and nowhere else; `docs/lake-schema.md` documents every column.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Version of the lake layout and event schema. Bump it on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Parquet key-value metadata key that carries [`SCHEMA_VERSION`] in every part file.
pub const SCHEMA_VERSION_METADATA_KEY: &str = "kms_audit.schema_version";

pub const EVENT_TIME: &str = "event_time";
pub const EVENT_VERSION: &str = "event_version";
pub const EVENT_SOURCE: &str = "event_source";
pub const EVENT_NAME: &str = "event_name";
pub const EVENT_TYPE: &str = "event_type";
pub const EVENT_CATEGORY: &str = "event_category";
pub const AWS_REGION: &str = "aws_region";
pub const RECIPIENT_ACCOUNT_ID: &str = "recipient_account_id";
pub const PRINCIPAL: &str = "principal";
pub const PRINCIPAL_TYPE: &str = "principal_type";
pub const PRINCIPAL_ARN: &str = "principal_arn";
pub const PRINCIPAL_ACCOUNT: &str = "principal_account";
pub const PRINCIPAL_ID: &str = "principal_id";
pub const PRINCIPAL_NAME: &str = "principal_name";
pub const ACCESS_KEY_ID: &str = "access_key_id";
pub const SESSION_ISSUER_ARN: &str = "session_issuer_arn";
pub const SESSION_ISSUER_TYPE: &str = "session_issuer_type";
pub const INVOKED_BY: &str = "invoked_by";
pub const MFA_AUTHENTICATED: &str = "mfa_authenticated";
pub const CONSOLE_SESSION: &str = "console_session";
pub const SOURCE_IP: &str = "source_ip";
pub const USER_AGENT: &str = "user_agent";
pub const VPC_ENDPOINT_ID: &str = "vpc_endpoint_id";
pub const ERROR_CODE: &str = "error_code";
pub const ERROR_MESSAGE: &str = "error_message";
pub const KEY_ARN: &str = "key_arn";
pub const KEY_ACCOUNT: &str = "key_account";
pub const KEY_REF: &str = "key_ref";
pub const ENCRYPTION_CONTEXT: &str = "encryption_context";
pub const KEY_MATERIAL_ID: &str = "key_material_id";
pub const KEY_SPEC: &str = "key_spec";
pub const KEY_USAGE: &str = "key_usage";
pub const KEY_ORIGIN: &str = "key_origin";
pub const KEY_MANAGER: &str = "key_manager";
pub const KEY_CREATED_AT: &str = "key_created_at";
pub const DELETION_DATE: &str = "deletion_date";
pub const VALID_TO: &str = "valid_to";
pub const ROTATION_PERIOD_DAYS: &str = "rotation_period_days";
pub const READ_ONLY: &str = "read_only";
pub const MANAGEMENT_EVENT: &str = "management_event";
pub const EVENT_ID: &str = "event_id";
pub const REQUEST_ID: &str = "request_id";
pub const SHARED_EVENT_ID: &str = "shared_event_id";
pub const REQUEST_PARAMETERS: &str = "request_parameters";
pub const RESPONSE_ELEMENTS: &str = "response_elements";
pub const ADDITIONAL_EVENT_DATA: &str = "additional_event_data";
pub const RESOURCES: &str = "resources";
pub const SERVICE_EVENT_DETAILS: &str = "service_event_details";
pub const SOURCE_FILE: &str = "source_file";
pub const SOURCE_RECORD: &str = "source_record";

/// Text columns whose values are (nearly) unique per row: ids and raw JSON. The lake stores
/// them without dictionaries or statistics.
pub const UNIQUE_TEXT_COLUMNS: &[&str] = &[
    EVENT_ID,
    REQUEST_ID,
    SHARED_EVENT_ID,
    REQUEST_PARAMETERS,
    RESPONSE_ELEMENTS,
    ADDITIONAL_EVENT_DATA,
    RESOURCES,
    SERVICE_EVENT_DETAILS,
    ENCRYPTION_CONTEXT,
    ERROR_MESSAGE,
    PRINCIPAL_ID,
    ACCESS_KEY_ID,
];

/// Hive partition directory names: `account=…/region=…/date=YYYY-MM-DD/`.
pub const PARTITION_ACCOUNT: &str = "account";
/// See [`PARTITION_ACCOUNT`].
pub const PARTITION_REGION: &str = "region";
/// See [`PARTITION_ACCOUNT`].
pub const PARTITION_DATE: &str = "date";

/// The time zone of every timestamp column.
pub const UTC: &str = "UTC";

/// How a column is typed in Arrow / Parquet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// UTF-8 text.
    Text,
    /// Timestamp, microseconds, UTC.
    Timestamp,
    /// Boolean.
    Bool,
    /// 32-bit signed integer.
    Int32,
    /// 32-bit unsigned integer.
    UInt32,
}

/// Every column in table order: name, type, nullable.
pub const COLUMNS: &[(&str, ColumnKind, bool)] = &[
    (EVENT_TIME, ColumnKind::Timestamp, false),
    (EVENT_VERSION, ColumnKind::Text, true),
    (EVENT_SOURCE, ColumnKind::Text, false),
    (EVENT_NAME, ColumnKind::Text, false),
    (EVENT_TYPE, ColumnKind::Text, true),
    (EVENT_CATEGORY, ColumnKind::Text, true),
    (AWS_REGION, ColumnKind::Text, true),
    (RECIPIENT_ACCOUNT_ID, ColumnKind::Text, true),
    (PRINCIPAL, ColumnKind::Text, true),
    (PRINCIPAL_TYPE, ColumnKind::Text, true),
    (PRINCIPAL_ARN, ColumnKind::Text, true),
    (PRINCIPAL_ACCOUNT, ColumnKind::Text, true),
    (PRINCIPAL_ID, ColumnKind::Text, true),
    (PRINCIPAL_NAME, ColumnKind::Text, true),
    (ACCESS_KEY_ID, ColumnKind::Text, true),
    (SESSION_ISSUER_ARN, ColumnKind::Text, true),
    (SESSION_ISSUER_TYPE, ColumnKind::Text, true),
    (INVOKED_BY, ColumnKind::Text, true),
    (MFA_AUTHENTICATED, ColumnKind::Bool, true),
    (CONSOLE_SESSION, ColumnKind::Bool, true),
    (SOURCE_IP, ColumnKind::Text, true),
    (USER_AGENT, ColumnKind::Text, true),
    (VPC_ENDPOINT_ID, ColumnKind::Text, true),
    (ERROR_CODE, ColumnKind::Text, true),
    (ERROR_MESSAGE, ColumnKind::Text, true),
    (KEY_ARN, ColumnKind::Text, true),
    (KEY_ACCOUNT, ColumnKind::Text, true),
    (KEY_REF, ColumnKind::Text, true),
    (ENCRYPTION_CONTEXT, ColumnKind::Text, true),
    (KEY_MATERIAL_ID, ColumnKind::Text, true),
    (KEY_SPEC, ColumnKind::Text, true),
    (KEY_USAGE, ColumnKind::Text, true),
    (KEY_ORIGIN, ColumnKind::Text, true),
    (KEY_MANAGER, ColumnKind::Text, true),
    (KEY_CREATED_AT, ColumnKind::Timestamp, true),
    (DELETION_DATE, ColumnKind::Timestamp, true),
    (VALID_TO, ColumnKind::Timestamp, true),
    (ROTATION_PERIOD_DAYS, ColumnKind::Int32, true),
    (READ_ONLY, ColumnKind::Bool, true),
    (MANAGEMENT_EVENT, ColumnKind::Bool, true),
    (EVENT_ID, ColumnKind::Text, true),
    (REQUEST_ID, ColumnKind::Text, true),
    (SHARED_EVENT_ID, ColumnKind::Text, true),
    (REQUEST_PARAMETERS, ColumnKind::Text, true),
    (RESPONSE_ELEMENTS, ColumnKind::Text, true),
    (ADDITIONAL_EVENT_DATA, ColumnKind::Text, true),
    (RESOURCES, ColumnKind::Text, true),
    (SERVICE_EVENT_DETAILS, ColumnKind::Text, true),
    (SOURCE_FILE, ColumnKind::Text, false),
    (SOURCE_RECORD, ColumnKind::UInt32, false),
];

/// The Arrow schema of the event table, in [`COLUMNS`] order.
pub fn event_schema() -> SchemaRef {
    let fields: Vec<Field> = COLUMNS
        .iter()
        .map(|&(name, kind, nullable)| {
            let data_type = match kind {
                ColumnKind::Text => DataType::Utf8,
                ColumnKind::Timestamp => {
                    DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))
                }
                ColumnKind::Bool => DataType::Boolean,
                ColumnKind::Int32 => DataType::Int32,
                ColumnKind::UInt32 => DataType::UInt32,
            };
            Field::new(name, data_type, nullable)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_unique_snake_case_and_not_partition_names() {
        let mut seen = std::collections::HashSet::new();
        for (name, _, _) in COLUMNS {
            assert!(seen.insert(*name), "duplicate column {name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(![PARTITION_ACCOUNT, PARTITION_REGION, PARTITION_DATE].contains(name));
        }
        assert_eq!(event_schema().fields().len(), COLUMNS.len());
    }

    #[test]
    fn every_column_is_documented() {
        let doc = include_str!("../../docs/lake-schema.md");
        for (name, _, _) in COLUMNS {
            assert!(
                doc.contains(&format!("| `{name}` |")),
                "docs/lake-schema.md lacks {name}"
            );
        }
    }
}
