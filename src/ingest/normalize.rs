//! Turns one CloudTrail [`Record`] into one row of the event table: resolves the principal
//! for every `userIdentity` type, the KMS key the event acts on, and the KMS fields rules
//! need, accepting the format quirks found in real trails.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::ingest::batch::{EventRow, Text};
use crate::trail::dates::{parse_aws_date, parse_event_time};
use crate::trail::record::{Record, Resource, Str, UserIdentity};

/// `eventSource` of AWS KMS.
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";

/// The largest text value a row may hold. CloudTrail itself caps fields at 100 KB, so a
/// larger value means the input is not genuine CloudTrail.
pub const MAX_FIELD_BYTES: usize = 1 << 20;

/// Why a record cannot become a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordDefect {
    /// The object has none of the fields that make a CloudTrail record.
    NotCloudTrail,
    /// A required field is absent.
    Missing(&'static str),
    /// `eventTime` is not a timestamp.
    BadTime(String),
    /// A field is larger than [`MAX_FIELD_BYTES`].
    Oversized { field: &'static str, bytes: usize },
}

impl std::fmt::Display for RecordDefect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotCloudTrail => f.write_str(
                "not a CloudTrail record (no eventTime, eventName, eventSource or userIdentity)",
            ),
            Self::Missing(field) => write!(f, "missing {field}"),
            Self::BadTime(text) => write!(f, "eventTime {text:?} is not a timestamp"),
            Self::Oversized { field, bytes } => write!(
                f,
                "field {field} is {:.1} MiB, over the {} MiB limit (CloudTrail caps fields at 100 KB)",
                *bytes as f64 / f64::from(1u32 << 20),
                MAX_FIELD_BYTES >> 20
            ),
        }
    }
}

/// Where a row belongs in the lake: `account=…/region=…/date=…`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// `recipientAccountId`, else the caller's account, else `unknown`.
    pub account: String,
    /// `awsRegion`, else `unknown`.
    pub region: String,
    /// The UTC day of `eventTime`, `YYYY-MM-DD`.
    pub date: String,
}

impl PartitionKey {
    /// The partition of `row`, with values made safe for a directory name.
    pub fn of(row: &EventRow<'_>) -> Self {
        let date = DateTime::from_timestamp_micros(row.event_time).map_or_else(
            || "unknown".to_owned(),
            |t| t.format("%Y-%m-%d").to_string(),
        );
        let account = row
            .recipient_account_id
            .as_deref()
            .or(row.principal_account.as_deref());
        Self {
            account: safe_partition_value(account),
            region: safe_partition_value(row.aws_region.as_deref()),
            date,
        }
    }

    /// The partition directory relative to the lake's event root.
    pub fn relative_dir(&self) -> String {
        use crate::ingest::schema::{PARTITION_ACCOUNT, PARTITION_DATE, PARTITION_REGION};
        format!(
            "{PARTITION_ACCOUNT}={}/{PARTITION_REGION}={}/{PARTITION_DATE}={}",
            self.account, self.region, self.date
        )
    }
}

fn safe_partition_value(value: Option<&str>) -> String {
    match value {
        Some(v) if !v.is_empty() => v
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
        _ => "unknown".to_owned(),
    }
}

/// Normalizes `record`, read from `source_file` at position `index`.
pub fn normalize<'a>(
    record: Record<'a>,
    source_file: &'a str,
    index: u32,
) -> Result<EventRow<'a>, RecordDefect> {
    if record.event_time.is_none()
        && record.event_name.is_none()
        && record.event_source.is_none()
        && record.user_identity.is_none()
    {
        return Err(RecordDefect::NotCloudTrail);
    }
    let time_text = record
        .event_time
        .ok_or(RecordDefect::Missing("eventTime"))?;
    let event_time = parse_event_time(time_text.as_str())
        .ok_or_else(|| RecordDefect::BadTime(time_text.as_str().to_owned()))?;
    let event_source = record
        .event_source
        .ok_or(RecordDefect::Missing("eventSource"))?
        .0;
    let event_name = record
        .event_name
        .ok_or(RecordDefect::Missing("eventName"))?
        .0;

    let mut row = EventRow {
        event_time: event_time.timestamp_micros(),
        event_version: text(record.event_version),
        event_type: text(record.event_type),
        event_category: text(record.event_category),
        aws_region: text(record.aws_region),
        recipient_account_id: text(record.recipient_account_id),
        source_ip: text(record.source_ip_address),
        user_agent: text(record.user_agent),
        vpc_endpoint_id: text(record.vpc_endpoint_id),
        error_code: text(record.error_code),
        error_message: text(record.error_message),
        read_only: record.read_only.map(|f| f.0),
        management_event: record.management_event.map(|f| f.0),
        console_session: record.session_credential_from_console.map(|f| f.0),
        event_id: text(record.event_id),
        request_id: text(record.request_id),
        shared_event_id: text(record.shared_event_id),
        request_parameters: raw(record.request_parameters),
        response_elements: raw(record.response_elements),
        additional_event_data: raw(record.additional_event_data),
        resources: raw(record.resources),
        service_event_details: raw(record.service_event_details),
        source_file: Cow::Borrowed(source_file),
        source_record: index,
        event_source,
        event_name,
        ..EventRow::default()
    };
    if let Some(identity) = record.user_identity {
        apply_identity(&mut row, identity);
    }
    row.key_arn = record.resources.and_then(key_arn_from_resources);
    if row.event_source == KMS_EVENT_SOURCE {
        let raw_json = KmsRawJson {
            request: record.request_parameters,
            response: record.response_elements,
            additional: record.additional_event_data,
        };
        apply_kms_fields(&mut row, &raw_json);
    }
    row.key_account = row
        .key_arn
        .as_deref()
        .and_then(|arn| arn_account(arn))
        .map(|a| Cow::Owned(a.to_owned()))
        .or(row.key_account.take());
    if let Some((field, bytes)) = row.oversized_field(MAX_FIELD_BYTES) {
        return Err(RecordDefect::Oversized { field, bytes });
    }
    Ok(row)
}

fn text(value: Option<Str<'_>>) -> Text<'_> {
    value.map(|s| s.0)
}

fn raw(value: Option<&RawValue>) -> Text<'_> {
    value.map(|v| Cow::Borrowed(v.get()))
}

/// Fills the principal columns from `userIdentity`, whatever its type.
fn apply_identity<'a>(row: &mut EventRow<'a>, identity: UserIdentity<'a>) {
    let kind = identity.kind.map(|k| k.0);
    let (issuer_arn, issuer_type, issuer_name, mfa) = match identity.session_context {
        Some(context) => {
            let (arn, kind, name) = match context.session_issuer {
                Some(issuer) => (text(issuer.arn), text(issuer.kind), text(issuer.user_name)),
                None => (None, None, None),
            };
            let mfa = context
                .attributes
                .and_then(|a| a.mfa_authenticated)
                .map(|f| f.0);
            (arn, kind, name, mfa)
        }
        None => (None, None, None, None),
    };
    let arn = text(identity.arn);
    let account = text(identity.account_id);
    let principal_id = text(identity.principal_id);
    let invoked_by = text(identity.invoked_by);
    let user_name = text(identity.user_name);

    let principal: Text<'a> = match kind.as_deref() {
        // A role session is identified by its role: session names change every time.
        Some("AssumedRole") => issuer_arn.clone().or_else(|| arn.clone()),
        Some("AWSService") => invoked_by.clone(),
        Some("AWSAccount") => account.clone().or_else(|| principal_id.clone()),
        Some("IdentityCenterUser") => identity.on_behalf_of.and_then(|who| {
            let user = who.user_id?.0;
            Some(match who.identity_store_arn {
                Some(store) => Cow::Owned(format!("{}/user/{user}", store.0)),
                None => user,
            })
        }),
        Some("SAMLUser" | "WebIdentityUser") => user_name.clone().or_else(|| principal_id.clone()),
        // KMS's own service events (RotateKey, DeleteKey, …) carry no type.
        None => invoked_by.clone().or_else(|| account.clone()),
        Some(_) => arn
            .clone()
            .or_else(|| principal_id.clone())
            .or_else(|| invoked_by.clone()),
    };

    row.principal = principal;
    row.principal_type = kind;
    row.principal_arn = arn;
    row.principal_account = account;
    row.principal_id = principal_id;
    row.principal_name = user_name.or(issuer_name);
    row.access_key_id = text(identity.access_key_id).filter(|k| !k.is_empty());
    row.session_issuer_arn = issuer_arn;
    row.session_issuer_type = issuer_type;
    row.invoked_by = invoked_by;
    row.mfa_authenticated = mfa;
}

/// The first KMS key ARN in `resources[]`. Alias ARNs, which the docs also type as
/// `AWS::KMS::Key`, are skipped; ReEncrypt lists the source key first.
fn key_arn_from_resources(resources: &RawValue) -> Text<'_> {
    let list: Vec<Resource<'_>> = serde_json::from_str(resources.get()).ok()?;
    list.into_iter()
        .filter_map(|r| r.arn)
        .map(|arn| arn.0)
        .find(|arn| is_kms_key_arn(arn))
}

fn is_kms_key_arn(arn: &str) -> bool {
    arn.starts_with("arn:") && arn.split(':').nth(2) == Some("kms") && arn.contains(":key/")
}

/// The account field of an ARN.
fn arn_account(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

/// The ARN partition for a Region.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The KMS request members rules read. Numbers and dates may arrive as text or numbers.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct KmsRequest<'a> {
    #[serde(borrow, default)]
    key_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    encryption_context: Option<&'a RawValue>,
    #[serde(borrow, default)]
    key_spec: Option<Str<'a>>,
    #[serde(borrow, default)]
    customer_master_key_spec: Option<Str<'a>>,
    #[serde(borrow, default)]
    key_usage: Option<Str<'a>>,
    #[serde(borrow, default)]
    origin: Option<Str<'a>>,
    #[serde(borrow, default)]
    valid_to: Option<&'a RawValue>,
    #[serde(borrow, default)]
    rotation_period_in_days: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct KmsAdditionalData<'a> {
    #[serde(borrow, default)]
    key_material_id: Option<Str<'a>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct KmsResponse<'a> {
    #[serde(borrow, default)]
    key_metadata: Option<KeyMetadata<'a>>,
    #[serde(borrow, default)]
    replica_key_metadata: Option<KeyMetadata<'a>>,
    #[serde(borrow, default)]
    deletion_date: Option<&'a RawValue>,
    #[serde(borrow, default)]
    key_id: Option<Str<'a>>,
}

/// `responseElements.keyMetadata` as KMS logs it: camelCase members, the account spelled
/// `aWSAccountId` (or `AWSAccountId` in some examples), Java text dates.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct KeyMetadata<'a> {
    #[serde(borrow, default)]
    arn: Option<Str<'a>>,
    #[serde(
        borrow,
        default,
        rename = "aWSAccountId",
        alias = "AWSAccountId",
        alias = "awsAccountId"
    )]
    aws_account_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    key_spec: Option<Str<'a>>,
    #[serde(borrow, default)]
    customer_master_key_spec: Option<Str<'a>>,
    #[serde(borrow, default)]
    key_usage: Option<Str<'a>>,
    #[serde(borrow, default)]
    origin: Option<Str<'a>>,
    #[serde(borrow, default)]
    key_manager: Option<Str<'a>>,
    #[serde(borrow, default)]
    creation_date: Option<&'a RawValue>,
}

/// Operations whose `responseElements` describe the key (creation, replica, deletion date).
const KEY_DESCRIBING_RESPONSES: &[&str] = &["CreateKey", "ReplicateKey", "ScheduleKeyDeletion"];

/// The raw JSON members of a KMS record that [`apply_kms_fields`] reads.
struct KmsRawJson<'a> {
    request: Option<&'a RawValue>,
    response: Option<&'a RawValue>,
    additional: Option<&'a RawValue>,
}

fn apply_kms_fields<'a>(row: &mut EventRow<'a>, record: &KmsRawJson<'a>) {
    let request: KmsRequest<'a> = record
        .request
        .and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default();
    row.encryption_context = raw(request.encryption_context);
    row.key_spec = text(request.key_spec.or(request.customer_master_key_spec));
    row.key_usage = text(request.key_usage);
    row.key_origin = text(request.origin);
    row.valid_to = request.valid_to.and_then(raw_date);
    row.rotation_period_days = request.rotation_period_in_days.and_then(raw_int);
    let key_ref = text(request.key_id);

    if let Some(data) = record.additional {
        let data: KmsAdditionalData<'a> = serde_json::from_str(data.get()).unwrap_or_default();
        row.key_material_id = text(data.key_material_id);
    }

    if KEY_DESCRIBING_RESPONSES.contains(&row.event_name.as_ref()) {
        let response: KmsResponse<'a> = record
            .response
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .unwrap_or_default();
        row.deletion_date = response.deletion_date.and_then(raw_date);
        if let Some(meta) = response.replica_key_metadata.or(response.key_metadata) {
            if row.key_arn.is_none() {
                row.key_arn = text(meta.arn).filter(|a| is_kms_key_arn(a));
            }
            row.key_account = text(meta.aws_account_id);
            row.key_spec =
                text(meta.key_spec.or(meta.customer_master_key_spec)).or(row.key_spec.take());
            row.key_usage = text(meta.key_usage).or(row.key_usage.take());
            row.key_origin = text(meta.origin).or(row.key_origin.take());
            row.key_manager = text(meta.key_manager);
            row.key_created_at = meta.creation_date.and_then(raw_date);
        }
        if row.key_arn.is_none() {
            row.key_arn = text(response.key_id).filter(|a| is_kms_key_arn(a));
        }
    }

    if row.key_arn.is_none() {
        row.key_arn = key_ref.as_deref().and_then(|key| resolve_key_ref(key, row));
    }
    row.key_ref = key_ref;
}

/// A key ARN for a `keyId` as sent: a key ARN as is, a bare key id in the caller's account and
/// Region. Alias names and alias ARNs cannot be resolved from one record.
fn resolve_key_ref<'a>(key: &str, row: &EventRow<'_>) -> Text<'a> {
    if key.starts_with("arn:") {
        return is_kms_key_arn(key).then(|| Cow::Owned(key.to_owned()));
    }
    if key.starts_with("alias/") {
        return None;
    }
    let region = row.aws_region.as_deref()?;
    let account = row
        .recipient_account_id
        .as_deref()
        .or(row.principal_account.as_deref())?;
    Some(Cow::Owned(format!(
        "arn:{}:kms:{region}:{account}:key/{key}",
        partition_of(region)
    )))
}

/// A date given as JSON text in any AWS format, or as epoch seconds.
fn raw_date(value: &RawValue) -> Option<i64> {
    let json: serde_json::Value = serde_json::from_str(value.get()).ok()?;
    let date = match &json {
        serde_json::Value::String(s) => parse_aws_date(s),
        serde_json::Value::Number(n) => parse_aws_date(&n.to_string()),
        _ => None,
    };
    date.map(|d: DateTime<Utc>| d.timestamp_micros())
}

/// An integer given as a JSON number or text.
fn raw_int(value: &RawValue) -> Option<i32> {
    let json: serde_json::Value = serde_json::from_str(value.get()).ok()?;
    match &json {
        serde_json::Value::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::record::DeliveryFile;

    const EXAMPLES: &str = include_str!("../../tests/fixtures/aws-examples/kms-doc-examples.json");

    fn example(index: usize) -> EventRow<'static> {
        let file: DeliveryFile<'static> = serde_json::from_str(EXAMPLES).expect("fixture parses");
        let record = file.records.into_iter().nth(index).expect("fixture record");
        normalize(
            record,
            "examples.json",
            u32::try_from(index).expect("index"),
        )
        .expect("normalizes")
    }

    fn row(json: &'static str) -> Result<EventRow<'static>, RecordDefect> {
        normalize(
            serde_json::from_str(json).expect("record parses"),
            "inline.json",
            0,
        )
    }

    fn micros(text: &str) -> i64 {
        parse_aws_date(text).expect("date").timestamp_micros()
    }

    fn s<'a>(t: &'a Text<'_>) -> Option<&'a str> {
        t.as_deref()
    }

    #[test]
    fn every_published_example_normalizes() {
        let file: DeliveryFile = serde_json::from_str(EXAMPLES).expect("fixture parses");
        let count = file.records.len();
        assert_eq!(count, 49);
        for (i, record) in file.records.into_iter().enumerate() {
            let name = record.event_name.clone();
            let row =
                normalize(record, "examples.json", 0).unwrap_or_else(|e| panic!("record {i}: {e}"));
            assert_eq!(
                Some(row.event_name.as_ref()),
                name.as_ref().map(Str::as_str)
            );
            assert!(
                row.principal.is_some(),
                "record {i} ({}) has a principal",
                row.event_name
            );
        }
    }

    #[test]
    fn create_key_reads_key_metadata_with_java_dates_and_both_account_spellings() {
        let row = example(7);
        assert_eq!(row.event_name, "CreateKey");
        assert_eq!(
            s(&row.key_arn),
            Some("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        );
        assert_eq!(s(&row.key_account), Some("111122223333"));
        assert_eq!(row.key_created_at, Some(micros("2022-08-10T22:38:27Z")));
        assert_eq!(s(&row.key_spec), Some("SYMMETRIC_DEFAULT"));
        assert_eq!(s(&row.key_usage), Some("ENCRYPT_DECRYPT"));
        assert_eq!(s(&row.key_origin), Some("EXTERNAL"));
        assert_eq!(s(&row.key_manager), Some("CUSTOMER"));
        assert_eq!(row.read_only, Some(false));
        assert_eq!(row.management_event, Some(true));

        // The lower-case spelling KMS uses in most examples; no resources to fall back on.
        let row = row_without_resources_create_key();
        assert_eq!(s(&row.key_account), Some("444455556666"));
        assert_eq!(
            s(&row.key_arn),
            Some("arn:aws:kms:us-east-1:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab")
        );
    }

    fn row_without_resources_create_key() -> EventRow<'static> {
        row(r#"{"eventTime":"2025-01-02T03:04:05Z","eventSource":"kms.amazonaws.com","eventName":"CreateKey","awsRegion":"us-east-1",
            "userIdentity":{"type":"Root","principalId":"444455556666","arn":"arn:aws:iam::444455556666:root","accountId":"444455556666"},
            "responseElements":{"keyMetadata":{"aWSAccountId":"444455556666","arn":"arn:aws:kms:us-east-1:444455556666:key/mrk-1234abcd12ab34cd56ef1234567890ab","creationDate":"Jan 2, 2025, 3:04:05 AM","keySpec":"RSA_2048","keyUsage":"SIGN_VERIFY"}}}"#)
        .expect("normalizes")
    }

    #[test]
    fn reencrypt_acts_on_the_source_key() {
        let row = example(6);
        assert_eq!(
            s(&row.key_arn),
            Some("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        );
    }

    #[test]
    fn alias_arns_in_resources_are_not_the_key() {
        let row = example(10);
        assert_eq!(row.event_name, "CreateAlias");
        assert_eq!(
            s(&row.key_arn),
            Some("arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        );
    }

    #[test]
    fn service_events_without_a_type() {
        let row = example(13);
        assert_eq!(row.event_name, "RotateKey");
        assert_eq!(row.principal_type, None);
        assert_eq!(s(&row.principal), Some("AWS Internal"));
        assert_eq!(s(&row.invoked_by), Some("AWS Internal"));
        assert_eq!(s(&row.principal_account), Some("111122223333"));
        assert_eq!(s(&row.event_type), Some("AwsServiceEvent"));
        assert_eq!(row.request_id, None);
    }

    #[test]
    fn dates_inside_request_and_response() {
        let scheduled = example(14);
        assert_eq!(
            scheduled.deletion_date,
            Some(micros("2021-04-12T18:58:30Z"))
        );
        assert_eq!(
            s(&scheduled.key_ref),
            Some("1234abcd-12ab-34cd-56ef-1234567890ab")
        );
        let imported = example(26);
        assert_eq!(imported.valid_to, Some(micros("2021-01-01T20:00:00Z")));
        let rotation = example(41);
        assert_eq!(rotation.rotation_period_days, Some(180));
    }

    #[test]
    fn real_2025_decrypt_via_lambda() {
        let row = example(42);
        assert_eq!(s(&row.principal_type), Some("AssumedRole"));
        assert_eq!(
            s(&row.principal),
            Some("arn:aws:iam::830834166987:role/AWSLabsController")
        );
        assert_eq!(
            s(&row.principal_arn),
            Some(
                "arn:aws:sts::830834166987:assumed-role/AWSLabsController/AVS-AsyncResourceMonitor"
            )
        );
        assert_eq!(s(&row.session_issuer_type), Some("Role"));
        assert_eq!(s(&row.principal_name), Some("AWSLabsController"));
        assert_eq!(s(&row.invoked_by), Some("lambda.amazonaws.com"));
        assert_eq!(row.mfa_authenticated, Some(false));
        assert_eq!(
            s(&row.key_material_id),
            Some("249ff1560efc7b313c30919fb4f95b43831f4dddb51134f69816742654cf2919")
        );
        assert!(s(&row.encryption_context).is_some_and(|c| c.contains("aws:lambda:FunctionArn")));
        assert_eq!(row.key_ref, None, "Lambda sends no keyId");
        assert_eq!(
            s(&row.key_arn),
            Some("arn:aws:kms:us-east-1:830834166987:key/69ba0c3d-57aa-4fe5-8318-b2a40e1366b6")
        );
    }

    const BASE: &str = r#""eventTime":"2026-01-02T03:04:05Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","awsRegion":"eu-west-1","recipientAccountId":"111122223333""#;

    fn with_identity(identity: &str) -> EventRow<'static> {
        let json: &'static str =
            Box::leak(format!("{{{BASE},\"userIdentity\":{identity}}}").into_boxed_str());
        row(json).expect("normalizes")
    }

    #[test]
    fn principal_for_every_identity_type() {
        let cases: [(&str, &str); 8] = [
            (r#"{"type":"IAMUser","principalId":"AIDA","arn":"arn:aws:iam::111122223333:user/Alice","accountId":"111122223333","accessKeyId":"","userName":"Alice"}"#, "arn:aws:iam::111122223333:user/Alice"),
            (r#"{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","sessionContext":{"attributes":{"mfaAuthenticated":"true","creationDate":"2016-02-20T01:05:59Z"}}}"#, "arn:aws:iam::111122223333:root"),
            (r#"{"type":"FederatedUser","principalId":"111122223333:bob","arn":"arn:aws:sts::111122223333:federated-user/bob","accountId":"111122223333","sessionContext":{"sessionIssuer":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/fed","userName":"fed"}}}"#, "arn:aws:sts::111122223333:federated-user/bob"),
            (r#"{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"}"#, "cloudtrail.amazonaws.com"),
            (r#"{"type":"AWSAccount","principalId":"AIDAJ45Q7YFFAREXAMPLE","accountId":"444455556666"}"#, "444455556666"),
            (r#"{"type":"IdentityCenterUser","accountId":"111122223333","onBehalfOf":{"userId":"544894e8-80c1-707f","identityStoreArn":"arn:aws:identitystore::111122223333:identitystore/d-1234567890"},"credentialId":"EXAMPLE"}"#, "arn:aws:identitystore::111122223333:identitystore/d-1234567890/user/544894e8-80c1-707f"),
            (r#"{"type":"WebIdentityUser","principalId":"accounts.google.com:1234","userName":"1234","identityProvider":"accounts.google.com"}"#, "1234"),
            (r#"{"accountId":"111122223333","invokedBy":"kms.amazonaws.com"}"#, "kms.amazonaws.com"),
        ];
        for (identity, expected) in cases {
            let row = with_identity(identity);
            assert_eq!(s(&row.principal), Some(expected), "{identity}");
        }
        let root = with_identity(cases[1].0);
        assert_eq!(
            root.mfa_authenticated,
            Some(true),
            "string \"true\" is true"
        );
        let user = with_identity(cases[0].0);
        assert_eq!(user.access_key_id, None, "empty access key id is absent");
        let federated = with_identity(cases[2].0);
        assert_eq!(s(&federated.session_issuer_type), Some("IAMUser"));
        assert_eq!(s(&federated.principal_name), Some("fed"));
    }

    #[test]
    fn key_ref_resolution() {
        let bare = row(Box::leak(format!("{{{BASE},\"requestParameters\":{{\"keyId\":\"1234abcd-12ab-34cd-56ef-1234567890ab\"}}}}").into_boxed_str())).expect("row");
        assert_eq!(
            s(&bare.key_arn),
            Some("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")
        );
        let alias = row(Box::leak(
            format!("{{{BASE},\"requestParameters\":{{\"keyId\":\"alias/app\"}}}}")
                .into_boxed_str(),
        ))
        .expect("row");
        assert_eq!(alias.key_arn, None);
        assert_eq!(s(&alias.key_ref), Some("alias/app"));
        let china = row(r#"{"eventTime":"2026-01-02T03:04:05Z","eventSource":"kms.amazonaws.com","eventName":"Encrypt","awsRegion":"cn-north-1","recipientAccountId":"111122223333","requestParameters":{"keyId":"k1"}}"#).expect("row");
        assert_eq!(
            s(&china.key_arn),
            Some("arn:aws-cn:kms:cn-north-1:111122223333:key/k1")
        );
        let cross = row(r#"{"eventTime":"2026-01-02T03:04:05Z","eventSource":"kms.amazonaws.com","eventName":"Encrypt","awsRegion":"us-east-1","recipientAccountId":"111122223333","requestParameters":{"keyId":"arn:aws:kms:us-east-1:999988887777:key/k2"}}"#).expect("row");
        assert_eq!(s(&cross.key_account), Some("999988887777"));
    }

    #[test]
    fn string_booleans_and_console_sessions() {
        let r = row(r#"{"eventTime":"2026-01-02T03:04:05Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","readOnly":"true","managementEvent":"false","sessionCredentialFromConsole":"true"}"#).expect("row");
        assert_eq!(
            (r.read_only, r.management_event, r.console_session),
            (Some(true), Some(false), Some(true))
        );
        assert_eq!(r.key_arn, None, "non-KMS events are kept, with no key");
    }

    #[test]
    fn defects() {
        assert_eq!(row(r#"{"name":"pkg"}"#), Err(RecordDefect::NotCloudTrail));
        assert_eq!(
            row(r#"{"eventName":"Decrypt","eventSource":"kms.amazonaws.com"}"#),
            Err(RecordDefect::Missing("eventTime"))
        );
        assert_eq!(
            row(r#"{"eventTime":"2026-01-02T03:04:05Z","eventName":"Decrypt"}"#),
            Err(RecordDefect::Missing("eventSource"))
        );
        assert_eq!(
            row(r#"{"eventTime":"soon","eventName":"Decrypt","eventSource":"kms.amazonaws.com"}"#),
            Err(RecordDefect::BadTime("soon".into()))
        );
        let huge = format!(
            "{{{BASE},\"userAgent\":\"{}\"}}",
            "a".repeat(MAX_FIELD_BYTES + 1)
        );
        let huge: &'static str = Box::leak(huge.into_boxed_str());
        assert_eq!(
            row(huge),
            Err(RecordDefect::Oversized {
                field: "user_agent",
                bytes: MAX_FIELD_BYTES + 1
            })
        );
        assert!(RecordDefect::Oversized {
            field: "user_agent",
            bytes: 2 << 20
        }
        .to_string()
        .contains("2.0 MiB"));
    }

    #[test]
    fn partition_keys_are_safe_directory_names() {
        let r = with_identity(r#"{"type":"AWSService","invokedBy":"x"}"#);
        let key = PartitionKey::of(&r);
        assert_eq!(
            key.relative_dir(),
            "account=111122223333/region=eu-west-1/date=2026-01-02"
        );
        let odd = row(r#"{"eventTime":"2026-01-02T03:04:05Z","eventSource":"a","eventName":"b","awsRegion":"../x"}"#).expect("row");
        assert_eq!(
            PartitionKey::of(&odd).relative_dir(),
            "account=unknown/region=___x/date=2026-01-02"
        );
    }
}
